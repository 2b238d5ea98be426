using System.Diagnostics;
using System.Text.RegularExpressions;
using Tailor.Recipes;
using static Tailor.Tests.Evaluation.Report.SyntheticEvals;
using Tailor.Evaluation.Report;
using Tailor.Report.Charts;

namespace Tailor.Tests.Evaluation.Report;

/// <summary>
/// Opens report.html in headless Chromium (Debian's <c>chromium</c>, installed by scripts/setup-system.sh), checks the
/// rendered page and takes a screenshot. Set TAILOR_SCREENSHOT_OUT=docs/report-screenshot.png to keep the screenshot
/// (that is how the committed one was made).
/// </summary>
public class ReportBrowserTests
{
    [Fact]
    public void Report_html_renders_in_chromium_with_its_tables_and_decoded_charts()
    {
        string chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Chromium is missing: run scripts/setup-system.sh (as root) or apt-get install chromium.");
        using var tmp = new TempDir();
        string run = Path.Combine(tmp.Path, "runs", "instruct-small");
        Directory.CreateDirectory(Path.Combine(run, "final"));
        File.WriteAllLines(Path.Combine(run, "metrics.jsonl"), Enumerable.Range(1, 30).SelectMany(s => s % 10 == 0
            ? new[] { $$"""{"step":{{s * 10}},"loss":{{3.5 / Math.Sqrt(s):0.####}}}""", $$"""{"step":{{s * 10}},"dev_loss":{{3.7 / Math.Sqrt(s) + 0.1:0.####}}}""" }
            : [$$"""{"step":{{s * 10}},"loss":{{3.5 / Math.Sqrt(s):0.####}}}"""]));
        string[] inputs =
        [
            Write(tmp.Path, new Spec("base-small", "base", Q(0.55, 0.3, 0.3), 1, 0.25)),
            Write(tmp.Path, new Spec("finetuned-small", "finetuned", Q(0.8, 0.7, 0.6), 3, 0.05)),
            Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.85, 0.75, 0.7), 2, 0.03, ModelPath: Path.Combine(run, "final"))),
            Write(tmp.Path, new Spec("instruct-vague-small", "chat", Q(0.7, 0.55, 0.5), 4, 0.1)),
        ];
        string roles = Path.Combine(tmp.Path, "roles.json");
        File.WriteAllText(roles, """
            {"base-small": {"role": "base", "base": "small"}, "finetuned-small": {"role": "finetuned", "base": "small"},
             "instruct-small": {"role": "instruct", "base": "small"}, "instruct-vague-small": {"role": "instruct-vague", "base": "small"}}
            """);
        string output = Path.Combine(tmp.Path, "report");
        Compare.Run(new CompareOptions { Inputs = inputs, Output = output, Roles = roles, NoContamination = true, Resamples = 300 }, charts: new ScottPlotCharts());
        string page = "file://" + Path.Combine(output, "report.html");

        // Self-contained: nothing is fetched from elsewhere.
        string html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.DoesNotMatch(@"(src|href)=[""'](?!data:|#)", html);
        Assert.DoesNotContain("<link", html, StringComparison.Ordinal);

        string dom = Chromium(chromium, tmp.Path, "--virtual-time-budget=10000", "--dump-dom", page);
        Assert.Contains("<title>Tailor comparison report</title>", dom, StringComparison.Ordinal);
        int images = int.Parse(Attribute(dom, "data-images"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(4, images);   // forest plot, per-task scores, off-task, training curves
        Assert.Equal(Attribute(dom, "data-images"), Attribute(dom, "data-images-ok"));
        // The main table has a cell per model and metric; the instruct model's summarization ROUGE-L is marked better.
        var cell = Regex.Match(dom, """<td class="score better" data-model="instruct-small" data-task="summarization" data-metric="rougeL">.*?</td>""");
        Assert.True(cell.Success, "no 'better' rougeL cell for instruct-small in the rendered main table");
        Assert.Matches(@"<span class=""v"">0\.\d{3}</span>", cell.Value);
        Assert.Matches("""<td rowspan="\d+" class="verdict yes">supported</td>""", dom);
        // The first screen: summary sentences, then the forest plot, then the main table with its floor row.
        int summary = dom.IndexOf("<section id=\"summary\"", StringComparison.Ordinal), forest = dom.IndexOf("<figure id=\"chart-forest\"", StringComparison.Ordinal),
            main = dom.IndexOf("<table id=\"main-table\"", StringComparison.Ordinal);
        Assert.True(summary >= 0 && summary < forest && forest < main, $"summary {summary}, forest {forest}, main table {main}");
        Assert.InRange(Regex.Matches(dom[summary..forest], "<li>").Count, 3, 5);
        Assert.Contains("data-floor=\"sentiment\"", dom, StringComparison.Ordinal);
        // The claims table gives every piece of evidence its own row.
        int claimRows = Regex.Matches(dom, """<td class="ev">""").Count;
        Assert.True(claimRows >= 10, $"only {claimRows} evidence rows in the claims table");

        string shot = Path.Combine(tmp.Path, "shot.png");
        Chromium(chromium, tmp.Path, "--hide-scrollbars", "--window-size=1280,2000", "--virtual-time-budget=10000", "--screenshot=" + shot, page);
        byte[] png = File.ReadAllBytes(shot);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.Equal(1280, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(2000, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        if (Environment.GetEnvironmentVariable("TAILOR_SCREENSHOT_OUT") is { Length: > 0 } keep) File.Copy(shot, keep, overwrite: true);
    }

    private static string Attribute(string dom, string name)
    {
        var m = Regex.Match(dom, $"<body[^>]*\\s{name}=\"(\\d+)\"");
        Assert.True(m.Success, $"<body> has no {name} attribute: the page's script did not run");
        return m.Groups[1].Value;
    }

    private static string Chromium(string exe, string tmp, params string[] args)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--user-data-dir=" + Path.Combine(tmp, "chromium-profile") }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("chromium did not finish in 120 s: " + stderr.Result);
        }
        Assert.True(p.ExitCode == 0, $"chromium exited {p.ExitCode}: {stderr.Result}");
        return stdout;
    }
}
