using Tailor.Evaluation.Statistics;

namespace Tailor.Evaluation.Report;

/// <summary>Paired statistics between named models, as the claims need them.</summary>
internal interface IPairedStatistics
{
    /// <summary>Bootstrap settings.</summary>
    BootstrapOptions Options { get; }

    /// <summary>B against A on a task metric over shared items, or null when either lacks it.</summary>
    ComparisonEntry? Compare(string a, string b, string task, string metric);

    /// <summary>Unit tables of several models restricted to their shared items, aligned, or null.</summary>
    (UnitTable[] Tables, int Units)? Aligned(IReadOnlyList<string> models, string task, string metric);

    /// <summary>Parameters of a base model (roles file's base_size, else the model's config.json), or null.</summary>
    double? BaseSize(string baseName);
}

/// <summary>
/// The nine claims about instruction tuning (the ninth, against a real pretrained encoder, is <see cref="EncoderClaim"/>), each measured per base model (and per task where it says so) and judged.
/// Per claim, the p-values of its evidence are Holm-adjusted; a piece of evidence <b>supports</b> when its adjusted p is
/// below <see cref="Alpha"/> in the claimed direction, is <b>against</b> when it is below in the other direction,
/// <b>inconclusive</b> otherwise, and <b>uninformative</b> whenever the better-scoring model in it is at its task's floor
/// or degenerate (whatever the p-value). The claim is <b>supported</b> when every piece supports, <b>uninformative</b>
/// when every piece is uninformative, <b>not supported</b> when none supports, <b>mixed</b> otherwise, and <b>not
/// measured</b> when the models it needs were not given. docs/statistics.md spells this out.
/// </summary>
internal static class Claims
{
    /// <summary>Family-wise error rate per claim (Holm): the usual 5%.</summary>
    public const double Alpha = 0.05;

    private static readonly string[] SizeOrder = ["tiny", "small", "base", "medium", "large", "xl"];

    public static ClaimsTable Evaluate(IReadOnlyList<ModelEntry> models, IReadOnlyList<TaskReport> tasks, IPairedStatistics stats)
    {
        var bases = models.Where(m => m.Role is not null && m.Role is not ("baseline" or EncoderClaim.Role)).Select(m => m.Base ?? "default").Distinct().ToList();
        bases = [.. bases.OrderBy(b => stats.BaseSize(b) ?? double.NaN).ThenBy(b => Array.IndexOf(SizeOrder, b) is int i && i >= 0 ? i : SizeOrder.Length)];
        IEnumerable<ModelEntry> With(string role, string b) => models.Where(m => m.Role == role && (m.Base ?? "default") == b);
        var rows = new List<ClaimRow>();

        List<ClaimEvidence> Gains(string roleB, string roleA, Func<TaskReport, bool> taskFilter, bool metricOffTask, bool positive)
        {
            var evidence = new List<ClaimEvidence>();
            foreach (string b in bases)
                foreach (var hi in With(roleB, b))
                    foreach (var lo in With(roleA, b))
                        foreach (var t in tasks.Where(taskFilter))
                        {
                            string metric = metricOffTask ? "off_task" : t.PrimaryMetric;
                            if (stats.Compare(lo.Name, hi.Name, t.Task, metric) is not { } c) continue;
                            string? caveat = Caveat(t, lo.Name, c.ReferenceScore, hi.Name, c.ModelScore, higherIsBetter: !metricOffTask, floorApplies: !metricOffTask);
                            evidence.Add(new ClaimEvidence($"{b}: {t.Task} {metric}, {hi.Name} − {lo.Name}", c.Delta, c.Low, c.High, c.PValue, false,
                                metricOffTask || Scale(t) == 1.0, Caveat: caveat, Task: t.Task, Metric: metric, Model: hi.Name, Versus: lo.Name));
                        }
            return evidence;
        }

        bool Starts(TaskReport t, string prefix) => t.Task.StartsWith(prefix, StringComparison.Ordinal);
        rows.Add(Row(1, "Instruction-tuned beats its base model on summarization", "ROUGE-L difference (instruct − base)", "> 0",
            Gains("instruct", "base", t => Starts(t, "summarization"), false, true), "needs instruct and base models evaluated on summarization"));
        rows.Add(Row(2, "Instruction-tuned beats its base model on sentiment", "accuracy difference (instruct − base)", "> 0",
            Gains("instruct", "base", t => Starts(t, "sentiment"), false, true), "needs instruct and base models evaluated on sentiment"));
        rows.Add(Row(3, "Instruction-tuned beats its base model on translation (each direction)", "chrF difference (instruct − base)", "> 0",
            Gains("instruct", "base", t => Starts(t, "translation"), false, true), "needs instruct and base models evaluated on translation"));
        rows.Add(Row(4, "Instruction-tuned is more accurate than the task fine-tuned model of the same base", "primary-metric difference (instruct − finetuned), per task", "> 0",
            Gains("instruct", "finetuned", _ => true, false, true), "needs instruct and finetuned models of the same base on a shared task"));
        rows.Add(Row(5, "Instruction-tuned gives fewer off-task (irrelevant) answers than its base model", "off-task rate difference (instruct − base), per task", "< 0",
            Gains("instruct", "base", _ => true, true, false), "needs instruct and base models"));
        rows.Add(TaskDependence(bases, With, tasks, stats));
        rows.Add(Row(7, "The gain depends on instruction quality: clear instructions beat vague ones", "primary-metric difference (instruct − instruct-vague), per task", "> 0",
            Gains("instruct", "instruct-vague", _ => true, false, true), "needs instruct and instruct-vague models of the same base"));
        rows.Add(BaseDependence(bases, With, tasks, stats));
        rows.Add(Row(9, EncoderClaim.Text, EncoderClaim.Measure, "> 0", EncoderClaim.Evidence(bases, With, models, tasks, stats), EncoderClaim.Missing));
        return new ClaimsTable(rows);
    }

