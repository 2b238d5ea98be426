using System.ComponentModel;
using Tailor.Data.Instructions;
using Tailor.Torch;
using Tailor.Training;

namespace Tailor.Evaluation;

/// <summary>
/// Every knob of <c>tailor eval</c> (Recipes.Evaluate) with its default and reason. Exactly one of <see cref="Model"/>,
/// <see cref="Endpoint"/> and <see cref="Baseline"/> names what is evaluated.
/// </summary>
public sealed record EvalOptions
{
    /// <summary>Model folder.</summary>
    [Description("model folder (Hugging Face Llama/Qwen2 or GPT-2); its tailor.json or chat template decides how it is prompted (see format). A BERT/RoBERTa *ForSequenceClassification folder (tailor finetune of an encoder) answers label tasks with its arg-max label, and so does its LoRA adapter folder (adapter/, PEFT SEQ_CLS: the base named by base_model_name_or_path with the adapter merged)")]
    public string? Model { get; set; }

    /// <summary>OpenAI-compatible server(s): one base URL, or several of the same model, comma-separated.</summary>
    [Description("evaluate a model behind an OpenAI-compatible server instead (vLLM, llama.cpp, Ollama, tailor serve): its base URL, e.g. http://127.0.0.1:8080/v1; several servers of one model, comma-separated, share the items (a failed request is retried on another)")]
    public string? Endpoint { get; set; }

    /// <summary>Model name at the endpoint.</summary>
    [Description("the model name to send to the endpoint (its /v1/models lists them); null = the first it lists")]
    public string? EndpointModel { get; set; }

    /// <summary>API key of the endpoint.</summary>
    [Description("bearer key for the endpoint; null = the OPENAI_API_KEY environment variable, if set")]
    public string? ApiKey { get; set; }

    /// <summary>A classic baseline instead of a model.</summary>
    [Description("a classic baseline instead of a model: classic (AFINN lexicon for sentiment, Lead-1 for summaries, the source copied as 'translation'), or one of afinn, lead1, copy")]
    public string? Baseline { get; set; }

    /// <summary>Display name.</summary>
    [Description("name in reports; null = the model folder's name (its parent's when the folder is final/ or adapter/)")]
    public string? Name { get; set; }

    /// <summary>Tasks.</summary>
    [Description("comma-separated tasks: sentiment, sentiment-imdb (out-of-domain), summarization, translation-en-de, translation-en-fr")]
    public string Tasks { get; set; } = "sentiment,sentiment-imdb,summarization,translation-en-de,translation-en-fr";

    /// <summary>User task files.</summary>
    [Description("comma-separated JSONL files of your own tasks: {\"input\", \"output\" or \"references\", optional \"id\", \"instruction\", \"options\"} (docs/evaluation.md)")]
    public string? Data { get; set; }

    /// <summary>Task data folder.</summary>
    [Description("folder of TASK.{train,test}.jsonl")]
    public string TaskData { get; set; } = "data/tasks";

    /// <summary>Template folder.</summary>
    [Description("folder of the instruction templates TASK.json (chat models are asked with the held-out eval pool)")]
    public string Templates { get; set; } = "data/templates";

    /// <summary>Output folder.</summary>
    [Description("output folder: results.json and predictions.jsonl")]
    public string Output { get; set; } = "runs/eval";

    /// <summary>Split scored.</summary>
    [Description("split scored: test, or dev (for model selection; sentiment-imdb has no dev split)")]
    public EvalSplit Split { get; set; } = EvalSplit.Test;

    /// <summary>Items per task.</summary>
    [Description("score a seeded subset of this many items per task (0 = the whole test set); the size is reported next to every CI")]
    public int Limit { get; set; }

    /// <summary>Seed.</summary>
    [Description("seed of the subset, the k-shot examples and the template rotation")]
    public long Seed { get; set; } = 1234;

    /// <summary>k of k-shot.</summary>
    [Description("k-shot: k solved examples from the train split before each item (base and chat models; fine-tuned models were trained zero-shot)")]
    public int Shots { get; set; }

    /// <summary>Prompt format.</summary>
    [Description("auto (tailor.json's prompt_format, else chat if the tokenizer has a chat template, else base), base (a plain frame such as 'Review: ...\\nSentiment:'), plain (input + '### Response:', as finetune trains), chatml (instruction templates in the chat template)")]
    public EvalFormat Format { get; set; } = EvalFormat.Auto;

