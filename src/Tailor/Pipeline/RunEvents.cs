using Tailor.Training;

namespace Tailor.Pipeline;

/// <summary>What the main job reports while it runs.</summary>
public sealed class RunEvents
{
    /// <summary>A stage starts: its 1-based number, the stage count, name and a description.</summary>
    public Action<int, int, string, string>? StageStarted { get; init; }

    /// <summary>A stage ended: name, wall time, whether it was skipped (inputs unchanged).</summary>
    public Action<string, TimeSpan, bool>? StageFinished { get; init; }

    /// <summary>Training progress of the current stage.</summary>
    public Action<TrainProgress>? Train { get; init; }

    /// <summary>Evaluation progress of the current stage: what, done, total, elapsed.</summary>
    public Action<string, int, int, TimeSpan>? Items { get; init; }

    /// <summary>A line of text.</summary>
    public Action<string>? Say { get; init; }
}

/// <summary>One stage's record in the run manifest.</summary>
/// <param name="Name">Stage name (also its folder).</param>
/// <param name="Kind">bases, train, eval or report.</param>
/// <param name="Fingerprint">sha256 of the stage's options, inputs and code version.</param>
/// <param name="Seconds">Wall time (0 when skipped).</param>
/// <param name="Skipped">Whether it was skipped because nothing changed.</param>
public sealed record StageRecord(string Name, string Kind, string Fingerprint, double Seconds, bool Skipped);

/// <summary>What the main job produced.</summary>
/// <param name="Folder">The run folder.</param>
/// <param name="Stages">Stages in order.</param>
/// <param name="Evaluations">Evaluation folders by model name.</param>
/// <param name="Roles">Role of each evaluated model (base, base-kshot, finetuned, instruct, instruct-vague, baseline, encoder-finetuned) and its base.</param>
/// <param name="MainTable">The main table in Markdown.</param>
/// <param name="Report">The report folder (report.md, report.html, results.json).</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record RunResult(string Folder, IReadOnlyList<StageRecord> Stages, IReadOnlyDictionary<string, string> Evaluations,
    IReadOnlyDictionary<string, (string Role, string Base)> Roles, string MainTable, string Report, TimeSpan Elapsed);
