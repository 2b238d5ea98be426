using System.ComponentModel;
using Tailor.Evaluation.Statistics;

namespace Tailor.Evaluation.Report;

/// <summary>What <c>tailor compare</c> compares and how: every option with its default and reason.</summary>
public sealed record CompareOptions
{
    /// <summary>Evaluation folders written by <c>tailor eval</c> (results.json + predictions.jsonl), two or more; the command's bare arguments.</summary>
    public IReadOnlyList<string> Inputs { get; init; } = [];

    /// <summary>Where report.md, report.html and results.json go.</summary>
    [Description("where report.md, report.html and results.json go (required)")]
    public string Output { get; init; } = "";

    /// <summary>The reference model.</summary>
    [Description("reference model (folder name); null = the base model by role, else the first folder")]
    public string? Baseline { get; init; }

    /// <summary>Bootstrap seed.</summary>
    [Description("bootstrap seed: 12345, sacreBLEU's, so its paired bootstrap and ours draw alike")]
    public ulong Seed { get; init; } = 12345;

    /// <summary>Bootstrap resamples.</summary>
    [Description("paired-bootstrap resamples: 1000, sacreBLEU's default (100 to 1,000,000)")]
    public int Resamples { get; init; } = 1000;

    /// <summary>Roles file.</summary>
    [Description("JSON: {\"FOLDER\": {\"role\": \"base|base-kshot|finetuned|instruct|instruct-vague|baseline|encoder-finetuned\", \"base\": \"small\"}}; null = from results.json's kind")]
    public string? Roles { get; init; }

    /// <summary>Training logs to draw.</summary>
    [Description("training output folder with metrics.jsonl to draw (repeatable); model folders in results.json are searched too")]
    public IReadOnlyList<string> Logs { get; init; } = [];

    /// <summary>Task data.</summary>
    [Description("task data with {task}.test.jsonl and *.train.jsonl: the contamination check, and the floors' train split")]
    public string Data { get; init; } = "data/tasks";

    /// <summary>Pre-training corpus.</summary>
    [Description("pre-training corpus, JSONL file or folder, for the contamination check; null = each corpus the compared models were pre-trained on, found from their base's model card (the folder next to the task data whose MANIFEST.json the card names: its train.jsonl, else its committed subset/), or data/pretrain/train.jsonl, else data/pretrain/subset, when no model names one")]
    public string? Pretrain { get; init; }

    /// <summary>Skip the contamination check.</summary>
    [Description("skip the 13-gram contamination check")]
    public bool NoContamination { get; init; }

    /// <summary>Example items per task.</summary>
    [Description("example items per task shown in the report (0 to 100)")]
    public int Examples { get; init; } = 3;

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value; reads nothing.</summary>
    public void Validate()
    {
        if (Inputs.Count < 2) throw new TailorException("give at least two evaluation folders.");
        if (string.IsNullOrWhiteSpace(Output)) throw new TailorException("give --output DIR (where the report goes).");
        BootstrapOptions.CheckResamples(Resamples, "resamples");
        if (Examples is < 0 or > 100) throw new TailorException($"examples = {Examples}: must be between 0 and 100.");
    }
}