    /// <summary>
    /// Why a comparison of A and B on task <paramref name="t"/> is uninformative, or null: the better-scoring of the two
    /// (both on a tie) is degenerate on the task, or (when <paramref name="floorApplies"/>) not significantly above the
    /// task's floor on its primary metric.
    /// </summary>
    internal static string? Caveat(TaskReport t, string a, double scoreA, string b, double scoreB, bool higherIsBetter, bool floorApplies)
    {
        var better = scoreA == scoreB ? [a, b] : (scoreA > scoreB) == higherIsBetter ? new[] { a } : [b];
        var reasons = new List<string>();
        foreach (string m in better)
        {
            if (t.DegeneracyOf(m) is { Degenerate: true } d) reasons.Add($"{m} is degenerate on {t.Task} ({string.Join(", ", d.Flags)})");
            else if (floorApplies && t.AtFloor(m) && t.Primary is { Floor: { } floor } p && p.Scores.FirstOrDefault(s => s.Model == m) is { } s)
                reasons.Add($"{m} is at floor on {t.Task} ({p.Metric} {Fmt.Score(s.Value, p.UnitScale)}, floor {Fmt.Score(floor.Value, p.UnitScale)}: {t.Floor})");
        }
        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }

    private static ClaimRow Row(int number, string claim, string measure, string direction, List<ClaimEvidence> evidence, string missing, string note = "")
    {
        if (evidence.Count == 0) return new ClaimRow(number, claim, measure, direction, evidence, Verdict.NotMeasured, "not measured: " + missing + ".");
        double[] adjusted = Holm.Adjust([.. evidence.Select(e => e.PValue)]);
        var judged = evidence.Select((e, i) =>
        {
            bool significant = adjusted[i] < Alpha;
            bool claimedWay = direction switch { "> 0" => e.Effect > 0, "< 0" => e.Effect < 0, _ => e.Effect != 0 };
            var status = e.Caveat is not null ? EvidenceStatus.Uninformative
                : significant && claimedWay ? EvidenceStatus.Supports
                : significant ? EvidenceStatus.Against : EvidenceStatus.Inconclusive;
            return e with { AdjustedPValue = adjusted[i], Status = status, Supports = status == EvidenceStatus.Supports };
        }).ToList();
        int supporting = judged.Count(e => e.Status == EvidenceStatus.Supports);
        int uninformative = judged.Count(e => e.Status == EvidenceStatus.Uninformative);
        var verdict = uninformative == judged.Count ? Verdict.Uninformative
            : supporting == judged.Count ? Verdict.Supported
            : supporting == 0 ? Verdict.NotSupported : Verdict.Mixed;
        var notes = new List<string>();
        if (note.Length > 0) notes.Add(note);
        if (uninformative > 0)
            notes.Add((verdict == Verdict.Uninformative ? "Uninformative: " : $"{uninformative} of {judged.Count} uninformative: ")
                + string.Join("; ", judged.Where(e => e.Caveat is not null).SelectMany(e => e.Caveat!.Split("; ")).Distinct()) + ".");
        var opposite = judged.Where(e => e.Status == EvidenceStatus.Against).ToList();
        if (opposite.Count > 0)
            notes.Add("Significant in the opposite direction: " + string.Join("; ", opposite.Select(e => e.Label)) + ".");
        return new ClaimRow(number, claim, measure, direction, judged, verdict, string.Join(" ", notes));
    }

    private static double Scale(TaskReport t) => t.Metrics.FirstOrDefault(m => m.Metric == t.PrimaryMetric)?.UnitScale == false ? 0.01 : 1.0;

