using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tailor.Evaluation.Report;

/// <summary>One compared model: its evaluation folder, what results.json says about it, and its role in the claims.</summary>
/// <param name="Name">Display name (the evaluation folder's name).</param>
/// <param name="Folder">The evaluation folder.</param>
/// <param name="Kind">base, finetuned, chat or baseline (from results.json).</param>
/// <param name="Role">base, base-kshot, finetuned, instruct, instruct-vague, baseline or encoder-finetuned (roles file, else from the kind); null when unassigned.</param>
/// <param name="Base">The base model it belongs to (roles file), e.g. small or base; <c>default</c> without a roles file.</param>
/// <param name="Model">results.json's model field (folder, endpoint or baseline:NAME).</param>
/// <param name="ModelHash">results.json's model hash.</param>
/// <param name="DataHash">results.json's data hash.</param>
public sealed record ModelEntry(string Name, string Folder, string Kind, string? Role, string? Base, string Model, string ModelHash, string DataHash);

/// <summary>A model's score on one task metric, recomputed from its predictions, with a bootstrap percentile interval.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Value">Score over all its items (templates pooled).</param>
/// <param name="Low">Lower end of the 95% interval.</param>
/// <param name="High">Upper end of the 95% interval.</param>
/// <param name="Items">Predictions scored.</param>
/// <param name="Reported">The value results.json reports, for cross-checking.</param>
public sealed record ScoreEntry(string Model, double Value, double Low, double High, int Items, double? Reported);

/// <summary>A model against the reference model on one task metric, over the test items both answered.</summary>
/// <param name="Model">The compared model (B).</param>
/// <param name="Reference">The reference model (A).</param>
/// <param name="ReferenceScore">A's score on the paired items.</param>
/// <param name="ModelScore">B's score on the paired items.</param>
/// <param name="Delta">B − A.</param>
/// <param name="Low">Lower end of the 95% percentile interval of B − A (paired bootstrap).</param>
/// <param name="High">Upper end.</param>
/// <param name="PValue">Two-sided p-value.</param>
/// <param name="Test">McNemar exact (accuracy with one answer per item) or paired bootstrap.</param>
/// <param name="Mark">Significance mark: *** p &lt; 0.001, ** p &lt; 0.01, * p &lt; 0.05, empty otherwise.</param>
/// <param name="Better">Whether B is significantly better (p &lt; 0.05 in the metric's good direction); false when worse or not significant.</param>
/// <param name="Units">Paired test items.</param>
public sealed record ComparisonEntry(string Model, string Reference, double ReferenceScore, double ModelScore, double Delta,
    double Low, double High, double PValue, string Test, string Mark, bool Better, int Units);

/// <summary>One metric of one task: every model's score and every model against the reference.</summary>
/// <param name="Metric">Metric name as in results.json.</param>
/// <param name="HigherIsBetter">Direction of the metric.</param>
/// <param name="UnitScale">True for 0-1 metrics, false for 0-100 (BLEU, chrF).</param>
/// <param name="Recomputed">How the metric is recomputed from the predictions.</param>
/// <param name="Scores">Per-model scores.</param>
/// <param name="Comparisons">Per-model comparisons with the reference (the reference itself has none).</param>
/// <param name="Floor">The task's no-model floor on this metric (same items), or null when it could not be built.</param>
/// <param name="VsFloor">Each model against the floor (Reference = <see cref="FloorName"/>); a model whose comparison is not
/// <see cref="ComparisonEntry.Better"/> is at floor on this metric.</param>
public sealed record MetricReport(string Metric, bool HigherIsBetter, bool UnitScale, string Recomputed,
    IReadOnlyList<ScoreEntry> Scores, IReadOnlyList<ComparisonEntry> Comparisons,
    ScoreEntry? Floor = null, IReadOnlyList<ComparisonEntry>? VsFloor = null)
{
    /// <summary>The name floors go by in comparisons.</summary>
    public const string FloorName = "(floor)";

    /// <summary>Whether <paramref name="model"/> is not significantly above the floor (false when there is no floor).</summary>
    public bool AtFloor(string model) => VsFloor?.FirstOrDefault(c => c.Model == model) is { } c && !c.Better;
}

