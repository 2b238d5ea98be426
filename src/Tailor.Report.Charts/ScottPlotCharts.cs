using ScottPlot;
using Tailor.Evaluation.Report;

namespace Tailor.Report.Charts;

/// <summary>
/// The report's charts, drawn with ScottPlot 5 (SkiaSharp) to PNG: the forest plot of every claim's effects, each task's
/// primary metric with 95% intervals, floors and baselines, off-task rates, and training curves. Models at floor or
/// degenerate on a task are drawn pale. Pass one to <c>Compare.Run</c> or <c>MainJob.Run</c>; the core library draws no
/// charts by itself (<see cref="NoReportCharts"/>), so that it needs no charting package.
/// </summary>
public sealed class ScottPlotCharts : IReportCharts
{
    private static readonly Color[] Palette =
    [
        Color.FromHex("#4e79a7"), Color.FromHex("#f28e2b"), Color.FromHex("#59a14f"), Color.FromHex("#e15759"),
        Color.FromHex("#76b7b2"), Color.FromHex("#edc948"), Color.FromHex("#b07aa1"), Color.FromHex("#9c755f"),
    ];

    /// <summary>Null: this renderer draws the charts.</summary>
    public string? Notice => null;

    /// <summary>Renders every chart the report has data for.</summary>
    public IReadOnlyList<ReportChart> Render(ComparisonReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var charts = new List<ReportChart>();
        var models = report.Models.Select(m => m.Name).ToList();

        // The forest plot: every claim's effects with their intervals, grouped by claim.
        if (report.Claims.Rows.Any(c => c.Evidence.Count > 0))
            charts.Add(new ReportChart("chart-forest", "Claims: effects with 95% intervals (points on 0-100; 0-1 metrics × 100)", Forest(report.Claims)));

        // Each task's primary metric per model, with its interval; the floor and any baselines drawn as lines.
        var primary = report.Tasks.Where(t => t.Primary is not null).ToList();
        var baselines = report.Models.Where(m => m.Role == "baseline" || m.Kind == "baseline").Select(m => m.Name).ToList();
        var bars = models.Where(m => !baselines.Contains(m)).ToList();
        if (primary.Count > 0)
            charts.Add(new ReportChart("chart-tasks", "Primary metric per task with 95% intervals (0-1 metrics × 100); dashed: floor (no model); dotted: baselines; pale bars: at floor or degenerate",
                TaskBars(primary, bars, baselines)));

        // Off-task rates per task.
        if (report.Tasks.Count > 0)
            charts.Add(new ReportChart("chart-offtask", "Off-task answers per task (%)",
                GroupedBars(report.Tasks.Select(t => t.Task).ToList(), models, (gi, model) =>
                {
                    var e = report.Tasks[gi].OffTask.FirstOrDefault(x => x.Model == model);
                    return e is null ? null : (100 * e.Rate, 100 * e.Rate, 100 * e.Rate);
                }, "off-task %", Math.Max(700, 140 * report.Tasks.Count))));

        // Training curves.
        if (report.Curves.Count > 0) charts.Add(new ReportChart("chart-curves", "Training curves (solid: training loss, dashed: dev/validation loss)", Curves(report.Curves)));
        return charts;
    }

    private static byte[] GroupedBars(IReadOnlyList<string> groups, IReadOnlyList<string> series,
        Func<int, string, (double Value, double Low, double High)?> value, string yLabel, int width)
    {
        var plot = new Plot();
        Style(plot);
        double barWidth = 0.8 / Math.Max(1, series.Count);
        var xs = new List<double>();
        var ys = new List<double>();
        var neg = new List<double>();
        var pos = new List<double>();
        for (int s = 0; s < series.Count; s++)
        {
            var bars = new List<Bar>();
            for (int g = 0; g < groups.Count; g++)
            {
                if (value(g, series[s]) is not { } v) continue;
                double x = g + (s - (series.Count - 1) / 2.0) * barWidth;
                bars.Add(new Bar { Position = x, Value = v.Value, Size = barWidth * 0.92, FillColor = Palette[s % Palette.Length], LineWidth = 0 });
                if (v.High > v.Low)
                {
                    xs.Add(x);
                    ys.Add(v.Value);
                    neg.Add(Math.Max(0, v.Value - v.Low));
                    pos.Add(Math.Max(0, v.High - v.Value));
                }
            }
            var plottable = plot.Add.Bars(bars);
            plottable.LegendText = series[s];
        }
        if (xs.Count > 0)
        {
            var zeros = xs.Select(_ => 0.0).ToList();
            var errors = new ScottPlot.Plottables.ErrorBar(xs, ys, zeros, zeros, neg, pos) { Color = Colors.Black, LineWidth = 1.2f, CapSize = 4 };
            plot.PlottableList.Add(errors);
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. Enumerable.Range(0, groups.Count).Select(i => (double)i)], [.. groups]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Left.Label.Text = yLabel;
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsX(-0.6, groups.Count - 0.4);
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(width + 160, 420, ImageFormat.Png);
    }

