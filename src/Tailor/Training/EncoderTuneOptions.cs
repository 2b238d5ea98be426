using System.ComponentModel;
using Tailor.Lora;
using Tailor.Torch;

namespace Tailor.Training;

/// <summary>
/// Every knob of <c>tailor finetune</c> with an encoder (Recipes.FinetuneEncoder) (a BERT/RoBERTa encoder fine-tuned into a sequence classifier) with its
/// default and the reason for it. The defaults follow Hugging Face's run_glue / sentence-transformers practice for
/// small encoders on a few thousand short sentences, sized so the real all-MiniLM-L6-v2 trains on the sentiment task in
/// a few minutes on 2 CPU cores. A recipe file lists only what differs; <c>--key value</c> overrides win.
/// </summary>
public sealed record EncoderTuneOptions
{
    /// <summary>Base encoder.</summary>
    [Description("encoder: a Hugging Face BertModel/RobertaModel folder (or a *ForSequenceClassification one to tune further), or all-MiniLM-L6-v2 / snowflake-arctic-embed-xs")]
    public string Model { get; set; } = "all-MiniLM-L6-v2";

    /// <summary>Run folder.</summary>
    [Description("run folder: final/ (the classifier), best/ (best dev accuracy so far), checkpoint/, metrics.jsonl, recipe.json")]
    public string Output { get; set; } = "runs/finetune-encoder";

    /// <summary>Task.</summary>
    [Description("a classification task of data/tasks (sentiment); its labels are the sorted distinct answers of the train split")]
    public string Task { get; set; } = "sentiment";

    /// <summary>Task data folder.</summary>
    [Description("folder of the task splits TASK.{train,dev,test}.jsonl")]
    public string TaskData { get; set; } = "data/tasks";

    /// <summary>Epochs.</summary>
    [Description("passes over the train split: 1, because all-MiniLM-L6-v2 reaches 0.93 dev accuracy on sentiment after one (measured) and each pass costs minutes on 2 cores; 3 is run_glue's default for larger models and data")]
    public int Epochs { get; set; } = 1;

    /// <summary>Train examples.</summary>
    [Description("train on a seeded subset of this many train examples (the label set still comes from the whole split); 0 = all")]
    public int Examples { get; set; }

    /// <summary>Longest input.</summary>
    [Description("tokens per input, specials included, longer ones cut at the end: 128, as sentence-transformers trains MiniLM; the sentiment sentences fit whole")]
    public int MaxLength { get; set; } = 128;

    /// <summary>Batch size.</summary>
    [Description("examples per optimizer step: 16, the small end of BERT's fine-tuning grid (16, 32), which gives more steps on a small train split")]
    public int Batch { get; set; } = 16;

    /// <summary>
    /// AdamW as BERT fine-tunes: peak 5e-5, the top of BERT's grid 2e-5..5e-5 (a 6-layer model wants the high end; LoRA
    /// wants more, as adapters start at zero: 2e-3 was best on dev for all-MiniLM-L6-v2 of 5e-4..5e-3, and the recipe says
    /// so when it sees LoRA at a full-tuning rate); weight
    /// decay 0.01 on matrices, as BERT; beta2 0.999, the fine-tuning default; gradient clip 1.0, as HF's Trainer.
    /// </summary>
    [OptionGroup]
    public OptimizerOptions Optimizer { get; set; } = new() { LearningRate = 5e-5, WeightDecay = 0.01, Beta2 = 0.999 };

    /// <summary>Warm-up share.</summary>
    [Description("share of the steps spent warming the learning rate up linearly from 0: 0.1, as BERT and sentence-transformers do")]
    public double WarmupRatio { get; set; } = 0.1;

    /// <summary>Schedule.</summary>
    [Description("linear (decay to 0 after warm-up: run_glue's and sentence-transformers' WarmupLinear) or cosine")]
    public LrSchedule Schedule { get; set; } = LrSchedule.Linear;

    /// <summary>LoRA instead of full tuning.</summary>
    [Description("train LoRA adapters on the encoder (frozen) and the head in full (PEFT's modules_to_save); final/ holds the merged model")]
    public bool Lora { get; set; }

    /// <summary>LoRA's rank, alpha, dropout and targets (keys lora_rank, lora_alpha, lora_dropout, lora_targets): Tailor's one set of LoRA defaults.</summary>
    [OptionGroup("lora_")]
    public LoraOptions Adapter { get; set; } = new();

    /// <summary>Steps between dev measurements.</summary>
    [Description("steps between dev-accuracy measurements; 0 = once per epoch (always also at the end)")]
    public int EvalInterval { get; set; }

    /// <summary>Which weights end up in final/.</summary>
    [Description("best (the weights of the highest dev accuracy, first reached wins) or last (the weights after the last step)")]
    public KeepWeights Keep { get; set; } = KeepWeights.Best;

    /// <summary>Steps between loss lines.</summary>
    [Description("steps between loss read-backs (the only host sync in the loop) and metrics lines")]
    public int LogInterval { get; set; } = 10;

    /// <summary>Steps between checkpoints.</summary>
    [Description("steps between atomic checkpoints (also written on Ctrl-C and at the end)")]
    public int CheckpointInterval { get; set; } = 100;

    /// <summary>Seed.</summary>
    [Description("seed of the head's initialisation, LoRA's A, the per-epoch order and dropout (step n depends on seed and n only, so resume is exact)")]
    public long Seed { get; set; } = 1337;

    /// <summary>Resume.</summary>
    [Description("continue from output/checkpoint with the same order and losses as an uninterrupted run")]
    public bool Resume { get; set; }

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        void Positive(long v, string key)
        {
            if (v <= 0) throw new TailorException($"{key} = {v}: must be positive.");
        }
        Runtime.Validate();
        Optimizer.Validate();
        Adapter.Validate();
        Tailor.Lora.EncoderLora.ParseTargets(Adapter.Targets, "lora_targets");
        Positive(Epochs, "epochs");
        Positive(Batch, "batch");
        Positive(LogInterval, "log_interval");
        Positive(CheckpointInterval, "checkpoint_interval");
        if (MaxLength < 3) throw new TailorException($"max_length = {MaxLength}: must be at least 3 (two special tokens and one of text).");
        if (Examples < 0) throw new TailorException($"examples = {Examples}: must be 0 (all) or positive.");
        if (EvalInterval < 0) throw new TailorException($"eval_interval = {EvalInterval}: must be 0 (each epoch) or positive.");
        if (!(WarmupRatio >= 0 && WarmupRatio < 1)) throw new TailorException($"warmup_ratio = {WarmupRatio}: must be in [0, 1).");
        if (Schedule is not (LrSchedule.Linear or LrSchedule.Cosine)) throw new TailorException($"schedule = {RecipeOptions.Name(Schedule)}: use linear or cosine.");
    }
}

/// <summary>Which weights an encoder fine-tune writes to final/.</summary>
public enum KeepWeights
{
    /// <summary>The weights of the highest dev accuracy (the first step to reach it wins).</summary>
    Best,

    /// <summary>The weights after the last step.</summary>
    Last,
}