    /// <summary>How held-out templates are used.</summary>
    [Description("chat models: rotate (each item asked with one held-out template in turn: cost 1x, per-template scores over disjoint thirds) or all (every item with every held-out template: cost 3x)")]
    public TemplateMode TemplateMode { get; set; } = TemplateMode.Rotate;

    /// <summary>Template pool.</summary>
    [Description("template pool chat models are asked with: eval (held out from training) or train or vague")]
    public TemplatePool Pool { get; set; } = TemplatePool.Eval;

    /// <summary>Log-likelihood scoring.</summary>
    [Description("also rank the label options of classification tasks by log-likelihood (acc, acc_norm as lm-evaluation-harness); not available for endpoints")]
    public bool Loglik { get; set; } = true;

    /// <summary>How label tasks are answered.</summary>
    [Description("how classification tasks (sentiment) are answered: generate (greedy text, matched to a label), rank (the label with the highest log-likelihood after the prompt: rank classification, as GPT-3, FLAN and lm-evaluation-harness score base models), or auto = rank for base-format prompts, generate for instruction-tuned and fine-tuned models. A small base rarely writes a label after 'Sentiment:' even k-shot; ranking asks it in a way it can answer")]
    public LabelAnswers LabelAnswers { get; set; } = LabelAnswers.Auto;

    /// <summary>Batch size.</summary>
    [Description("prompts generated together, sorted longest first: the engine's rows (a finished row is replaced at once), the cpu decoder's prefill batch, or one padded batch (see decoder)")]
    public int BatchSize { get; set; } = 24;

    /// <summary>How answers are decoded.</summary>
    [Description(Evaluation.Answering.EvalDecoders.Description)]
    public EvalDecoder Decoder { get; set; } = Evaluation.Answering.EvalDecoders.Default;

    /// <summary>Early stop of looping answers.</summary>
    [Description(Evaluation.Answering.EvalDecoders.StopRepetitionDescription)]
    public bool StopRepetition { get; set; } = true;

    /// <summary>N-gram ban while decoding.</summary>
    [Description(Evaluation.Answering.EvalDecoders.NoRepeatNgramDescription)]
    public int NoRepeatNgram { get; set; } = Evaluation.Answering.EvalDecoders.DefaultNoRepeatNgram;

    /// <summary>Beam search.</summary>
    [Description("beam search with N beams for every generated answer (1 = greedy); 0, the default, = each task's own: 4 for summaries, greedy otherwise (chosen on dev, docs/evaluation.md). Beams run as padded batches on the torch model, whatever --decoder says")]
    public int NumBeams { get; set; }

    /// <summary>Beam search's length penalty.</summary>
    [Description("beam search: a finished answer scores sum(log p) / length^P (HF's length_penalty, default 1; 0 = the plain sum); a higher P favours longer answers")]
    public double LengthPenalty { get; set; } = 1.0;

    /// <summary>Answer length cap factor.</summary>
    [Description("multiplies each task's answer-length cap (sentiment 4, summarization 32, translation 96 tokens)")]
    public double MaxNewTokensScale { get; set; } = 1.0;

    /// <summary>Input length cap in words.</summary>
    [Description("keep only the first N words of each input (0 = all; marked with …): the same cut for every model, so long package descriptions cost less to prefill")]
    public int MaxInputWords { get; set; }

    /// <summary>AFINN lexicon.</summary>
    [Description("AFINN-165 lexicon of the classic sentiment baseline (built by scripts/data/build-all.sh from npm sentiment)")]
    public string Afinn { get; set; } = "data/baselines/afinn-165.json";

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>The tasks of <see cref="Tasks"/>.</summary>
    public IReadOnlyList<string> TaskList() => Training.RecipeOptions.List(Tasks);

