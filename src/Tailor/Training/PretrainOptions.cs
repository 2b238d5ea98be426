using System.ComponentModel;

using Tailor.Torch;

namespace Tailor.Training;

/// <summary>
/// Every knob of the Pretrain recipe with its default and the reason for it. A recipe file lists only what differs;
/// <c>--key value</c> overrides win over the file. The whole record is printed at start and saved beside each checkpoint.
/// </summary>
public sealed record PretrainOptions
{
    /// <summary>Corpus folder.</summary>
    [Description("folder with train.jsonl and valid.jsonl of {\"source\",\"text\"} documents (the committed subset trains the shipped small model)")]
    public string Data { get; set; } = "data/pretrain/subset";

    /// <summary>Tokenizer path.</summary>
    [Description("tokenizer.json (or a folder holding one); null trains a byte-level BPE on the training split")]
    public string? Tokenizer { get; set; }

    /// <summary>Vocabulary for a newly trained tokenizer.</summary>
    [Description("vocabulary of a newly trained tokenizer: 8k keeps the embedding small next to a ~6M-17M model")]
    public int VocabSize { get; set; } = 8192;

    /// <summary>Model shape preset.</summary>
    [Description("model shape: tiny (<1M, tests), small (~6M), base (~17M); not used with init_from")]
    public string Preset { get; set; } = "small";

    /// <summary>Starting weights for continued pre-training.</summary>
    [Description("continued pre-training: start from this Llama/Qwen2 model folder's weights, shape and tokenizer instead of a fresh preset model (the optimizer and the schedule start afresh: warm up again, then decay, as Ibrahim et al. 2024 continue pre-training); null = from scratch")]
    public string? InitFrom { get; set; }

    /// <summary>Output folder.</summary>
    [Description("run folder: checkpoint/, final/, metrics.jsonl, TensorBoard events, recipe.json")]
    public string Output { get; set; } = "runs/pretrain-small";

    /// <summary>Sequences per micro-batch.</summary>
    [Description("sequences per micro-batch (per rank under mpirun): 16 x 256 tokens keeps the matmuls large enough for the CPU's peak")]
    public int Batch { get; set; } = 16;

    /// <summary>Tokens per sequence.</summary>
    [Description("tokens per training window; 256 covers a paragraph, attention cost stays small next to the MLP")]
    public int Sequence { get; set; } = 256;

    /// <summary>Micro-batches per optimizer step.</summary>
    [Description("micro-batches per optimizer step (effective batch = batch x grad_accum)")]
    public int GradAccum { get; set; } = 1;

    /// <summary>Optimizer steps.</summary>
    [Description("optimizer steps; 2000 x 4096 tokens ~ 8M tokens, a few epochs of the committed subset")]
    public long MaxSteps { get; set; } = 2000;

    /// <summary>Warm-up steps.</summary>
    [Description("linear warm-up steps: AdamW's second moments need ~100 steps before full-size updates are safe")]
    public long WarmupSteps { get; set; } = 100;

    /// <summary>
    /// AdamW. Peak 1e-3: small models tolerate it (nanoGPT's shakespeare-char trains 10M parameters at 1e-3); weight
    /// decay 0.1 on matrices, as GPT-3 and Llama pre-train.
    /// </summary>
    [OptionGroup]
    public OptimizerOptions Optimizer { get; set; } = new() { LearningRate = 1e-3, WeightDecay = 0.1 };

    /// <summary>Final learning rate.</summary>
    [Description("learning rate at the end of the decay, lr/10 as in Chinchilla and nanoGPT")]
    public double MinLearningRate { get; set; } = 1e-4;

    /// <summary>Learning-rate schedule after the warm-up.</summary>
    [Description("cosine: decay to min_learning_rate at max_steps; wsd: constant, then linear decay over the last decay_steps, so a run of unknown length can be ended sooner by lowering max_steps on --resume")]
    public LrSchedule Schedule { get; set; } = LrSchedule.Cosine;

    /// <summary>Length of the final decay of the wsd schedule.</summary>
    [Description("wsd: steps of the final linear decay; null = a fifth of max_steps (Hägele et al. 2024: a 10-20% cool-down matches cosine)")]
    public long? DecaySteps { get; set; }

