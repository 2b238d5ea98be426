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
    [Description("model shape: tiny (<1M, tests), small (~6M), base (~17M)")]
    public string Preset { get; set; } = "small";

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

    /// <summary>Peak learning rate.</summary>
    [Description("peak learning rate; small models tolerate 1e-3 (nanoGPT's shakespeare-char uses 1e-3 at 10M params)")]
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>Final learning rate.</summary>
    [Description("learning rate at the end of the cosine decay, lr/10 as in Chinchilla and nanoGPT")]
    public double MinLearningRate { get; set; } = 1e-4;

    /// <summary>Learning-rate schedule after the warm-up.</summary>
    [Description("cosine: decay to min_learning_rate at max_steps; wsd: constant, then linear decay over the last decay_steps, so a run of unknown length can be ended sooner by lowering max_steps on --resume")]
    public string Schedule { get; set; } = "cosine";

    /// <summary>Length of the final decay of the wsd schedule.</summary>
    [Description("wsd: steps of the final linear decay; null = a fifth of max_steps (Hägele et al. 2024: a 10-20% cool-down matches cosine)")]
    public long? DecaySteps { get; set; }

    /// <summary>Decoupled weight decay on matrices.</summary>
    [Description("AdamW weight decay on matrices only (norms and biases never decay)")]
    public double WeightDecay { get; set; } = 0.1;

    /// <summary>Adam β1.</summary>
    [Description("Adam beta1")]
    public double Beta1 { get; set; } = 0.9;

    /// <summary>Adam β2.</summary>
    [Description("Adam beta2: 0.95 rather than 0.999 reacts faster to loss spikes (GPT-3, Llama)")]
    public double Beta2 { get; set; } = 0.95;

    /// <summary>Gradient norm clip.</summary>
    [Description("clip the global gradient norm to this (0 = off); 1.0 as in Llama")]
    public double GradClip { get; set; } = 1.0;

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

    /// <summary>Numeric precision.</summary>
    [Description("auto, fp32 or bf16 autocast (matmuls in bfloat16; weights, optimizer, loss stay fp32). auto = bf16 where the CPU computes bf16 natively (AVX-512 BF16, AMX: 1.4x fp32 steps on a Zen 5, measured side by side), fp32 elsewhere (emulated bf16 is far slower)")]
    public string Precision { get; set; } = "auto";

    /// <summary>Let MKL take its AVX-512 kernels on AMD CPUs.</summary>
    [Description("auto, true or false: make libtorch's bundled oneMKL use its AVX-512 kernels on AMD CPUs (it picks AVX2 on non-Intel CPUs; 1.4-2.3x fp32 steps here) by patching an undocumented MKL internal in memory. auto = wherever the CPU has AVX-512 and the patch verifies itself, else one line and MKL's own choice; true = an error if it cannot. Losses match the plain path (tested)")]
    public string MklAvx512 { get; set; } = "auto";

    /// <summary>Keep large blocks in glibc's heap.</summary>
    [Description("auto, true or false: stop glibc's mmap/munmap of every large tensor each step (mallopt M_MMAP_MAX 0, no trimming); +5-8% steps here, freed memory stays in the process. auto = on wherever glibc is the C library")]
    public string MallocTuning { get; set; } = "auto";

    /// <summary>Device.</summary>
    [Description("cpu, or cuda where TorchSharp's CUDA package is installed")]
    public string Device { get; set; } = "cpu";

    /// <summary>Threads.</summary>
    [Description("intra-op threads, at most 4 per core; null = libtorch's default (all cores)")]
    public int? Threads { get; set; }

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        void Positive(long v, string key)
        {
            if (v <= 0) throw new TailorException($"{key} = {v}: must be positive.");
        }
        Positive(Batch, "batch");
        Tailor.Torch.TorchRuntime.CheckThreads(Threads);
        Positive(Sequence, "sequence");
        Positive(GradAccum, "grad_accum");
        Positive(MaxSteps, "max_steps");
        Positive(LogInterval, "log_interval");
        Positive(EvalInterval, "eval_interval");
        Positive(EvalWindows, "eval_windows");
        Positive(CheckpointInterval, "checkpoint_interval");
        Positive(VocabSize, "vocab_size");
        if (WarmupSteps < 0) throw new TailorException($"warmup_steps = {WarmupSteps}: must be 0 or more.");
        if (!(LearningRate > 0)) throw new TailorException($"learning_rate = {LearningRate}: must be positive.");
        if (MinLearningRate < 0 || MinLearningRate > LearningRate)
            throw new TailorException($"min_learning_rate = {MinLearningRate}: must be between 0 and learning_rate.");
        if (WeightDecay < 0) throw new TailorException($"weight_decay = {WeightDecay}: must be 0 or more.");
        if (GradClip < 0) throw new TailorException($"grad_clip = {GradClip}: must be 0 (off) or positive.");
        if (Schedule is not ("cosine" or "wsd")) throw new TailorException($"schedule = {Schedule}: use cosine or wsd.");
        if (DecaySteps is { } d && (d <= 0 || d > MaxSteps - WarmupSteps))
            throw new TailorException($"decay_steps = {d}: must be positive and at most max_steps - warmup_steps = {MaxSteps - WarmupSteps}.");
        if (!CpuTuning.PrecisionValues.Contains(Precision)) throw new TailorException($"precision = {Precision}: use auto, fp32 or bf16.");
        if (!CpuTuning.SwitchValues.Contains(MklAvx512)) throw new TailorException($"mkl_avx512 = {MklAvx512}: use auto, true or false.");
        if (!CpuTuning.SwitchValues.Contains(MallocTuning)) throw new TailorException($"malloc_tuning = {MallocTuning}: use auto, true or false.");
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1) throw new TailorException("beta1 and beta2 must be in [0, 1).");
    }
}
