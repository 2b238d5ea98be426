using System.Globalization;

namespace Tailor.Evaluation.Report;

/// <summary>
/// The report's first lines: three to five plain sentences generated from the numbers, saying what the run shows and
/// how sure it is — the strongest supported effect (against its floor and any baseline), which claims are uninformative
/// and why, which models are degenerate, and the tally of verdicts with the statistics behind them. Pure function.
/// </summary>
public static class ReportSummary
{
    /// <summary>At most this many sentences, so the first screen stays a summary.</summary>
    public const int MaxSentences = 5;

    /// <summary>The summary sentences of <paramref name="r"/>.</summary>
    public static IReadOnlyList<string> Sentences(ComparisonReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var sentences = new List<string>();
        var baselines = r.Models.Where(m => m.Role == "baseline" || m.Kind == "baseline").Select(m => m.Name).ToHashSet(StringComparer.Ordinal);

        // 1. The strongest supported two-model effect, in points, read against the floor and the best baseline.
        var best = r.Claims.Rows.SelectMany(c => c.Evidence).Where(e => e.Status == EvidenceStatus.Supports && e.Task is not null && e.Metric != "off_task")
            .OrderByDescending(e => Points(e.Effect, e.UnitScale)).FirstOrDefault();
        if (best is not null && r.Tasks.FirstOrDefault(t => t.Task == best.Task) is { Primary: { } p } task)
        {
            string s = $"On {task.Task}, {best.Model} scores {Pts(best.Effect, best.UnitScale)} {Unit(p.Metric)} above {best.Versus} " +
                $"[{Pts(best.Low, best.UnitScale)}, {Pts(best.High, best.UnitScale)}] (Holm-adjusted p {Fmt.P(best.AdjustedPValue)})";
            var mine = p.Scores.FirstOrDefault(x => x.Model == best.Model);
            if (mine is not null && p.Floor is { } floor)
                s += $", {Pts(Math.Abs(mine.Value - floor.Value), p.UnitScale)} points {(mine.Value >= floor.Value ? "above" : "below")} {task.Floor}";
            var baseline = p.Scores.Where(x => baselines.Contains(x.Model)).MaxBy(x => x.Value);
            if (mine is not null && baseline is not null)
                s += $" and {Pts(Math.Abs(mine.Value - baseline.Value), p.UnitScale)} points {(mine.Value >= baseline.Value ? "above" : "below")} {baseline.Model}";
            sentences.Add(s + ".");
        }
        else
        {
            // No supported effect: say who scored best per task and where that stands against the floor.
            var parts = r.Tasks.Where(t => t.Primary is not null).Select(t =>
            {
                var p = t.Primary!;
                var top = p.Scores.Where(x => !baselines.Contains(x.Model)).MaxBy(x => x.Value);
                if (top is null) return null;
                string floor = p.Floor is { } f ? $", floor {Fmt.Score(f.Value, p.UnitScale)}{(p.AtFloor(top.Model) ? ", not significantly above it" : "")}" : "";
                return $"{t.Task} {top.Model} ({p.Metric} {Fmt.Score(top.Value, p.UnitScale)} [{Fmt.Score(top.Low, p.UnitScale)}, {Fmt.Score(top.High, p.UnitScale)}]{floor})";
            }).OfType<string>().ToList();
            if (parts.Count > 0) sentences.Add("No claim is supported by a model above its floor; the best model per task is " + string.Join("; ", parts) + ".");
        }

        // 2. Where every (non-baseline) model is at floor, and the claims that leaves uninformative.
        var floorTasks = r.Tasks.Where(t => t.Primary?.Floor is not null && t.Primary.Scores.Any(s => !baselines.Contains(s.Model))
            && t.Primary.Scores.Where(s => !baselines.Contains(s.Model)).All(s => t.AtFloor(s.Model))).ToList();
        var uninformative = r.Claims.Rows.Where(c => c.Verdict == Verdict.Uninformative).Select(c => c.Number).ToList();
        if (floorTasks.Count > 0)
        {
            string what = string.Join(", ", floorTasks.Select(t => $"{t.Task} ({t.Floor}: {t.PrimaryMetric} {Fmt.Score(t.Primary!.Floor!.Value, t.Primary.UnitScale)})"));
            sentences.Add($"On {what} no model{(baselines.Count > 0 ? " other than the baselines" : "")} scores significantly above what needs no model" +
                (uninformative.Count > 0 ? $", so {Claims(uninformative)} {(uninformative.Count == 1 ? "is" : "are")} uninformative." : "."));
        }
        else if (uninformative.Count > 0)
        {
            var first = r.Claims.Rows.First(c => c.Verdict == Verdict.Uninformative).Evidence.First(e => e.Caveat is not null);
            sentences.Add($"{char.ToUpperInvariant(Claims(uninformative)[0])}{Claims(uninformative)[1..]} {(uninformative.Count == 1 ? "is" : "are")} uninformative: {first.Caveat}.");
        }

        // 3. Degenerate models.
        var degenerate = r.Tasks.SelectMany(t => (t.Degeneracy ?? []).Where(d => d.Degenerate && !baselines.Contains(d.Model)).Select(d => (t.Task, d))).ToList();
        if (degenerate.Count > 0)
        {
            var shown = degenerate.Take(4).Select(x => $"{x.d.Model} on {x.Task} ({string.Join(", ", x.d.Flags)})").ToList();
            sentences.Add("Degenerate answers: " + string.Join("; ", shown) + (degenerate.Count > 4 ? $"; and {degenerate.Count - 4} more model–task pairs (see the degeneracy table)." : "."));
        }

        // 4. The tally and how sure it is.
        var measured = r.Claims.Rows.Where(c => c.Verdict != Verdict.NotMeasured).ToList();
        if (measured.Count > 0)
        {
            var counts = new[] { Verdict.Supported, Verdict.NotSupported, Verdict.Mixed, Verdict.Uninformative }
                .Select(v => (v, n: measured.Count(c => c.Verdict == v))).Where(x => x.n > 0)
                .Select(x => $"{x.n} {ClaimsTable.Words(x.v)}").ToList();
            int items = r.Tasks.SelectMany(t => t.Metrics.SelectMany(m => m.Comparisons.Select(c => c.Units))).DefaultIfEmpty(0).Max();
            sentences.Add($"Of {measured.Count} measured claim{(measured.Count == 1 ? "" : "s")}, {Join(counts)}; evidence counts when its p-value, Holm-adjusted within its claim, is below 0.05 " +
                $"and the better model is neither at floor nor degenerate (95% paired-bootstrap intervals, {r.Resamples} resamples, up to {items} items per task).");
        }
        else sentences.Add("No claim could be measured (give a roles file naming base and instruct models); the tables below compare every model with the reference and the floors.");

        if (sentences.Count < 3)
        {
            var parts = r.Tasks.Where(t => t.Primary is not null).Select(t =>
            {
                var p = t.Primary!;
                var top = p.Scores.MaxBy(x => x.Value);
                return top is null ? null : $"{t.Task}: {top.Model} {Fmt.Score(top.Value, p.UnitScale)}";
            }).OfType<string>().ToList();
            if (parts.Count > 0) sentences.Add("Highest primary-metric score per task: " + string.Join("; ", parts) + ".");
        }
        return sentences.Take(MaxSentences).ToList();
    }

    private static double Points(double v, bool unitScale) => unitScale ? 100 * v : v;

    private static string Pts(double v, bool unitScale) => Points(v, unitScale).ToString("0.0", CultureInfo.InvariantCulture);

    private static string Unit(string metric) => metric switch
    {
        "accuracy" or "acc" or "acc_norm" => "accuracy points",
        "rougeL" => "ROUGE-L points",
        "rouge1" => "ROUGE-1 points",
        "rouge2" => "ROUGE-2 points",
        "chrf" => "chrF points",
        "bleu" => "BLEU points",
        "macro_f1" => "macro-F1 points",
        _ => metric + " points",
    };

    private static string Claims(List<int> numbers) =>
        (numbers.Count == 1 ? "claim " : "claims ") + Join(numbers.Select(n => n.ToString(CultureInfo.InvariantCulture)).ToList());

    private static string Join(IReadOnlyList<string> parts) =>
        parts.Count <= 1 ? string.Concat(parts) : string.Join(", ", parts.Take(parts.Count - 1)) + " and " + parts[^1];
}
