using System.ComponentModel;

using Tailor.Torch;

namespace Tailor.Training;

/// <summary>
/// Every knob of the two tuning recipes — <c>tailor finetune</c> (one task, no instruction, plain format) and
/// <c>tailor instruct</c> (a mixture of tasks phrased with instruction templates, ChatML) — with its default and the
/// reason for it. Fields that only one recipe reads say so. A recipe file lists only what differs; <c>--key value</c>
/// overrides win. The whole record is printed at start and saved beside every checkpoint and the final model.
/// </summary>
public sealed record TuneOptions
{
    /// <summary>Base model folder.</summary>
    [Description("base model: a Hugging Face Llama/Qwen2 or GPT-2 folder (the shipped models/tailor-base-small trains in minutes on a laptop CPU)")]
    public string Model { get; set; } = "models/tailor-base-small";

    /// <summary>Output folder.</summary>
    [Description("run folder: checkpoint/, final/ (full model) and/or adapter/ (LoRA), metrics.jsonl, TensorBoard events, recipe.json")]
    public string Output { get; set; } = "runs/tune";

    /// <summary>Task of a fine-tune.</summary>
    [Description("finetune only: the task(s) trained without instructions (sentiment, summarization, translation-en-de, translation-en-fr; comma-separated for one model on several, mixed as instruct mixes them); null when --data is given")]
    public string? Task { get; set; } = "sentiment";

    /// <summary>Tasks of the instruction mixture.</summary>
    [Description("instruct only: comma-separated tasks of the mixture, each with data/tasks/TASK.train.jsonl and data/templates/TASK.json")]
    public string Tasks { get; set; } = "sentiment,summarization,translation-en-de,translation-en-fr";

    /// <summary>Extra user data.</summary>
    [Description("comma-separated files of your own, UTF-8: JSONL or one JSON array (Alpaca instruction/input/output as alpaca_data.json ships, chat messages, ShareGPT) or raw text, format detected per file; in instruct each file is one more mixture component")]
    public string? Data { get; set; }

    /// <summary>Skip malformed user-data lines.</summary>
    [Description("skip malformed lines of --data files (counted and reported) instead of stopping at the first")]
    public bool SkipBad { get; set; }

    /// <summary>Task data folder.</summary>
    [Description("folder of the task splits TASK.{train,dev}.jsonl (schemas in docs/data.md)")]
    public string TaskData { get; set; } = "data/tasks";

    /// <summary>Template folder.</summary>
    [Description("instruct only: folder of the FLAN-style templates TASK.json")]
    public string Templates { get; set; } = "data/templates";

    /// <summary>Template pool used for training.</summary>
    [Description("instruct only: train (9 clear phrasings per task) or vague ('Do something with this text', for the instruction-quality ablation); the eval pool is never trained on")]
    public string Pool { get; set; } = "train";

    /// <summary>Mixture size cap.</summary>
    [Description("instruct and multi-task finetune: examples-proportional mixing cap K (T5/FLAN): a task counts as at most K examples, so big translation sets do not drown sentiment")]
    public int MixtureCap { get; set; } = 3000;

    /// <summary>Training examples to draw.</summary>
    [Description("examples drawn for training (instruct: from the capped mixture; finetune: a seeded sample of the split, all of it when larger); steps cycle over them")]
    public int Examples { get; set; } = 10000;

    /// <summary>Maximum tokens per training example / packed row.</summary>
    [Description("tokens per packed row and the longest example kept; 512 fits 99% of the task examples whole")]
    public int Sequence { get; set; } = 512;

    /// <summary>Truncation policy.</summary>
    [Description("longer examples: truncate_prompt_left (keep the response whole, cut the prompt's start) or drop")]
    public string Truncation { get; set; } = "truncate_prompt_left";

    /// <summary>Pack several examples per row.</summary>
    [Description("pack several examples per row with a block-diagonal attention mask and restarted positions (no leakage between them); false pads one example per row")]
    public bool Packing { get; set; } = true;

    /// <summary>Rows per micro-batch.</summary>
    [Description("rows per micro-batch (per rank under mpirun): 8 x 512 tokens = 4096, the size the pre-training loop runs at its peak")]
    public int Batch { get; set; } = 8;

    /// <summary>Micro-batches per optimizer step.</summary>
    [Description("micro-batches per optimizer step (effective batch = batch x grad_accum); the loss is normalised by the step's trained tokens")]
    public int GradAccum { get; set; } = 1;

    /// <summary>Optimizer steps.</summary>
    [Description("optimizer steps; 250 x 4096 tokens ~ 1M tokens, about 8 minutes for the small base on 2 CPU cores")]
    public long MaxSteps { get; set; } = 250;

    /// <summary>Warm-up steps.</summary>
    [Description("linear warm-up steps: the optimizer's moments start at zero even from a pre-trained model")]
    public long WarmupSteps { get; set; } = 25;

    /// <summary>Peak learning rate.</summary>
    [Description("peak learning rate: half the small base's pre-training peak for full tuning; LoRA usually wants ~1e-3 (set it with --lora)")]
    public double LearningRate { get; set; } = 5e-4;

    /// <summary>Final learning rate.</summary>
    [Description("learning rate at the end of the cosine decay")]
    public double MinLearningRate { get; set; } = 5e-5;

    /// <summary>Weight decay on matrices.</summary>
    [Description("AdamW weight decay on matrices only; light, as the data are small and the steps few")]
    public double WeightDecay { get; set; } = 0.01;

    /// <summary>Adam β1.</summary>
    [Description("Adam beta1")]
    public double Beta1 { get; set; } = 0.9;