    private static byte[] Forest(ClaimsTable claims)
    {
        var plot = new Plot();
        Style(plot);
        var ticks = new List<(double Y, string Label)>();
        var points = new Dictionary<EvidenceStatus, (List<double> X, List<double> Y, List<double> Neg, List<double> Pos)>();
        double y = 0;
        foreach (var c in claims.Rows.Where(c => c.Evidence.Count > 0))
        {
            string claim = c.Claim.Length > 58 ? c.Claim[..57] + "…" : c.Claim;
            ticks.Add((y, $"({c.Number}) {claim} — {ClaimsTable.Words(c.Verdict).ToUpperInvariant()}"));
            y -= 1;
            foreach (var e in c.Evidence)
            {
                double k = e.UnitScale ? 100 : 1;
                if (!points.TryGetValue(e.Status, out var p)) points[e.Status] = p = ([], [], [], []);
                p.X.Add(k * e.Effect);
                p.Y.Add(y);
                p.Neg.Add(Math.Max(0, k * (e.Effect - e.Low)));
                p.Pos.Add(Math.Max(0, k * (e.High - e.Effect)));
                string label = e.Label.Length > 70 ? e.Label[..69] + "…" : e.Label;
                ticks.Add((y, "    " + label));
                y -= 1;
            }
            y -= 0.5;
        }
        var zero = plot.Add.VerticalLine(0, 1.5f, Colors.Black);
        zero.LinePattern = LinePattern.Dashed;
        foreach (var (status, p) in points.OrderBy(kv => kv.Key))
        {
            var color = status switch
            {
                EvidenceStatus.Supports => Color.FromHex("#1b7a36"),
                EvidenceStatus.Against => Color.FromHex("#b3261e"),
                EvidenceStatus.Uninformative => Color.FromHex("#d9822b"),
                _ => Color.FromHex("#777777"),
            };
            var zeros = p.X.Select(_ => 0.0).ToList();
            plot.PlottableList.Add(new ScottPlot.Plottables.ErrorBar(p.X, p.Y, p.Neg, p.Pos, zeros, zeros) { Color = color, LineWidth = 1.6f, CapSize = 5 });
            var marks = plot.Add.ScatterPoints(p.X.ToArray(), p.Y.ToArray(), color);
            marks.MarkerSize = 9;
            marks.MarkerShape = status == EvidenceStatus.Uninformative ? MarkerShape.OpenCircle : MarkerShape.FilledCircle;
            marks.LegendText = ClaimsTable.Words(status);
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks.Select(t => t.Y)], [.. ticks.Select(t => t.Label)]);
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.Left.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Left.TickLabelStyle.OffsetX = 0;
        plot.Grid.YAxisStyle.MajorLineStyle.Width = 0;
        plot.Axes.Bottom.Label.Text = "effect (B − A), points";
        plot.Axes.SetLimitsY(y + 0.5, 0.8);
        plot.Legend.Alignment = Alignment.LowerRight;
        plot.ShowLegend();
        int rows = ticks.Count;
        return plot.GetImageBytes(1180, Math.Max(260, 70 + 21 * rows), ImageFormat.Png);
    }

    private static byte[] TaskBars(IReadOnlyList<TaskReport> tasks, IReadOnlyList<string> series, IReadOnlyList<string> baselines)
    {
        var plot = new Plot();
        Style(plot);
        double barWidth = 0.8 / Math.Max(1, series.Count);
        var xs = new List<double>();
        var ys = new List<double>();
        var neg = new List<double>();
        var pos = new List<double>();
        for (int s = 0; s < series.Count; s++)
        {
            var bars = new List<Bar>();
            for (int g = 0; g < tasks.Count; g++)
            {
                var p = tasks[g].Primary!;
                if (p.Scores.FirstOrDefault(x => x.Model == series[s]) is not { } v) continue;
                double k = p.UnitScale ? 100 : 1, x = g + (s - (series.Count - 1) / 2.0) * barWidth;
                bool flagged = tasks[g].AtFloor(series[s]) || tasks[g].DegeneracyOf(series[s]) is { Degenerate: true };
                var color = Palette[s % Palette.Length];
                bars.Add(new Bar { Position = x, Value = k * v.Value, Size = barWidth * 0.92, FillColor = flagged ? color.WithAlpha(0.35) : color, LineWidth = 0 });
                if (v.High > v.Low)
                {
                    xs.Add(x);
                    ys.Add(k * v.Value);
                    neg.Add(Math.Max(0, k * (v.Value - v.Low)));
                    pos.Add(Math.Max(0, k * (v.High - v.Value)));
                }
            }
            plot.Add.Bars(bars);
            // A manual legend entry: the bar plot's own would take the colour of its first (possibly pale) bar.
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s], FillColor = Palette[s % Palette.Length] });
        }
        if (xs.Count > 0)
        {
            var zeros = xs.Select(_ => 0.0).ToList();
            plot.PlottableList.Add(new ScottPlot.Plottables.ErrorBar(xs, ys, zeros, zeros, neg, pos) { Color = Colors.Black, LineWidth = 1.2f, CapSize = 4 });
        }
        bool floorLegend = false;
        var baselineLegend = new HashSet<string>(StringComparer.Ordinal);
        for (int g = 0; g < tasks.Count; g++)
        {
            var p = tasks[g].Primary!;
            double k = p.UnitScale ? 100 : 1;
            if (p.Floor is { } f)
            {
                var line = plot.Add.Line(g - 0.45, k * f.Value, g + 0.45, k * f.Value);
                line.Color = Colors.Black;
                line.LineWidth = 2.5f;
                line.LinePattern = LinePattern.Dashed;
                if (!floorLegend) plot.Legend.ManualItems.Add(new LegendItem { LabelText = "floor (no model)", LineColor = Colors.Black, LineWidth = 2.5f, LinePattern = LinePattern.Dashed });
                floorLegend = true;
            }
            for (int b = 0; b < baselines.Count; b++)
            {
                if (p.Scores.FirstOrDefault(x => x.Model == baselines[b]) is not { } v) continue;
                var line = plot.Add.Line(g - 0.45, k * v.Value, g + 0.45, k * v.Value);
                line.Color = Palette[(series.Count + b) % Palette.Length];
                line.LineWidth = 2.5f;
                line.LinePattern = LinePattern.Dotted;
                if (baselineLegend.Add(baselines[b]))
                    plot.Legend.ManualItems.Add(new LegendItem { LabelText = baselines[b] + " (baseline)", LineColor = line.Color, LineWidth = 2.5f, LinePattern = LinePattern.Dotted });
            }
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. Enumerable.Range(0, tasks.Count).Select(i => (double)i)], [.. tasks.Select(t => $"{t.Task}\n{t.PrimaryMetric}")]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Left.Label.Text = "score";
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsX(-0.6, tasks.Count - 0.4);
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(Math.Max(900, 170 * tasks.Count) + 200, 420, ImageFormat.Png);
    }

    private static byte[] Curves(IReadOnlyList<TrainingCurve> curves)
    {
        var plot = new Plot();
        Style(plot);
        for (int c = 0; c < curves.Count; c++)
        {
            var color = Palette[c % Palette.Length];
            var train = curves[c].Points.Where(p => p.Loss is not null).ToList();
            var dev = curves[c].Points.Where(p => p.DevLoss is not null).ToList();
            if (train.Count > 0)
            {
                var line = plot.Add.ScatterLine(train.Select(p => (double)p.Step).ToArray(), train.Select(p => p.Loss!.Value).ToArray(), color);
                line.LegendText = curves[c].Label + " loss";
                line.LineWidth = 2;
            }
            if (dev.Count > 0)
            {
                var line = plot.Add.Scatter(dev.Select(p => (double)p.Step).ToArray(), dev.Select(p => p.DevLoss!.Value).ToArray(), color);
                line.LegendText = curves[c].Label + " dev";
                line.LinePattern = LinePattern.Dashed;
                line.LineWidth = 2;
                line.MarkerSize = 6;
            }
        }
        plot.Axes.Bottom.Label.Text = "step";
        plot.Axes.Left.Label.Text = "loss";
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(1000, 380, ImageFormat.Png);
    }

    private static void Style(Plot plot)
    {
        // DejaVu Sans ships with Debian's fonts-dejavu-core; ScottPlot falls back to its default font elsewhere.
        plot.Font.Set("DejaVu Sans");
        plot.Grid.MajorLineColor = Color.FromHex("#e5e5e5");
        plot.FigureBackground.Color = Colors.White;
    }
}