/// <summary>
/// How degenerate one model's answers to one task are (see <see cref="Evaluation.Degeneracy"/>): answers are normalized
/// (the label named, for classification; else lowercased with whitespace collapsed) before counting.
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="Answers">Answers counted (items × templates).</param>
/// <param name="TopAnswer">The most frequent normalized answer (<c>(empty)</c> for nothing).</param>
/// <param name="TopShare">Its share of the answers.</param>
/// <param name="DistinctShare">Distinct normalized answers / answers.</param>
/// <param name="RepetitionRate">Share of answers that are degenerate repetition (<see cref="Evaluation.OffTask.IsDegenerate"/>).</param>
/// <param name="WrongLanguageRate">Share of answers identified as another language than the task's, or null when the task has none.</param>
/// <param name="OffTaskRate">Share of answers flagged off-task by <c>tailor eval</c>.</param>
/// <param name="Flags">Why the model counts as degenerate on the task; empty when it does not.</param>
public sealed record DegeneracyEntry(string Model, int Answers, string TopAnswer, double TopShare, double DistinctShare, double RepetitionRate,
    double? WrongLanguageRate, double OffTaskRate, IReadOnlyList<string> Flags)
{
    /// <summary>Whether any threshold was crossed.</summary>
    [JsonIgnore]
    public bool Degenerate => Flags.Count > 0;
}

/// <summary>Off-task answers of one model on one task.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Rate">Share of off-task answers (0-1), from the predictions.</param>
/// <param name="Reasons">Share by reason (results.json).</param>
/// <param name="Comparison">Against the reference (lower is better), or null for the reference itself.</param>
public sealed record OffTaskEntry(string Model, double Rate, IReadOnlyDictionary<string, double> Reasons, ComparisonEntry? Comparison);

/// <summary>Cost of one model on one task (results.json).</summary>
/// <param name="Model">Model name.</param>
/// <param name="TokensPerItem">Mean generated tokens per item.</param>
/// <param name="ItemsPerSecond">Items scored per second.</param>
public sealed record EfficiencyEntry(string Model, double TokensPerItem, double ItemsPerSecond);

/// <summary>Scores of one model per instruction template on a task's primary metric.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Metric">The metric.</param>
/// <param name="ByTemplate">Template → score (recomputed from the predictions).</param>
/// <param name="Mean">Mean over templates.</param>
/// <param name="Sd">Sample standard deviation over templates (0 for one template).</param>
public sealed record TemplateEntry(string Model, string Metric, IReadOnlyDictionary<string, double> ByTemplate, double Mean, double Sd);

/// <summary>One model's answer in an example.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Template">Template the shown answer was asked with.</param>
/// <param name="Output">The prediction.</param>
/// <param name="OffTask">Whether it was flagged off-task.</param>
public sealed record ExampleOutput(string Model, string Template, string Output, bool OffTask);

/// <summary>A test item shown side by side.</summary>
/// <param name="Id">Test item id.</param>
/// <param name="Input">The prompt (of a plain-prompted model where there is one).</param>
/// <param name="Reference">The first reference.</param>
/// <param name="Outputs">Each model's answer.</param>
public sealed record ExampleEntry(string Id, string Input, string Reference, IReadOnlyList<ExampleOutput> Outputs);

/// <summary>Everything the report says about one task.</summary>
/// <param name="Task">Task name.</param>
/// <param name="PrimaryMetric">The metric the claims use (accuracy, rougeL, chrf).</param>
/// <param name="Metrics">Per-metric scores and comparisons.</param>
/// <param name="OffTask">Off-task rates.</param>
/// <param name="Efficiency">Tokens per item and items per second.</param>
/// <param name="Templates">Per-template scores of models asked with several templates.</param>
/// <param name="Examples">Seeded example items.</param>
/// <param name="Floor">What the floor answers, in words (e.g. <c>majority label of the train split ("positive")</c>), or null.</param>
/// <param name="Degeneracy">Per model: answer diversity, repetition, wrong language, off-task, and degeneracy flags.</param>
public sealed record TaskReport(string Task, string PrimaryMetric, IReadOnlyList<MetricReport> Metrics, IReadOnlyList<OffTaskEntry> OffTask,
    IReadOnlyList<EfficiencyEntry> Efficiency, IReadOnlyList<TemplateEntry> Templates, IReadOnlyList<ExampleEntry> Examples,
    string? Floor = null, IReadOnlyList<DegeneracyEntry>? Degeneracy = null)
{
    /// <summary>The primary metric's report, or null.</summary>
    [JsonIgnore]
    public MetricReport? Primary => Metrics.FirstOrDefault(m => m.Metric == PrimaryMetric);

    /// <summary>Whether <paramref name="model"/> is at floor on the primary metric.</summary>
    public bool AtFloor(string model) => Primary?.AtFloor(model) == true;

    /// <summary>The degeneracy entry of <paramref name="model"/>, or null.</summary>
    public DegeneracyEntry? DegeneracyOf(string model) => Degeneracy?.FirstOrDefault(d => d.Model == model);
}

