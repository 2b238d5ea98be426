using System.ComponentModel;

using Tailor.Data.Instructions;
using Tailor.Lora;
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
    [Description("base model: a Hugging Face Llama/Qwen2 or GPT-2 folder (the shipped models/tailor-multi-small, English, German and French, trains in minutes on a laptop CPU)")]
    public string Model { get; set; } = "models/tailor-multi-small";

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
    public TemplatePool Pool { get; set; } = TemplatePool.Train;

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
    public TruncationPolicy Truncation { get; set; } = TruncationPolicy.TruncatePromptLeft;

    /// <summary>Pack several examples per row.</summary>
    [Description("pack several examples per row with a block-diagonal attention mask and restarted positions (no leakage between them); false pads one example per row")]
    public bool Packing { get; set; } = true;

    /// <summary>Rows per micro-batch.</summary>
    [Description("rows per micro-batch (per rank under mpirun): 8 x 512 tokens = 4096, the size the pre-training loop runs at its peak")]
    public int Batch { get; set; } = 8;

    /// <summary>Micro-batches per optimizer step.</summary>
    [Description("micro-batches per optimizer step (effective batch = batch x grad_accum); the loss is normalised over the whole step (its trained tokens or its examples: loss_normalization)")]
    public int GradAccum { get; set; } = 1;

    /// <summary>How the loss averages over trained tokens.</summary>
    [Description("token: every trained token of the step weighs the same (TRL's and HF Trainer's mean), so long answers dominate; example: each example's mean token loss, averaged over the step's examples, so a one-word label counts as much as a long translation")]
    public LossNormalization LossNormalization { get; set; } = LossNormalization.Token;

    /// <summary>Optimizer steps.</summary>
    [Description("optimizer steps; 250 x 4096 tokens ~ 1M tokens, about 8 minutes for the small base on 2 CPU cores")]
    public long MaxSteps { get; set; } = 250;

    /// <summary>Warm-up steps.</summary>
    [Description("linear warm-up steps: the optimizer's moments start at zero even from a pre-trained model")]
    public long WarmupSteps { get; set; } = 25;

    /// <summary>
    /// AdamW. Peak 5e-4: half the small base's pre-training peak for full tuning (LoRA usually wants ~1e-3: set it with
    /// --lora); weight decay 0.01, light, as the data are small and the steps few.
    /// </summary>
    [OptionGroup]
    public OptimizerOptions Optimizer { get; set; } = new() { LearningRate = 5e-4, WeightDecay = 0.01 };

    /// <summary>Final learning rate.</summary>
    [Description("learning rate at the end of the cosine decay")]
    public double MinLearningRate { get; set; } = 5e-5;

    /// <summary>Train LoRA adapters instead of all weights.</summary>
    [Description("train LoRA adapters (the base frozen) instead of every weight")]
    public bool Lora { get; set; }

    /// <summary>LoRA's rank, alpha, dropout and targets (keys lora_rank, lora_alpha, lora_dropout, lora_targets).</summary>
    [OptionGroup("lora_")]
    public LoraOptions Adapter { get; set; } = new();

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

    /// <summary>The CPU speed options (precision, MKL's AVX-512 kernels, malloc tuning).</summary>
    [OptionGroup]
    public CpuSpeedOptions Speed { get; set; } = new();

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>The task list of <see cref="Tasks"/>.</summary>
    public IReadOnlyList<string> TaskList() => Training.RecipeOptions.List(Tasks);

    /// <summary>The files of <see cref="Data"/>.</summary>
    public IReadOnlyList<string> DataFiles() => Training.RecipeOptions.List(Data);

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
        Adapter.Validate();
        if (Lora) Adapter.ToConfig(Model).Validate("lora_targets");
        Positive(Examples, "examples");
        Positive(Sequence, "sequence");
        Positive(Batch, "batch");
        Positive(GradAccum, "grad_accum");
        Positive(MaxSteps, "max_steps");
        Positive(MixtureCap, "mixture_cap");
        Positive(LogInterval, "log_interval");
        Positive(EvalInterval, "eval_interval");
        Positive(CheckpointInterval, "checkpoint_interval");
        if (DevExamples < 0) throw new TailorException($"dev_examples = {DevExamples}: must be 0 (no dev loss) or more.");
        if (Merge && !Lora) throw new TailorException("merge = true needs lora = true: full tuning already writes the whole model to final/.");
        if (Pool == TemplatePool.Eval) throw new TailorException("pool = eval: the eval pool is held out for evaluation; use train or vague.");
    }
}

/// <summary>How a supervised step's loss averages over its trained tokens (<see cref="TuneOptions.LossNormalization"/>).</summary>
public enum LossNormalization
{
    /// <summary>The mean over every trained token of the step.</summary>
    Token,

    /// <summary>The mean over the step's examples of each example's mean token loss.</summary>
    Example,
}