    /// <summary>Steps between progress/metrics lines.</summary>
    [Description("steps between loss read-backs (the only host sync) and metrics lines")]
    public int LogInterval { get; set; } = 10;

    /// <summary>Steps between validation runs.</summary>
    [Description("steps between validation loss/perplexity measurements")]
    public int EvalInterval { get; set; } = 200;

    /// <summary>Per-source validation at every measurement.</summary>
    [Description("also measure each source's validation loss (val_loss.<source>) at every eval_interval, not only at the end: one more pass of eval_windows per source")]
    public bool EvalBySource { get; set; }

    /// <summary>Validation windows.</summary>
    [Description("validation windows per measurement, evenly spaced over valid.jsonl, so every measurement sees the same tokens")]
    public int EvalWindows { get; set; } = 48;

    /// <summary>Steps between checkpoints.</summary>
    [Description("steps between atomic checkpoints (also written on Ctrl-C and at the end)")]
    public int CheckpointInterval { get; set; } = 250;

    /// <summary>Random seed.</summary>
    [Description("seed of the initial weights and of every batch's windows (batch n depends on seed and n only, so resume is exact)")]
    public long Seed { get; set; } = 1337;

    /// <summary>Continue from the run folder's checkpoint.</summary>
    [Description("continue from output/checkpoint with the same data order and loss sequence as an uninterrupted run")]
    public bool Resume { get; set; }

    /// <summary>The CPU speed options (precision, MKL's AVX-512 kernels, malloc tuning).</summary>
    [OptionGroup]
    public CpuSpeedOptions Speed { get; set; } = new();

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>The learning rate of <paramref name="step"/> (counted from 0) under these options' schedule.</summary>
    public double LearningRateAt(long step) => Schedule == LrSchedule.Wsd
        ? Optimizers.WarmupStableDecay(step, WarmupSteps, MaxSteps, DecaySteps ?? Math.Max(1, MaxSteps / 5), Optimizer.LearningRate, MinLearningRate)
        : Optimizers.CosineWithWarmup(step, WarmupSteps, MaxSteps, Optimizer.LearningRate, MinLearningRate);

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        void Positive(long v, string key)
        {
            if (v <= 0) throw new TailorException($"{key} = {v}: must be positive.");
        }
        Runtime.Validate();
        Optimizer.Validate();
        Optimizer.ValidateSchedule(MinLearningRate, WarmupSteps);
        Positive(Batch, "batch");
        Positive(Sequence, "sequence");
        Positive(GradAccum, "grad_accum");
        Positive(MaxSteps, "max_steps");
        Positive(LogInterval, "log_interval");
        Positive(EvalInterval, "eval_interval");
        Positive(EvalWindows, "eval_windows");
        Positive(CheckpointInterval, "checkpoint_interval");
        Positive(VocabSize, "vocab_size");
        if (Schedule is not (LrSchedule.Cosine or LrSchedule.Wsd)) throw new TailorException($"schedule = {RecipeOptions.Name(Schedule)}: use cosine or wsd.");
        _ = Model.LlamaConfig.Preset(Preset, VocabSize);
        if (InitFrom is not null && Tokenizer is not null)
            throw new TailorException("give either init_from (continued pre-training uses that model's own tokenizer) or tokenizer, not both.");
        if (DecaySteps is { } d && (d <= 0 || d > MaxSteps - WarmupSteps))
            throw new TailorException($"decay_steps = {d}: must be positive and at most max_steps - warmup_steps = {MaxSteps - WarmupSteps}.");
    }
}

/// <summary>The learning-rate schedule after the linear warm-up.</summary>
public enum LrSchedule
{
    /// <summary>Cosine decay from the peak to the minimum at the last step.</summary>
    Cosine,

    /// <summary>Warmup-stable-decay: the peak until the last decay steps, then a linear decay to the minimum.</summary>
    Wsd,

    /// <summary>Linear decay from the peak to zero after the warm-up (BERT's fine-tuning schedule).</summary>
    Linear,
}
