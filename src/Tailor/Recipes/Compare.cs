using System.Text.Json;
using Tailor.Evaluation.Report;
using Tailor.Evaluation.Statistics;

namespace Tailor.Recipes;

/// <summary>
/// <c>tailor compare</c>: reads evaluation folders, pairs their items, and writes a report with a generated summary, a
/// forest plot, paired statistics against the reference and against each task's no-model floor, degeneracy flags,
/// Holm-adjusted claims, contamination, off-task rates, efficiency, template robustness, examples and training curves.
/// <para>Pairing: the resampling unit is the test item (task, id). A model asked with several templates (chat models) has
/// one prediction per template in the unit and is scored over all of them pooled; so a chat model and a base model pair
/// on the test items both answered, and two chat models asked with the same templates pair the same way (which keeps
/// the several answers to one item together, as a cluster bootstrap). Comparisons use only items both models answered.</para>
/// </summary>
public static class Compare
{
    private const string PairingText =
        "unit = test item (task, id); a model asked with several templates is scored over all its templates pooled within the unit; " +
        "comparisons use the items both models answered; the bootstrap resamples units with replacement (seeded SplitMix64), " +
        "corpus metrics (BLEU, chrF, macro-F1) are recomputed from summed per-unit statistics on each resample";

    /// <summary>
    /// Runs the comparison and writes report.md, report.html and results.json into <see cref="CompareOptions.Output"/>,
    /// with the charts <paramref name="charts"/> draws (none, and a line that says so, when it is null).
    /// </summary>
    public static ComparisonReport Run(CompareOptions o, Action<string>? say = null, IReportCharts? charts = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        say ??= _ => { };
        if (o.Inputs.Count < 2) throw new TailorException("compare needs at least two evaluation folders.");
        if (string.IsNullOrEmpty(o.Output)) throw new TailorException("give --output DIR for the report.");
        var boot = new BootstrapOptions(o.Resamples, o.Seed);
        boot.Validate();
        var warnings = new List<string>();

        // 1. Evaluations, names, roles.
        var models = Comparison.LoadModels(o.Inputs, say);
        Comparison.AssignRoles(models, o.Roles);
        var reference = Comparison.PickReference(models, o.Baseline);
        say($"reference model: {reference.Name}");
        foreach (var m in models.Where(m => m.Run.DataHash != reference.Run.DataHash && m.Run.DataHash.Length > 0 && reference.Run.DataHash.Length > 0))
            warnings.Add($"{m.Name}'s data hash {m.Run.DataHash} differs from {reference.Name}'s {reference.Run.DataHash}: they may not have seen the same test items (only shared items are paired).");

        // 2. Per task: what it is, its no-model floor, scores, comparisons with the reference and the floor, degeneracy,
        //    off-task, efficiency, templates, examples.
        var stats = new Comparison.StatsCache(models, boot);
        var taskNames = models.SelectMany(m => m.Run.Tasks.Select(t => t.Task)).Distinct().ToList();
        var tasks = new List<TaskReport>();
        foreach (string task in taskNames)
        {
            say($"{task}: scoring and resampling");
            var shape = Comparison.Shape(task, models, reference, o);
            var floor = Comparison.Floor(task, shape, models, reference, o, warnings);
            tasks.Add(Comparison.TaskSection(task, shape, floor, models, reference, stats, o, warnings));
        }

        // 3. Claims: Holm-adjusted within each claim; evidence won by a model at floor or degenerate does not count.
        var claims = Claims.Evaluate(models.Select(m => m.Entry).ToList(), tasks, stats);

        // 4. Contamination.
        var contamination = o.NoContamination ? [] : Comparison.ContaminationSection(taskNames, models.Select(m => m.Run.Model), o, warnings, say);

        // 5. Training curves.
        var curves = Comparison.FindCurves(models, o.Logs, warnings);

        var report = new ComparisonReport(DateTime.UtcNow, "tailor " + typeof(Compare).Assembly.GetName().Version, reference.Name,
            o.Seed, o.Resamples, PairingText, [.. models.Select(m => m.Entry)], tasks, claims, contamination, curves, warnings);
        report = report with { Summary = ReportSummary.Sentences(report) };
        Write(report, o.Output, charts);
        say($"wrote {Path.Combine(o.Output, "report.html")}, report.md and results.json");
        return report;
    }

    /// <summary>
    /// Writes results.json, report.md (with chart-forest.png and chart-tasks.png beside it) and report.html (every chart
    /// embedded) into <paramref name="folder"/>; the charts are <paramref name="charts"/>'s (none when it is null).
    /// </summary>
    public static void Write(ComparisonReport report, string folder, IReportCharts? charts = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        charts ??= NoReportCharts.Instance;
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "results.json"), JsonSerializer.Serialize(report, ComparisonReport.Json) + "\n");
        var drawn = charts.Render(report);
        // report.md shows the first screen's charts from PNG files beside it; report.html embeds every chart.
        var besideMarkdown = new HashSet<string>(StringComparer.Ordinal);
        foreach (var chart in drawn.Where(c => c.Id is "chart-forest" or "chart-tasks"))
        {
            File.WriteAllBytes(Path.Combine(folder, chart.Id + ".png"), chart.Png);
            besideMarkdown.Add(chart.Id);
        }
        File.WriteAllText(Path.Combine(folder, "report.md"), ReportWriter.Markdown(report, besideMarkdown, charts.Notice));
        File.WriteAllText(Path.Combine(folder, "report.html"), ReportWriter.Html(report, drawn, charts.Notice));
    }
}
