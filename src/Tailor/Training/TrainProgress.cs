namespace Tailor.Training;

/// <summary>A progress report from a training loop: a step line (Loss set) or a message line (Message set).</summary>
public sealed record TrainProgress(long Step, long TotalSteps, double? Loss, double LearningRate, double TokensPerSecond,
    TimeSpan Elapsed, TimeSpan Eta, double? ValidationLoss, string? Message);

