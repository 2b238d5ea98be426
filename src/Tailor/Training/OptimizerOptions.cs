using System.ComponentModel;

namespace Tailor.Training;

/// <summary>
/// AdamW, as every training recipe runs it (<see cref="Optimizers.AdamW"/>: two parameter groups, matrices decayed,
/// norms and biases not): the peak learning rate, decoupled weight decay, the betas and the gradient clip. The values
/// that differ by recipe (learning rate, weight decay) are required: each recipe's options record sets them, with its
/// reason, in the one place it holds its group. The learning-rate schedule stays with the recipe (pre-training's wsd,
/// tuning's cosine, the encoder's warm-up ratio).
/// </summary>
public sealed record OptimizerOptions
{
    /// <summary>Peak learning rate.</summary>
    [Description("peak learning rate, reached after the warm-up")]
    public required double LearningRate { get; init; }

    /// <summary>Decoupled weight decay.</summary>
    [Description("AdamW weight decay on matrices only (norms and biases never decay)")]
    public required double WeightDecay { get; init; }

    /// <summary>Adam β1.</summary>
    [Description("Adam beta1")]
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Adam β2.</summary>
    [Description("Adam beta2: 0.95 rather than 0.999 reacts faster to loss spikes (GPT-3, Llama); BERT-style fine-tuning keeps 0.999")]
    public double Beta2 { get; init; } = 0.95;

    /// <summary>Gradient-norm clip.</summary>
    [Description("clip the global gradient norm to this (0 = off); 1.0 as in Llama and HF's Trainer")]
    public double GradClip { get; init; } = 1.0;

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0)) throw new TailorException($"learning_rate = {LearningRate}: must be positive.");
        if (WeightDecay < 0) throw new TailorException($"weight_decay = {WeightDecay}: must be 0 or more.");
        if (Beta1 is < 0 or >= 1) throw new TailorException($"beta1 = {Beta1}: must be in [0, 1).");
        if (Beta2 is < 0 or >= 1) throw new TailorException($"beta2 = {Beta2}: must be in [0, 1).");
        if (GradClip < 0) throw new TailorException($"grad_clip = {GradClip}: must be 0 (off) or positive.");
    }

    /// <summary>Throws unless <paramref name="minLearningRate"/> lies between 0 and the peak and the warm-up is not negative.</summary>
    public void ValidateSchedule(double minLearningRate, long warmupSteps)
    {
        if (minLearningRate < 0 || minLearningRate > LearningRate)
            throw new TailorException($"min_learning_rate = {minLearningRate}: must be between 0 and learning_rate ({LearningRate}).");
        if (warmupSteps < 0) throw new TailorException($"warmup_steps = {warmupSteps}: must be 0 or more.");
    }
}
