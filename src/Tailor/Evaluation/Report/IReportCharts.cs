namespace Tailor.Evaluation.Report;

/// <summary>A chart rendered to PNG for embedding.</summary>
/// <param name="Id">Anchor id in the HTML.</param>
/// <param name="Title">Caption.</param>
/// <param name="Png">The PNG bytes.</param>
public sealed record ReportChart(string Id, string Title, byte[] Png);

/// <summary>
/// Draws a comparison report's charts: the seam between the report and a charting library. The core library has only
/// <see cref="NoReportCharts"/>, so a program referencing Tailor needs no charting package; the <c>tailor</c> command
/// passes the ScottPlot renderer of the Tailor.Report.Charts project.
/// </summary>
public interface IReportCharts
{
    /// <summary>What the report says where its first chart would be, when this renderer draws none; null when it draws them.</summary>
    string? Notice { get; }

    /// <summary>
    /// Renders every chart the report has data for, as PNG. The report writer places them by id: chart-forest under
    /// the summary, chart-tasks under the main table, chart-offtask and chart-curves in their sections.
    /// </summary>
    IReadOnlyList<ReportChart> Render(ComparisonReport report);
}

/// <summary>
/// Draws no charts: the report is written with its tables only (every number is in them) and says so under its
/// summary. What <c>Compare.Run</c> and <c>MainJob.Run</c> use when they are given no renderer.
/// </summary>
public sealed class NoReportCharts : IReportCharts
{
    /// <summary>The one instance.</summary>
    public static NoReportCharts Instance { get; } = new();

    private NoReportCharts() { }

    /// <inheritdoc />
    public string? Notice =>
        "No charts: this report was written without a chart renderer (the Tailor library draws none by itself; the tailor " +
        "command draws them with Tailor.Report.Charts). Every number is in the tables.";

    /// <summary>No charts.</summary>
    public IReadOnlyList<ReportChart> Render(ComparisonReport report) => [];
}
