namespace Tailor.Evaluation.Report;

/// <summary>What <c>tailor compare</c> compares and how.</summary>
public sealed record CompareOptions
{
    /// <summary>Evaluation folders written by <c>tailor eval</c> (results.json + predictions.jsonl), two or more.</summary>
    public IReadOnlyList<string> Inputs { get; init; } = [];

    /// <summary>Where report.md, report.html and results.json go.</summary>
    public string Output { get; init; } = "";

    /// <summary>The reference model every other model is compared with; default: the base model (role), else the first folder.</summary>
    public string? Baseline { get; init; }

    /// <summary>Bootstrap seed (sacreBLEU's default seed).</summary>
    public ulong Seed { get; init; } = 12345;

    /// <summary>Bootstrap resamples (as sacreBLEU's paired bootstrap).</summary>
    public int Resamples { get; init; } = 1000;

    /// <summary>Roles file: {"folder": {"role": "base|base-kshot|finetuned|instruct|instruct-vague|baseline", "base": "small"}}; base-kshot (a base asked k-shot) is compared but not used by the claims.
    /// Without one, roles follow results.json's kind (chat → instruct) and all models share one base.</summary>
    public string? Roles { get; init; }

    /// <summary>Folders (or metrics.jsonl files) of training logs to draw; the model folders named in results.json are searched too.</summary>
    public IReadOnlyList<string> Logs { get; init; } = [];

    /// <summary>Task data folder with {task}.test.jsonl and *.train.jsonl: the contamination check, and the floors' train split
    /// (and inputs, for evaluation folders written before predictions carried them).</summary>
    public string Data { get; init; } = "data/tasks";

    /// <summary>Pre-training corpus (file or folder of JSONL); default data/pretrain/train.jsonl, else data/pretrain/subset/.</summary>
    public string? Pretrain { get; init; }

    /// <summary>Skip the contamination check.</summary>
    public bool NoContamination { get; init; }

    /// <summary>Example items shown per task.</summary>
    public int Examples { get; init; } = 3;
}
