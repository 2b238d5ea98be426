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
/// The eight claims about instruction tuning, each measured per base model (and per task where it says so) and judged:
/// supported when every measured effect's 95% interval excludes 0 in the claimed direction, not supported when none
/// does, mixed otherwise, not measured when the models it needs were not given.
/// </summary>
internal static class Claims
{
    private static readonly string[] SizeOrder = ["tiny", "small", "base", "medium", "large", "xl"];

    public static ClaimsTable Evaluate(IReadOnlyList<ModelEntry> models, IReadOnlyList<TaskReport> tasks, IPairedStatistics stats)
    {
        var bases = models.Where(m => m.Role is not null && m.Role != "baseline").Select(m => m.Base ?? "default").Distinct().ToList();
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
                            bool supports = positive ? c.Low > 0 : c.High < 0;
                            evidence.Add(new ClaimEvidence($"{b}: {t.Task} {metric}, {hi.Name} − {lo.Name}", c.Delta, c.Low, c.High, c.PValue, supports,
                                metricOffTask || Scale(t) == 1.0));
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
        return new ClaimsTable(rows);
    }

    private static ClaimRow Row(int number, string claim, string measure, string direction, List<ClaimEvidence> evidence, string missing, string note = "")
    {
        if (evidence.Count == 0) return new ClaimRow(number, claim, measure, direction, evidence, Verdict.NotMeasured, "not measured: " + missing + ".");
        int supporting = evidence.Count(e => e.Supports);
        var verdict = supporting == evidence.Count ? Verdict.Supported : supporting == 0 ? Verdict.NotSupported : Verdict.Mixed;
        var opposite = direction switch
        {
            "> 0" => evidence.Where(e => e.High < 0).ToList(),
            "< 0" => evidence.Where(e => e.Low > 0).ToList(),
            _ => [],
        };
        if (opposite.Count > 0)
            note = (note.Length > 0 ? note + " " : "") + "Significant in the opposite direction: " + string.Join("; ", opposite.Select(e => e.Label)) + ".";
        return new ClaimRow(number, claim, measure, direction, evidence, verdict, note);
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
                    evidence.Add(new ClaimEvidence($"{b}: gain on {max.Task.Task} ({max.Gain:+0.000;−0.000}) − gain on {min.Task.Task} ({min.Gain:+0.000;−0.000}), {inst.Name} vs {bas.Name}",
                        max.Gain - min.Gain, lo, hi, Bootstrap.PValue(reps), lo > 0));
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
                    evidence.Add(new ClaimEvidence($"{t.Task} {t.PrimaryMetric}: ({il.Name} − {bl.Name}) − ({is_.Name} − {bs.Name})",
                        effect, lo, hi, Bootstrap.PValue(reps), lo > 0, Scale(t) == 1.0));
                }
        }
        return Row(8, "The gain depends on the base model: the larger base gains more", "difference of gains (larger base − smaller base)", "> 0", evidence,
            "needs instruct and base models for at least two base sizes (roles file: \"base\")");
    }
}