    /// <summary>The files of <see cref="Data"/>.</summary>
    public IReadOnlyList<string> DataFiles() => Training.RecipeOptions.List(Data);

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        int given = (Model is null ? 0 : 1) + (Endpoint is null ? 0 : 1) + (Baseline is null ? 0 : 1);
        Runtime.Validate();
        if (given != 1) throw new TailorException("give exactly one of --model DIR, --endpoint URL or --baseline NAME.");
        if (Baseline is not null and not ("classic" or "afinn" or "lead1" or "copy"))
            throw new TailorException($"baseline = {Baseline}: use classic, afinn, lead1 or copy.");
        if (Split == EvalSplit.Dev && TaskList().Contains("sentiment-imdb")) throw new TailorException("sentiment-imdb is a test set only (it has no dev split); leave it out of --tasks with --split dev.");
        if (Limit < 0) throw new TailorException($"limit = {Limit}: must be 0 (all) or positive.");
        if (Shots is < 0 or > 16) throw new TailorException($"shots = {Shots}: must be between 0 and 16.");
        if (MaxInputWords < 0) throw new TailorException($"max_input_words = {MaxInputWords}: must be 0 (all) or positive.");
        if (BatchSize < 1) throw new TailorException($"batch_size = {BatchSize}: must be positive.");
        if (NumBeams is < 0 or > 64) throw new TailorException($"num_beams = {NumBeams}: must be between 0 (each task's own) and 64.");
        if (NumBeams > 1 && Endpoint is not null) throw new TailorException($"num_beams = {NumBeams}: OpenAI-compatible servers have no beam search; use --num-beams 0 or 1 with --endpoint.");
        if (!double.IsFinite(LengthPenalty)) throw new TailorException($"length_penalty = {LengthPenalty}: must be a finite number.");
        if (NoRepeatNgram < 0) throw new TailorException($"no_repeat_ngram = {NoRepeatNgram}: must be 0 (off) or positive.");
        if (!(MaxNewTokensScale > 0)) throw new TailorException($"max_new_tokens_scale = {MaxNewTokensScale}: must be positive.");
        if (TaskList().Count == 0 && DataFiles().Count == 0) throw new TailorException("no tasks: give --tasks and/or --data.");
        foreach (string t in TaskList())
            if (!Evaluation.EvalTask.Shipped.Contains(t))
                throw new TailorException($"unknown task '{t}'; use {string.Join(", ", Evaluation.EvalTask.Shipped)}, or --data FILE for your own.");
    }
}

/// <summary>The split <c>tailor eval</c> scores.</summary>
public enum EvalSplit
{
    /// <summary>The test split: what reports quote.</summary>
    Test,

    /// <summary>The dev split: for choosing recipes and checkpoints.</summary>
    Dev,
}

/// <summary>How classification tasks are answered in evaluation (see <see cref="EvalOptions.LabelAnswers"/>).</summary>
public enum LabelAnswers
{
    /// <summary>Rank for base-format prompts, generate otherwise.</summary>
    Auto,

    /// <summary>Greedy generation, the text matched to a label.</summary>
    Generate,

    /// <summary>The label with the highest log-likelihood (rank classification).</summary>
    Rank,
}

/// <summary>How a model is prompted in evaluation.</summary>
public enum EvalFormat
{
    /// <summary>From the model folder: tailor.json's prompt format, else chat if the tokenizer has a chat template, else base.</summary>
    Auto,

    /// <summary>A plain frame such as "Review: ...\nSentiment:" (k-shot examples before it).</summary>
    Base,

    /// <summary>The input followed by "### Response:", as <c>tailor finetune</c> trains.</summary>
    Plain,

    /// <summary>Instruction templates inside the chat template.</summary>
    Chatml,
}

/// <summary>Which held-out templates ask each item of a chat model.</summary>
public enum TemplateMode
{
    /// <summary>One template per item, in turn (cost 1x; per-template scores over disjoint thirds).</summary>
    Rotate,

    /// <summary>Every template for every item (cost 3x).</summary>
    All,
}

/// <summary>How <c>tailor eval</c> decodes a model's answers (all greedy, same stop rules, same answers).</summary>
public enum EvalDecoder
{
    /// <summary>Continuous batching on the serving engine's own thread.</summary>
    Engine,

    /// <summary>Batched libtorch prefill, then each row on the CpuDecoder, one row per core.</summary>
    Cpu,

    /// <summary>The same, one row at a time.</summary>
    CpuSerial,

    /// <summary>Padded batches that each decode until their longest row ends.</summary>
    Padded,
}
