using System.Globalization;
using System.Text;

namespace Tailor.Evaluation.Report;

/// <summary>The main job's two Markdown tables: the main table of scores and the claims table.</summary>
public static class MainTable
{
    /// <summary>
    /// The main table: one row per model, the headline metric of each task (sentiment accuracy by generation and by
    /// log-likelihood ranking, ROUGE-L, chrF and BLEU) the off-task rate over all generated answers, and where the model's pretrained weights came from (<see cref="Provenance"/>).
    /// </summary>
    public static string Markdown(IReadOnlyList<EvalRun> runs, int limit)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var columns = new List<(string Task, string Metric, string Header, double Scale)>
        {
            ("sentiment", "accuracy", "sentiment acc", 100), ("sentiment", "acc", "sentiment acc (loglik)", 100),
            ("sentiment-imdb", "accuracy", "IMDB acc", 100), ("summarization", "rougeL", "summ. ROUGE-L", 100),
            ("translation-en-de", "chrf", "en→de chrF", 1), ("translation-en-de", "bleu", "en→de BLEU", 1),
            ("translation-en-fr", "chrf", "en→fr chrF", 1), ("translation-en-fr", "bleu", "en→fr BLEU", 1),
        };
        columns = [.. columns.Where(c => runs.Any(r => r.Tasks.Any(t => t.Task == c.Task && t.Metrics.ContainsKey(c.Metric))))];
        var sb = new StringBuilder();
        sb.Append("| model | kind | ").AppendJoin(" | ", columns.Select(c => c.Header)).Append(" | off-task | weights |\n");
        sb.Append("|---|---|").Append(string.Concat(columns.Select(_ => "---:|"))).Append("---:|---|\n");
        foreach (var r in runs)
        {
            sb.Append(CultureInfo.InvariantCulture, $"| {r.Name} | {r.Kind}{(r.Shots > 0 ? $" {r.Shots}-shot" : "")} |");
            foreach (var c in columns)
            {
                var t = r.Tasks.FirstOrDefault(x => x.Task == c.Task);
                sb.Append(t is not null && t.Metrics.TryGetValue(c.Metric, out double v) ? string.Create(CultureInfo.InvariantCulture, $" {v * c.Scale:0.0} |") : " – |");
            }
            int n = r.Tasks.Sum(t => t.Items);
            double off = n == 0 ? 0 : r.Tasks.Sum(t => t.OffTaskRate * t.Items) / n;
            sb.Append(CultureInfo.InvariantCulture, $" {off * 100:0.0}% | {Provenance.Of(r.Model).Short} |\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"\n{(limit == 0 ? "Whole test sets" : $"Seeded subsets of {limit} items per task")}; accuracy, ROUGE-L (stemmed, mean F) ×100; chrF and BLEU as sacreBLEU 2.6.0; off-task = share of answers that are empty, not a label, another task's label, degenerate, in the wrong language or longer than the input; weights = where the pretrained weights came from (a real pretrained model, or pre-trained here with the tokens its model card records; report.md's models table says more).\n");
        return sb.ToString();
    }

    /// <summary>The claims table as Markdown: claim, measure, effect with 95% CI per base/task, verdict.</summary>
    public static string ClaimsMarkdown(ClaimsTable claims, int limit)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var sb = new StringBuilder();
        sb.Append("| # | claim | measure | effect [95% CI] | verdict |\n|---:|---|---|---|---|\n");
        foreach (var r in claims.Rows)
        {
            string evidence = r.Evidence.Count == 0 ? "–" : string.Join("<br>", r.Evidence.Select(e => $"{e.Label}: {e.Text}{(e.Supports ? " ✓" : e.Status == EvidenceStatus.Uninformative ? " (uninformative)" : "")}"));
            sb.Append(CultureInfo.InvariantCulture, $"| {r.Number} | {r.Claim} | {r.Measure} ({r.Direction}) | {evidence} | **{ClaimsTable.Words(r.Verdict)}** |\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"\nEffects are differences (tuned − reference) with paired-bootstrap 95% CIs{(limit == 0 ? "" : $" over {limit} items per task")}; ✓ marks evidence that supports (Holm-adjusted p < 0.05 in the claimed direction, the better model neither at floor nor degenerate). Supported = every piece of evidence supports; uninformative = every piece has its better model at floor or degenerate; not supported = none supports; mixed otherwise (docs/statistics.md).\n");
        return sb.ToString();
    }
}
