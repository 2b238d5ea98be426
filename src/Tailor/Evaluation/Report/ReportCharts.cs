using ScottPlot;

namespace Tailor.Evaluation.Report;

/// <summary>A chart rendered to PNG for embedding.</summary>
/// <param name="Id">Anchor id in the HTML.</param>
/// <param name="Title">Caption.</param>
/// <param name="Png">The PNG bytes.</param>
public sealed record ReportChart(string Id, string Title, byte[] Png);

/// <summary>
/// The report's charts, drawn with ScottPlot 5 (SkiaSharp) to PNG: scores per task metric with 95% intervals, off-task
/// rates, and training curves.
/// </summary>
public static class ReportCharts
{
    private static readonly Color[] Palette =
    [
        Color.FromHex("#4e79a7"), Color.FromHex("#f28e2b"), Color.FromHex("#59a14f"), Color.FromHex("#e15759"),
        Color.FromHex("#76b7b2"), Color.FromHex("#edc948"), Color.FromHex("#b07aa1"), Color.FromHex("#9c755f"),
    ];

    /// <summary>Renders every chart the report has data for.</summary>
    public static IReadOnlyList<ReportChart> Render(ComparisonReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var charts = new List<ReportChart>();
        var models = report.Models.Select(m => m.Name).ToList();

        // Scores: one group per task·metric, one bar per model, 0-1 metrics × 100 so every group shares the axis.
        var groups = report.Tasks.SelectMany(t => t.Metrics.Select(m => (Label: $"{t.Task}\n{m.Metric}", Metric: m))).ToList();
        if (groups.Count > 0)
            charts.Add(new ReportChart("chart-scores", "Scores with 95% bootstrap intervals (0-1 metrics × 100)",
                GroupedBars(groups.Select(g => g.Label).ToList(), models, (gi, model) =>
                {
                    var s = groups[gi].Metric.Scores.FirstOrDefault(x => x.Model == model);
                    double k = groups[gi].Metric.UnitScale ? 100 : 1;
                    return s is null ? null : (k * s.Value, k * s.Low, k * s.High);
                }, "score", Math.Max(900, 120 * groups.Count))));

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