/// <summary>The verdict on one claim.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    /// <summary>Every piece of evidence supports (<see cref="EvidenceStatus.Supports"/>).</summary>
    Supported,

    /// <summary>No piece supports, and at least one is informative.</summary>
    NotSupported,

    /// <summary>Some do and some do not.</summary>
    Mixed,

    /// <summary>The models the claim needs were not given.</summary>
    NotMeasured,

    /// <summary>Every measured effect involves a better-scoring model that is at floor or degenerate, so none can count.</summary>
    Uninformative,
}

/// <summary>What one piece of evidence says about its claim.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EvidenceStatus>))]
public enum EvidenceStatus
{
    /// <summary>Holm-adjusted p &lt; 0.05 in the claimed direction, and the better-scoring model is neither at floor nor degenerate.</summary>
    Supports,

    /// <summary>Holm-adjusted p &lt; 0.05 against the claimed direction (informative).</summary>
    Against,

    /// <summary>Not significant after adjustment (informative).</summary>
    Inconclusive,

    /// <summary>The better-scoring model is at floor or degenerate: the difference says nothing about the claim.</summary>
    Uninformative,
}

/// <summary>One measured effect behind a claim (one base size, task or direction).</summary>
/// <param name="Label">What was measured, e.g. <c>small: summarization rougeL, instruct-small − base-small</c>.</param>
/// <param name="Effect">The effect (a difference, or a difference of differences).</param>
/// <param name="Low">Lower end of its 95% bootstrap interval.</param>
/// <param name="High">Upper end.</param>
/// <param name="PValue">Two-sided p-value (McNemar exact or paired bootstrap), unadjusted.</param>
/// <param name="Supports">Whether <see cref="Status"/> is <see cref="EvidenceStatus.Supports"/>.</param>
/// <param name="UnitScale">True when the effect is on a 0-1 scale; false for chrF/BLEU points (0-100).</param>
/// <param name="AdjustedPValue">Holm-adjusted p-value over the claim's evidence.</param>
/// <param name="Status">What the evidence says after adjustment and the floor/degeneracy checks.</param>
/// <param name="Caveat">Why it is uninformative (which model is at floor or degenerate), else null.</param>
/// <param name="Task">The task of a two-model difference (null for differences of differences).</param>
/// <param name="Metric">Its metric.</param>
/// <param name="Model">The model the claim expects to be better (B in B − A).</param>
/// <param name="Versus">The model it is compared with (A).</param>
public sealed record ClaimEvidence(string Label, double Effect, double Low, double High, double PValue, bool Supports, bool UnitScale = true,
    double AdjustedPValue = double.NaN, EvidenceStatus Status = EvidenceStatus.Inconclusive, string? Caveat = null,
    string? Task = null, string? Metric = null, string? Model = null, string? Versus = null)
{
    /// <summary>The effect and its interval, formatted for its scale.</summary>
    public string Text => $"{Fmt.Signed(Effect, UnitScale)} [{Fmt.Signed(Low, UnitScale)}, {Fmt.Signed(High, UnitScale)}]";
}

/// <summary>One claim with its evidence and verdict.</summary>
/// <param name="Number">Claim number (1-8).</param>
/// <param name="Claim">The claim in words.</param>
/// <param name="Measure">What effect is measured.</param>
/// <param name="Direction">Claimed direction: <c>&gt; 0</c>, <c>&lt; 0</c> or <c>≠ 0</c>.</param>
/// <param name="Evidence">The measured effects.</param>
/// <param name="Verdict">Supported, not supported, mixed, uninformative or not measured.</param>
/// <param name="Note">Caveats, or why it was not measured.</param>
public sealed record ClaimRow(int Number, string Claim, string Measure, string Direction, IReadOnlyList<ClaimEvidence> Evidence,
    Verdict Verdict, string Note);

/// <summary>The claims table: what instruction tuning was claimed to do and what the data say.</summary>
/// <param name="Rows">One row per claim.</param>
public sealed record ClaimsTable(IReadOnlyList<ClaimRow> Rows)
{
    /// <summary>Human words for a verdict.</summary>
    public static string Words(Verdict v) => v switch
    {
        Verdict.Supported => "supported",
        Verdict.NotSupported => "not supported",
        Verdict.Mixed => "mixed",
        Verdict.Uninformative => "uninformative",
        _ => "not measured",
    };

    /// <summary>Human words for an evidence status.</summary>
    public static string Words(EvidenceStatus s) => s switch
    {
        EvidenceStatus.Supports => "supports",
        EvidenceStatus.Against => "against",
        EvidenceStatus.Uninformative => "uninformative",
        _ => "inconclusive",
    };