    /// <summary>
    /// Claim 6, per base model and instruct/base pair: the gain (instruct − base, primary metric, chrF/BLEU divided by 100
    /// so every task is on 0-1) of the task with the largest observed gain minus that of the task with the smallest; the
    /// interval resamples each task's items independently. The two tasks are chosen on the observed data, so the
    /// interval is somewhat optimistic.
    /// </summary>
    private static ClaimRow TaskDependence(List<string> bases, Func<string, string, IEnumerable<ModelEntry>> with,
        IReadOnlyList<TaskReport> tasks, IPairedStatistics stats)
    {
        var evidence = new List<ClaimEvidence>();
        foreach (string b in bases)
            foreach (var inst in with("instruct", b))
                foreach (var bas in with("base", b))
                {
                    var gains = new List<(TaskReport Task, double Gain, UnitTable[] Tables, int Units)>();
                    foreach (var t in tasks)
                        if (stats.Aligned([bas.Name, inst.Name], t.Task, t.PrimaryMetric) is { } al)
                        {
                            double s = Scale(t);
                            gains.Add((t, s * (al.Tables[1].ScoreAll() - al.Tables[0].ScoreAll()), al.Tables, al.Units));
                        }
                    if (gains.Count < 2) continue;
                    var max = gains.MaxBy(g => g.Gain);
                    var min = gains.MinBy(g => g.Gain);
                    double sMax = Scale(max.Task), sMin = Scale(min.Task);
                    var reps = Bootstrap.Replicates([max.Units, min.Units], stats.Options, s =>
                        sMax * (max.Tables[1].Score(s[0]) - max.Tables[0].Score(s[0])) - sMin * (min.Tables[1].Score(s[1]) - min.Tables[0].Score(s[1])));
                    var (lo, hi) = Bootstrap.Percentile(reps, stats.Options.Confidence);
                    var caveats = new[] { max, min }.Select(g => Caveat(g.Task, bas.Name, g.Tables[0].ScoreAll(), inst.Name, g.Tables[1].ScoreAll(), true, true))
                        .OfType<string>().Distinct().ToList();
                    evidence.Add(new ClaimEvidence($"{b}: gain on {max.Task.Task} ({max.Gain:+0.000;−0.000}) − gain on {min.Task.Task} ({min.Gain:+0.000;−0.000}), {inst.Name} vs {bas.Name}",
                        max.Gain - min.Gain, lo, hi, Bootstrap.PValue(reps), false, Caveat: caveats.Count == 0 ? null : string.Join("; ", caveats)));
                }
        return Row(6, "The gain from instruction tuning depends on the task", "largest minus smallest per-task gain (0-1 scale)", "≠ 0", evidence,
            "needs instruct and base models evaluated on at least two tasks",
            "The two tasks are picked on the observed gains, so the interval is somewhat optimistic.");
    }

    /// <summary>
    /// Claim 8, per task and pair of consecutive base sizes (by parameters, else by name: small &lt; base &lt; large):
    /// (instruct − base on the larger base) − (instruct − base on the smaller), the four models resampled on the same items.
    /// </summary>
    private static ClaimRow BaseDependence(List<string> bases, Func<string, string, IEnumerable<ModelEntry>> with,
        IReadOnlyList<TaskReport> tasks, IPairedStatistics stats)
    {
        var evidence = new List<ClaimEvidence>();
        for (int k = 0; k + 1 < bases.Count; k++)
        {
            string small = bases[k], large = bases[k + 1];
            foreach (var t in tasks)
                foreach (var (il, bl, is_, bs) in
                    from il in with("instruct", large) from bl in with("base", large) from is_ in with("instruct", small) from bs in with("base", small)
                    select (il, bl, is_, bs))
                {
                    if (stats.Aligned([il.Name, bl.Name, is_.Name, bs.Name], t.Task, t.PrimaryMetric) is not { } al) continue;
                    var tb = al.Tables;
                    double effect = tb[0].ScoreAll() - tb[1].ScoreAll() - (tb[2].ScoreAll() - tb[3].ScoreAll());
                    var reps = Bootstrap.Replicates([al.Units], stats.Options, s =>
                        tb[0].Score(s[0]) - tb[1].Score(s[0]) - (tb[2].Score(s[0]) - tb[3].Score(s[0])));
                    var (lo, hi) = Bootstrap.Percentile(reps, stats.Options.Confidence);
                    var caveats = new[] { Caveat(t, bl.Name, tb[1].ScoreAll(), il.Name, tb[0].ScoreAll(), true, true), Caveat(t, bs.Name, tb[3].ScoreAll(), is_.Name, tb[2].ScoreAll(), true, true) }
                        .OfType<string>().Distinct().ToList();
                    evidence.Add(new ClaimEvidence($"{t.Task} {t.PrimaryMetric}: ({il.Name} − {bl.Name}) − ({is_.Name} − {bs.Name})",
                        effect, lo, hi, Bootstrap.PValue(reps), false, Scale(t) == 1.0, Caveat: caveats.Count == 0 ? null : string.Join("; ", caveats)));
                }
        }
        return Row(8, "The gain depends on the base model: the larger base gains more", "difference of gains (larger base − smaller base)", "> 0", evidence,
            "needs instruct and base models for at least two base sizes (roles file: \"base\")");
    }
}
