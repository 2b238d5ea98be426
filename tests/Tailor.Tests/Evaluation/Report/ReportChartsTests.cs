using Tailor.Evaluation.Report;
using Tailor.Recipes;
using Tailor.Report.Charts;
using static Tailor.Tests.Evaluation.Report.SyntheticEvals;

namespace Tailor.Tests.Evaluation.Report;

/// <summary>The report's chart seam: the library alone writes the tables and says charts were not drawn; the ScottPlot renderer adds them.</summary>
public class ReportChartsTests
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a];

    [Fact]
    public void Without_a_renderer_the_report_has_no_images_and_says_so_and_with_scottplot_it_has_them_and_no_notice()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.55, 0.3, 0.3), 1, OffTask: 0.2));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.9, 0.85, 0.85), 2, OffTask: 0.02));
        string plain = Path.Combine(tmp.Path, "plain"), drawn = Path.Combine(tmp.Path, "drawn");
        var report = Compare.Run(new CompareOptions { Inputs = [b, i], Output = plain, Resamples = 300, NoContamination = true });
        string notice = NoReportCharts.Instance.Notice!;

        Assert.Empty(Directory.GetFiles(plain, "*.png"));
        string md = File.ReadAllText(Path.Combine(plain, "report.md"));
        string html = File.ReadAllText(Path.Combine(plain, "report.html"));
        Assert.DoesNotContain("![", md, StringComparison.Ordinal);
        Assert.Contains("*" + notice + "*", md, StringComparison.Ordinal);
        Assert.True(md.IndexOf(notice, StringComparison.Ordinal) < md.IndexOf("## Main table", StringComparison.Ordinal), "the notice belongs under the summary");
        Assert.DoesNotContain("<figure", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data:image/png", html, StringComparison.Ordinal);
        Assert.Contains("<p id=\"no-charts\" class=\"hint\">" + notice + "</p>", html, StringComparison.Ordinal);

        Compare.Write(report, drawn, new ScottPlotCharts());
        string drawnMd = File.ReadAllText(Path.Combine(drawn, "report.md"));
        string drawnHtml = File.ReadAllText(Path.Combine(drawn, "report.html"));
        Assert.DoesNotContain(notice, drawnMd, StringComparison.Ordinal);
        Assert.DoesNotContain("no-charts", drawnHtml, StringComparison.Ordinal);
        foreach (string id in new[] { "chart-forest", "chart-tasks" })
        {
            Assert.Contains($"]({id}.png)", drawnMd, StringComparison.Ordinal);
            Assert.Equal(PngSignature, File.ReadAllBytes(Path.Combine(drawn, id + ".png"))[..8]);
        }
        foreach (string id in new[] { "chart-forest", "chart-tasks", "chart-offtask" })
            Assert.Contains($"<figure id=\"{id}\"><img alt=", drawnHtml, StringComparison.Ordinal);
        // Apart from the notice and the images, both reports are the same text.
        string drawnTables = drawnMd.Replace(Segment(drawnMd, "![Forest plot", "## Main table"), "", StringComparison.Ordinal)
            .Replace(Segment(drawnMd, "![Primary metric", "## Claims"), "", StringComparison.Ordinal);
        Assert.Equal(md.Replace("*" + notice + "*\n\n", "", StringComparison.Ordinal), drawnTables);
    }

    [Fact]
    public void The_scottplot_renderer_draws_one_png_per_chart_the_report_has_data_for()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.55, 0.3, 0.3), 1, OffTask: 0.2));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.9, 0.85, 0.85), 2, OffTask: 0.02));
        var report = Compare.Run(new CompareOptions { Inputs = [b, i], Output = Path.Combine(tmp.Path, "out"), Resamples = 300, NoContamination = true });

        var charts = new ScottPlotCharts().Render(report);
        Assert.Null(new ScottPlotCharts().Notice);
        // No training logs: no curves chart.
        Assert.Equal(["chart-forest", "chart-tasks", "chart-offtask"], charts.Select(c => c.Id));
        Assert.All(charts, c => Assert.Equal(PngSignature, c.Png[..8]));
        Assert.Empty(NoReportCharts.Instance.Render(report));
    }

    // The text from `start` up to (not including) `end`.
    private static string Segment(string text, string start, string end)
    {
        int from = text.IndexOf(start, StringComparison.Ordinal), to = text.IndexOf(end, from, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, $"'{start}' then '{end}' expected");
        return text[from..to];
    }
}