    /// <summary>Adam β2.</summary>
    [Description("Adam beta2: 0.95 as in pre-training")]
    public double Beta2 { get; set; } = 0.95;

    /// <summary>Gradient norm clip.</summary>
    [Description("clip the global gradient norm to this (0 = off)")]
    public double GradClip { get; set; } = 1.0;

    /// <summary>Train LoRA adapters instead of all weights.</summary>
    [Description("train LoRA adapters (the base frozen) instead of every weight")]
    public bool Lora { get; set; }

    /// <summary>LoRA rank.</summary>
    [Description("LoRA rank r")]
    public int LoraRank { get; set; } = 16;

    /// <summary>LoRA alpha.</summary>
    [Description("LoRA alpha (scaling = alpha / r)")]
    public double LoraAlpha { get; set; } = 32;

    /// <summary>LoRA dropout.</summary>
    [Description("dropout on the LoRA branch's input")]
    public double LoraDropout { get; set; } = 0.05;

    /// <summary>LoRA targets.</summary>
    [Description("comma-separated HF module names to adapt (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj) or all-linear")]
    public string LoraTargets { get; set; } = "all-linear";

    /// <summary>Merge LoRA into the base at the end.</summary>
    [Description("with --lora: also write final/, the base with the adapters merged in (the adapter alone is always written to adapter/)")]
    public bool Merge { get; set; }

    /// <summary>Dev examples per task.</summary>
    [Description("dev-split examples per task for the dev loss (same examples every time)")]
    public int DevExamples { get; set; } = 48;

    /// <summary>Steps between loss lines.</summary>
    [Description("steps between loss read-backs (the only host sync) and metrics lines")]
    public int LogInterval { get; set; } = 10;

    /// <summary>Steps between dev-loss measurements.</summary>
    [Description("steps between dev-loss measurements (also at the end)")]
    public int EvalInterval { get; set; } = 50;

    /// <summary>Steps between checkpoints.</summary>
    [Description("steps between atomic checkpoints (also written on Ctrl-C and at the end)")]
    public int CheckpointInterval { get; set; } = 100;

    /// <summary>Random seed.</summary>
    [Description("seed of the data draw, templates, row order, LoRA init and dropout (batch n depends on seed and n only, so resume is exact)")]
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

    /// <summary>The task list of <see cref="Tasks"/>.</summary>
    public IReadOnlyList<string> TaskList() => Training.RecipeOptions.List(Tasks);

    /// <summary>The files of <see cref="Data"/>.</summary>
    public IReadOnlyList<string> DataFiles() => Training.RecipeOptions.List(Data);

    /// <summary>The template pool of <see cref="Pool"/>.</summary>
    public Tailor.Data.Instructions.TemplatePool TemplatePool() => Pool switch
    {
        "train" => Tailor.Data.Instructions.TemplatePool.Train,
        "vague" => Tailor.Data.Instructions.TemplatePool.Vague,
        _ => throw new TailorException($"pool = {Pool}: use train or vague (the eval pool is held out for evaluation)."),
    };

    /// <summary>The truncation policy of <see cref="Truncation"/>.</summary>
    public Tailor.Data.Instructions.TruncationPolicy TruncationPolicy() => Truncation switch
    {
        "truncate_prompt_left" => Tailor.Data.Instructions.TruncationPolicy.TruncatePromptLeft,
        "drop" => Tailor.Data.Instructions.TruncationPolicy.Drop,
        _ => throw new TailorException($"truncation = {Truncation}: use truncate_prompt_left or drop."),
    };

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        void Positive(long v, string key)
        {
            if (v <= 0) throw new TailorException($"{key} = {v}: must be positive.");
        }
        Positive(Examples, "examples");
        Tailor.Torch.TorchRuntime.CheckThreads(Threads);
        Positive(Sequence, "sequence");
        Positive(Batch, "batch");
        Positive(GradAccum, "grad_accum");
        Positive(MaxSteps, "max_steps");
        Positive(MixtureCap, "mixture_cap");
        Positive(LogInterval, "log_interval");
        Positive(EvalInterval, "eval_interval");
        Positive(CheckpointInterval, "checkpoint_interval");
        if (DevExamples < 0) throw new TailorException($"dev_examples = {DevExamples}: must be 0 (no dev loss) or more.");
        if (WarmupSteps < 0) throw new TailorException($"warmup_steps = {WarmupSteps}: must be 0 or more.");
        if (!(LearningRate > 0)) throw new TailorException($"learning_rate = {LearningRate}: must be positive.");
        if (MinLearningRate < 0 || MinLearningRate > LearningRate)
            throw new TailorException($"min_learning_rate = {MinLearningRate}: must be between 0 and learning_rate.");
        if (WeightDecay < 0) throw new TailorException($"weight_decay = {WeightDecay}: must be 0 or more.");
        if (GradClip < 0) throw new TailorException($"grad_clip = {GradClip}: must be 0 (off) or positive.");
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1) throw new TailorException("beta1 and beta2 must be in [0, 1).");
        if (!CpuTuning.PrecisionValues.Contains(Precision)) throw new TailorException($"precision = {Precision}: use auto, fp32 or bf16.");
        if (!CpuTuning.SwitchValues.Contains(MklAvx512)) throw new TailorException($"mkl_avx512 = {MklAvx512}: use auto, true or false.");
        if (!CpuTuning.SwitchValues.Contains(MallocTuning)) throw new TailorException($"malloc_tuning = {MallocTuning}: use auto, true or false.");
        if (Merge && !Lora) throw new TailorException("merge = true needs lora = true: full tuning already writes the whole model to final/.");
        _ = TemplatePool();
        _ = TruncationPolicy();
    }
}
