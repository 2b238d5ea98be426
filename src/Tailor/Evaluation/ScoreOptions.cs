using System.ComponentModel;
using Tailor.Training;

namespace Tailor.Evaluation;

/// <summary>Every option of <c>tailor score</c>: what is scored, and the metric's own options.</summary>
public sealed record ScoreOptions
{
    /// <summary>Metric.</summary>
    [Description("bleu, chrf, chrf++, rouge1, rouge2, rougeL, rougeLsum, accuracy or macro-f1 (required)")]
    public string? Metric { get; set; }

    /// <summary>Hypotheses file.</summary>
    [Description("hypotheses, one segment per line (required)")]
    public string? Hyp { get; set; }

    /// <summary>Reference files.</summary>
    [Description("references aligned with --hyp, one segment per line (repeat for several references)")]
    public IReadOnlyList<string> Ref { get; set; } = [];

    /// <summary>JSON output.</summary>
    [Description("print {\"metric\", \"score\", ...} as JSON")]
    public bool Json { get; set; }

    /// <summary>Per-line scores.</summary>
    [Description("also give a score per line")]
    public bool Sentence { get; set; }

    /// <summary>The metric's options (sacreBLEU's and rouge-score's names).</summary>
    [OptionGroup]
    public MetricOptions Metrics { get; set; } = new();

    /// <summary>Throws a <see cref="TailorException"/> naming the first missing or bad value; reads no file.</summary>
    public void Validate()
    {
        if (Metric is null || !MetricRunner.Metrics.Contains(Metric))
            throw new TailorException($"metric = {Metric ?? "null"}: use one of {string.Join(", ", MetricRunner.Metrics)}.");
        if (string.IsNullOrEmpty(Hyp)) throw new TailorException("give --hyp FILE.");
        if (Ref.Count == 0) throw new TailorException("give at least one --ref FILE.");
        Metrics.Validate();
    }
}