    /// <summary>The table as plain text, one claim per block, for a console.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        foreach (var r in Rows)
        {
            sb.Append(CultureInfo.InvariantCulture, $"({r.Number}) {r.Claim} [{r.Measure}, {r.Direction}]: {Words(r.Verdict)}\n");
            foreach (var e in r.Evidence)
                sb.Append(CultureInfo.InvariantCulture, $"    {e.Label}: {e.Text} p={Fmt.P(e.PValue)} Holm p={Fmt.P(e.AdjustedPValue)}: {Words(e.Status)}{(e.Caveat is null ? "" : " (" + e.Caveat + ")")}\n");
            if (r.Note.Length > 0) sb.Append("    note: ").Append(r.Note).Append('\n');
        }
        return sb.ToString();
    }
}

/// <summary>One training log's curves.</summary>
/// <param name="Label">Whose log it is.</param>
/// <param name="Path">The metrics.jsonl file.</param>
/// <param name="Points">Logged values: step, loss and dev (or validation) loss, whichever the line has.</param>
public sealed record TrainingCurve(string Label, string Path, IReadOnlyList<CurvePoint> Points);

/// <summary>One metrics.jsonl line's step and losses.</summary>
/// <param name="Step">Optimizer step.</param>
/// <param name="Loss">Training loss (null on evaluation lines).</param>
/// <param name="DevLoss">Dev loss (tuning) or validation loss (pre-training), null on training lines.</param>
public sealed record CurvePoint(long Step, double? Loss, double? DevLoss);

/// <summary>
/// What <c>tailor compare</c> found: per task and metric each model's score and each model against the reference, the
/// claims, contamination, training curves, and the settings. Written as <c>results.json</c>.
/// </summary>
/// <param name="Created">UTC time of the comparison.</param>
/// <param name="Tool">Tailor's version.</param>
/// <param name="Reference">The reference model's name.</param>
/// <param name="Seed">Bootstrap seed.</param>
/// <param name="Resamples">Bootstrap resamples.</param>
/// <param name="Pairing">How items were paired, in words.</param>
/// <param name="Models">The compared models.</param>
/// <param name="Tasks">Per-task results.</param>
/// <param name="Claims">The claims table.</param>
/// <param name="Contamination">13-gram overlap of the test sets with the corpora.</param>
/// <param name="Curves">Training curves found.</param>
/// <param name="Warnings">Things the reader should know (mismatched items, differing data hashes, ...).</param>
/// <param name="Summary">Three to five plain sentences on what the run shows and how sure it is (<see cref="ReportSummary"/>).</param>
public sealed record ComparisonReport(DateTime Created, string Tool, string Reference, ulong Seed, int Resamples, string Pairing,
    IReadOnlyList<ModelEntry> Models, IReadOnlyList<TaskReport> Tasks, ClaimsTable Claims,
    IReadOnlyList<ContaminationRow> Contamination, IReadOnlyList<TrainingCurve> Curves, IReadOnlyList<string> Warnings,
    IReadOnlyList<string>? Summary = null)
{
    /// <summary>JSON options of results.json (snake_case, indented).</summary>
    public static readonly JsonSerializerOptions Json = new(EvalRun.Json)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Reads a results.json written by <c>tailor compare</c>.</summary>
    public static ComparisonReport Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<ComparisonReport>(File.ReadAllText(path), Json)
                ?? throw new TailorException($"{path}: empty.");
        }
        catch (JsonException e)
        {
            throw new TailorException($"{path}: not a comparison results file ({e.Message}).");
        }
    }
}

/// <summary>Number formatting shared by the report writers.</summary>
public static class Fmt
{
    /// <summary>A score: 3 decimals on 0-1 scales, 2 on 0-100.</summary>
    public static string Score(double v, bool unitScale) =>
        double.IsNaN(v) ? "–" : v.ToString(unitScale ? "0.000" : "0.00", CultureInfo.InvariantCulture);

    /// <summary>A signed difference with the precision of its scale.</summary>
    public static string Signed(double v, bool unitScale = true) =>
        (v >= 0 ? "+" : "−") + Math.Abs(v).ToString(unitScale ? "0.000" : "0.00", CultureInfo.InvariantCulture);

    /// <summary>A p-value: 3 significant digits, or &lt; 0.001.</summary>
    public static string P(double p) => p < 0.001 ? "<0.001" : p.ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>A share as a percentage.</summary>
    public static string Percent(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>The significance mark of a p-value.</summary>
    public static string Mark(double p) => p < 0.001 ? "***" : p < 0.01 ? "**" : p < 0.05 ? "*" : "";
}
