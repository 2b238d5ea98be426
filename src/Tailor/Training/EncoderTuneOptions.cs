using System.ComponentModel;

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

    /// <summary>Longest input.</summary>
    [Description("tokens per input, specials included, longer ones cut at the end: 128, as sentence-transformers trains MiniLM; the sentiment sentences fit whole")]
    public int MaxLength { get; set; } = 128;

    /// <summary>Batch size.</summary>
    [Description("examples per optimizer step: 16, the small end of BERT's fine-tuning grid (16, 32), which gives more steps on a small train split")]
    public int Batch { get; set; } = 16;

    /// <summary>Peak learning rate.</summary>
    [Description("peak learning rate; null = 5e-5 for full tuning (the top of BERT's grid 2e-5..5e-5: a 6-layer model wants the high end) and 5e-4 for LoRA (adapters start at zero and need ~10x)")]
    public double? LearningRate { get; set; }

    /// <summary>Warm-up share.</summary>
    [Description("share of the steps spent warming the learning rate up linearly from 0: 0.1, as BERT and sentence-transformers do")]
    public double WarmupRatio { get; set; } = 0.1;

    /// <summary>Schedule.</summary>
    [Description("linear (decay to 0 after warm-up: run_glue's and sentence-transformers' WarmupLinear) or cosine")]
    public string Schedule { get; set; } = "linear";

    /// <summary>Weight decay.</summary>
    [Description("AdamW weight decay on matrices only (biases and LayerNorm weights are not decayed): 0.01, as BERT")]
    public double WeightDecay { get; set; } = 0.01;

    /// <summary>Adam β2.</summary>
    [Description("Adam beta2: 0.999, the fine-tuning default (beta1 is 0.9)")]
    public double Beta2 { get; set; } = 0.999;

    /// <summary>Gradient clip.</summary>
    [Description("clip the global gradient norm to this (0 = off): 1.0, as HF's Trainer")]
    public double GradClip { get; set; } = 1.0;

    /// <summary>LoRA instead of full tuning.</summary>
    [Description("train LoRA adapters on the encoder (frozen) and the head in full (PEFT's modules_to_save); final/ holds the merged model")]
    public bool Lora { get; set; }

    /// <summary>LoRA rank.</summary>
    [Description("LoRA rank r")]
    public int LoraRank { get; set; } = 8;

    /// <summary>LoRA alpha.</summary>
    [Description("LoRA alpha (scaling = alpha / r): 16 = 2r, the common choice")]
    public double LoraAlpha { get; set; } = 16;

    /// <summary>LoRA dropout.</summary>
    [Description("dropout on the LoRA branch's input: 0.1, PEFT's sequence-classification examples")]
    public double LoraDropout { get; set; } = 0.1;

    /// <summary>LoRA targets.</summary>
    [Description("comma-separated layers to adapt: query, key, value, attention.output.dense, intermediate.dense, output.dense, or all-linear; all-linear (every Linear of the encoder; PEFT's own default for BERT is query,value)")]
    public string LoraTargets { get; set; } = "all-linear";

    /// <summary>Steps between dev measurements.</summary>
    [Description("steps between dev-accuracy measurements; 0 = once per epoch (always also at the end)")]
    public int EvalInterval { get; set; }

    /// <summary>Which weights end up in final/.</summary>
    [Description("best (the weights of the highest dev accuracy, first reached wins) or last (the weights after the last step)")]
    public string Keep { get; set; } = "best";

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

    /// <summary>Device.</summary>
    [Description("cpu, or cuda where TorchSharp's CUDA package is installed")]
    public string Device { get; set; } = "cpu";

    /// <summary>Threads.</summary>
    [Description("intra-op threads, at most 4 per core; null = libtorch's default (all cores)")]
    public int? Threads { get; set; }

    /// <summary>The peak learning rate in effect: <see cref="LearningRate"/>, or the default of full or LoRA tuning.</summary>
    public double PeakLearningRate => LearningRate ?? (Lora ? 5e-4 : 5e-5);

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        void Positive(long v, string key)
        {
            if (v <= 0) throw new TailorException($"{key} = {v}: must be positive.");
        }
        Positive(Epochs, "epochs");
        Positive(Batch, "batch");
        Positive(LogInterval, "log_interval");
        Positive(CheckpointInterval, "checkpoint_interval");
        Positive(LoraRank, "lora_rank");
        if (MaxLength < 3) throw new TailorException($"max_length = {MaxLength}: must be at least 3 (two special tokens and one of text).");
        if (EvalInterval < 0) throw new TailorException($"eval_interval = {EvalInterval}: must be 0 (each epoch) or positive.");
        if (LearningRate is double lr && !(lr > 0)) throw new TailorException($"learning_rate = {lr}: must be positive.");
        if (!(WarmupRatio >= 0 && WarmupRatio < 1)) throw new TailorException($"warmup_ratio = {WarmupRatio}: must be in [0, 1).");
        if (Schedule is not ("linear" or "cosine")) throw new TailorException($"schedule = {Schedule}: use linear or cosine.");
        if (WeightDecay < 0) throw new TailorException($"weight_decay = {WeightDecay}: must be 0 or more.");
        if (Beta2 is < 0 or >= 1) throw new TailorException($"beta2 = {Beta2}: must be in [0, 1).");
        if (GradClip < 0) throw new TailorException($"grad_clip = {GradClip}: must be 0 (off) or positive.");
        if (!(LoraAlpha > 0)) throw new TailorException($"lora_alpha = {LoraAlpha}: must be positive.");
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new TailorException($"lora_dropout = {LoraDropout}: must be in [0, 1).");
        if (Keep is not ("best" or "last")) throw new TailorException($"keep = {Keep}: use best or last.");
        Tailor.Lora.EncoderLora.ParseTargets(LoraTargets, "lora_targets");
        Tailor.Torch.TorchRuntime.CheckThreads(Threads);
    }
}
