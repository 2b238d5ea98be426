using System.Globalization;
using System.Net;
using System.Text;

namespace Tailor.Evaluation.Report;

/// <summary>
/// Writes a <see cref="ComparisonReport"/> as Markdown and as one self-contained HTML page (inline CSS, charts as base64
/// PNG, no external resources). Both carry the same tables; the HTML adds the charts.
/// </summary>
public static class ReportWriter
{
    private const string Methods =
        "Scores are recomputed from each model's predictions.jsonl (templates pooled). Intervals are 95% percentile intervals of a " +
        "seeded bootstrap over test items. A difference B − A is paired: every resample draws the same items for both models, and " +
        "corpus metrics (BLEU, chrF, macro-F1) are recomputed from per-item sufficient statistics. p-values are two-sided: for accuracy " +
        "with one answer per item, McNemar's exact test on the discordant items; otherwise the bootstrap p = min(1, 2·(1 + min(#Δ*≤0, #Δ*≥0))/(R + 1)). " +
        "Marks: * p < 0.05, ** p < 0.01, *** p < 0.001, unadjusted (the claims adjust within each claim by Holm's method). See docs/statistics.md.";

    private const string MainHint =
        "Each task's primary metric (the one the claims use): score [95% CI], Δ vs the reference with its significance mark. " +
        "The floor row is what an answer needing no model scores on the same items; \"at floor\": not significantly above it " +
        "(McNemar exact or paired bootstrap, p < 0.05); \"degenerate\": see Degenerate answers.";

    private const string ClaimsHint =
        "One row per piece of evidence. p: McNemar exact (accuracy, one answer per item) or paired bootstrap; Holm p: adjusted " +
        "for the number of rows in the claim. Reads: supports (Holm p < 0.05 in the claimed direction), against (Holm p < 0.05 the " +
        "other way), inconclusive, or uninformative (the better-scoring model is at floor or degenerate, whatever p says). " +
        "Verdict: supported when every row supports; uninformative when every row is uninformative; not supported when none " +
        "supports; mixed otherwise. Effects are on 0-1 scales except chrF and BLEU (points on 0-100). See docs/statistics.md.";

    private const string DegeneracyHint =
        "Answers normalized (the label named, else lowercased text). Flags: a classifier giving one answer to ≥ 90% of items, a " +
        "generator with ≥ 50% identical answers, or any model with ≥ 50% off-task answers (Tailor.Evaluation.Degeneracy).";

    private const string ForestHint =
        "Forest plot: each claim's effects (B − A) with 95% paired-bootstrap intervals, grouped by claim, on points of 0-100 " +
        "(0-1 metrics × 100). Filled green: supports after Holm; red: against; grey: inconclusive; hollow orange: uninformative " +
        "(better-scoring model at floor or degenerate).";

    /// <summary>The report as Markdown.</summary>
    public static string Markdown(ComparisonReport r) => Markdown(r, null);

    /// <summary>
    /// The report as Markdown; <paramref name="chartFiles"/> names the charts written beside it as ID.png;
    /// <paramref name="chartsNotice"/>, when given, is said under the summary (why there are no charts).
    /// </summary>
    public static string Markdown(ComparisonReport r, IReadOnlySet<string>? chartFiles, string? chartsNotice = null)
    {
        ArgumentNullException.ThrowIfNull(r);
        var sb = new StringBuilder();
        sb.Append("# Tailor comparison report\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"Reference model: **{r.Reference}** · seed {r.Seed} · {r.Resamples} resamples · {r.Created:yyyy-MM-dd HH:mm} UTC · {r.Tool}\n\n");
        sb.Append("## Summary\n\n");
        foreach (string sentence in r.Summary ?? ReportSummary.Sentences(r)) sb.Append("- ").Append(sentence).Append('\n');
        sb.Append('\n');
        if (chartsNotice is not null) sb.Append('*').Append(chartsNotice).Append("*\n\n");
        if (chartFiles?.Contains("chart-forest") == true)
            sb.Append("![Forest plot: every claim's effects with 95% intervals](chart-forest.png)\n\n").Append(ForestHint).Append("\n\n");

        sb.Append("## Main table\n\n");
        var primary = PrimaryColumns(r);
        Table(sb, ["model", .. primary.Select(c => $"{c.Task} {c.Metric.Metric}")],
            r.Models.Select(m => new[] { m.Name }.Concat(primary.Select(c => MainCell(r, c.Task, c.Metric, m.Name))).ToArray())
                .Append(["floor (no model)", .. primary.Select(c => FloorCell(r, c.Task, c.Metric))]));
        sb.Append(MainHint).Append("\n\n");
        if (chartFiles?.Contains("chart-tasks") == true) sb.Append("![Primary metric per task with floors and baselines](chart-tasks.png)\n\n");

        sb.Append("## Claims\n\n");
        Table(sb, ["#", "claim", "verdict", "evidence", "effect [95% CI]", "p", "Holm p", "reads"], ClaimLines(r));
        foreach (var c in r.Claims.Rows.Where(c => c.Note.Length > 0)) sb.Append(CultureInfo.InvariantCulture, $"- Claim {c.Number}: {c.Note}\n");
        sb.Append('\n').Append(ClaimsHint).Append("\n\n");

        sb.Append("## Degenerate answers\n\n");
        Table(sb, ["model", "task", "most frequent answer", "distinct", "repetition", "wrong language", "off-task", "flag"], DegeneracyRows(r));
        sb.Append(DegeneracyHint).Append("\n\n");

        sb.Append("## All metrics\n\n");
        var columns = MainColumns(r);
        Table(sb, ["model", .. columns.Select(c => $"{c.Task} {c.Metric.Metric}")],
            r.Models.Select(m => new[] { m.Name }.Concat(columns.Select(c => MainCell(r, c.Task, c.Metric, m.Name))).ToArray())
                .Append(["floor (no model)", .. columns.Select(c => FloorCell(r, c.Task, c.Metric))]));
        sb.Append("Cells: score [95% CI]; Δ vs the reference with its significance mark (unadjusted); *at floor*: not significantly above the floor on that metric.\n\n");
        sb.Append(Methods).Append("\n\n");

        sb.Append("## Paired statistics (each model vs the reference)\n\n");
        Table(sb, ["task", "metric", "model", "reference", "model score", "Δ", "95% CI", "p", "test", "n"],
            r.Tasks.SelectMany(t => t.Metrics.SelectMany(m => m.Comparisons.Select(c => PairRow(t.Task, m.Metric, m.UnitScale, c)))));

        sb.Append("## Off-task answers\n\n");
        Table(sb, ["model", .. r.Tasks.Select(t => t.Task)],
            r.Models.Select(m => new[] { m.Name }.Concat(r.Tasks.Select(t => OffTaskCell(t, m.Name))).ToArray()));
        sb.Append("Cells: off-task rate (Δ vs the reference, mark); reasons: ");
        sb.Append(string.Join("; ", r.Tasks.SelectMany(t => t.OffTask.Where(o => o.Reasons.Count > 0)
            .Select(o => $"{o.Model} {t.Task}: " + string.Join(", ", o.Reasons.Select(kv => $"{kv.Key} {Fmt.Percent(kv.Value)}"))))));
        sb.Append("\n\n");

        sb.Append("## Efficiency\n\n");
        Table(sb, ["model", .. r.Tasks.Select(t => t.Task + " tokens/item"), .. r.Tasks.Select(t => t.Task + " items/s")],
            r.Models.Select(m => new[] { m.Name }
                .Concat(r.Tasks.Select(t => t.Efficiency.FirstOrDefault(e => e.Model == m.Name) is { } e ? e.TokensPerItem.ToString("0.0", CultureInfo.InvariantCulture) : "–"))
                .Concat(r.Tasks.Select(t => t.Efficiency.FirstOrDefault(e => e.Model == m.Name) is { } e ? e.ItemsPerSecond.ToString("0.00", CultureInfo.InvariantCulture) : "–")).ToArray()));

        sb.Append("## Template robustness\n\n");
        var templates = r.Tasks.SelectMany(t => t.Templates.Select(e => (t.Task, e, Unit: t.Metrics.FirstOrDefault(m => m.Metric == e.Metric)?.UnitScale ?? true))).ToList();
        if (templates.Count == 0) sb.Append("No model was asked with more than one template.\n\n");
        else
            Table(sb, ["model", "task", "metric", "per template", "mean ± sd"], templates.Select(x => new[]
            {
                x.e.Model, x.Task, x.e.Metric, string.Join(", ", x.e.ByTemplate.Select(kv => $"{kv.Key} {Fmt.Score(kv.Value, x.Unit)}")),
                $"{Fmt.Score(x.e.Mean, x.Unit)} ± {Fmt.Score(x.e.Sd, x.Unit)}",
            }));

        sb.Append("## Contamination (13-gram overlap)\n\n");
        if (r.Contamination.Count == 0) sb.Append("Not checked.\n\n");
        else
        {
            Table(sb, ["test set", "corpus", "items", "items with ≥13 words", "items overlapping", "test 13-grams found"],
                r.Contamination.Select(c => new[]
                {
                    c.TestSet, c.Corpus, c.Items.ToString(CultureInfo.InvariantCulture), c.EligibleItems.ToString(CultureInfo.InvariantCulture),
                    $"{c.OverlappingItems} ({Fmt.Percent(c.OverlappingShare)})", $"{c.FoundNgrams} / {c.TestNgrams} ({Fmt.Percent(c.NgramShare)})",
                }));
            sb.Append("Words: lowercased runs of letters and digits; 13-grams within one field of a record; 64-bit hashes.\n\n");
        }

        sb.Append("## Examples\n\n");
        foreach (var t in r.Tasks)
            foreach (var e in t.Examples)
            {
                sb.Append(CultureInfo.InvariantCulture, $"### {t.Task} · {e.Id}\n\n");
                Table(sb, ["", "text"], new[] { new[] { "input", Clip(e.Input) }, ["reference", Clip(e.Reference)] }
                    .Concat(e.Outputs.Select(o => new[] { $"{o.Model} ({o.Template}){(o.OffTask ? " off-task" : "")}", Clip(o.Output) })));
            }

        sb.Append("## Training curves\n\n");
        if (r.Curves.Count == 0) sb.Append("No metrics.jsonl found (give --logs DIR).\n\n");
        else
            foreach (var c in r.Curves)
            {
                var last = c.Points.LastOrDefault(p => p.Loss is not null);
                var lastDev = c.Points.LastOrDefault(p => p.DevLoss is not null);
                sb.Append(CultureInfo.InvariantCulture, $"- {c.Label}: `{c.Path}`, {c.Points.Count} points");
                if (last is not null) sb.Append(CultureInfo.InvariantCulture, $", final loss {last.Loss:0.000} at step {last.Step}");
                if (lastDev is not null) sb.Append(CultureInfo.InvariantCulture, $", dev loss {lastDev.DevLoss:0.000} at step {lastDev.Step}");
                sb.Append('\n');
            }
        sb.Append('\n');

        if (r.Warnings.Count > 0)
        {
            sb.Append("## Warnings\n\n");
            foreach (string w in r.Warnings) sb.Append("- ").Append(w).Append('\n');
            sb.Append('\n');
        }
        sb.Append("## Models\n\n");
        Table(sb, ["model", "kind", "role", "base", "weights", "model path", "model hash", "data hash"],
            r.Models.Select(m => new[] { m.Name, m.Kind, m.Role ?? "–", m.Base ?? "–", Provenance.Of(m.Model).Text, m.Model, m.ModelHash, m.DataHash }));
        sb.Append("Pairing: ").Append(r.Pairing).Append(".\n");
        return sb.ToString();
    }

    /// <summary>
    /// The report as one self-contained HTML page with <paramref name="charts"/> embedded as base64 PNG;
    /// <paramref name="chartsNotice"/>, when given, is said under the summary (why there are no charts).
    /// </summary>
    public static string Html(ComparisonReport r, IReadOnlyList<ReportChart> charts, string? chartsNotice = null)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(charts);
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.Append("<title>Tailor comparison report</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n<main>\n");
        h.Append("<h1>Tailor comparison report</h1>\n");
        h.Append(CultureInfo.InvariantCulture, $"<p class=\"meta\">Reference model: <b>{E(r.Reference)}</b> · seed {r.Seed} · {r.Resamples} resamples · {r.Created:yyyy-MM-dd HH:mm} UTC · {E(r.Tool)}</p>\n");
        h.Append("<nav>").Append(string.Join(" · ", new[] { ("summary", "Summary"), ("main", "Main table"), ("claims", "Claims"), ("degeneracy", "Degenerate answers"),
            ("all", "All metrics"), ("paired", "Paired statistics"), ("offtask", "Off-task"), ("efficiency", "Efficiency"), ("templates", "Templates"),
            ("contamination", "Contamination"), ("examples", "Examples"), ("curves", "Training curves") }
            .Select(x => $"<a href=\"#{x.Item1}\">{x.Item2}</a>"))).Append("</nav>\n");

        h.Append("<section id=\"summary\" class=\"summary\">\n<ul>\n");
        foreach (string sentence in r.Summary ?? ReportSummary.Sentences(r)) h.Append("<li>").Append(E(sentence)).Append("</li>\n");
        h.Append("</ul>\n</section>\n");
        if (chartsNotice is not null) h.Append("<p id=\"no-charts\" class=\"hint\">").Append(E(chartsNotice)).Append("</p>\n");
        foreach (var chart in charts.Where(c => c.Id == "chart-forest")) Figure(h, chart);
        if (charts.Any(c => c.Id == "chart-forest")) h.Append(CultureInfo.InvariantCulture, $"<p class=\"hint\">{E(ForestHint)}</p>\n");

        h.Append("<h2 id=\"main\">Main table</h2>\n");
        ScoreTable(h, "main-table", r, PrimaryColumns(r));
        h.Append(CultureInfo.InvariantCulture, $"<p class=\"hint\">{E(MainHint)} Green: significantly better than the reference (p &lt; 0.05, unadjusted), red: significantly worse.</p>\n");
        foreach (var chart in charts.Where(c => c.Id == "chart-tasks")) Figure(h, chart);

        h.Append("<h2 id=\"claims\">Claims</h2>\n<table id=\"claims-table\" class=\"claims\"><thead><tr><th>#</th><th>claim</th><th>verdict</th><th>evidence</th><th>effect [95% CI]</th><th>p</th><th>Holm p</th><th>reads</th></tr></thead><tbody>\n");
        foreach (var c in r.Claims.Rows)
        {
            string cls = VerdictClass(c.Verdict);
            int span = Math.Max(1, c.Evidence.Count);
            string head = $"<td rowspan=\"{span}\">{c.Number}</td><td rowspan=\"{span}\">{E(c.Claim)}<div class=\"metric\">{E(c.Measure)}, claimed {E(c.Direction)}</div>{(c.Note.Length > 0 ? $"<div class=\"note\">{E(c.Note)}</div>" : "")}</td><td rowspan=\"{span}\" class=\"verdict {cls}\">{ClaimsTable.Words(c.Verdict)}</td>";
            if (c.Evidence.Count == 0)
            {
                h.Append("<tr class=\"claim-start\">").Append(head).Append("<td colspan=\"5\" class=\"na\">–</td></tr>\n");
                continue;
            }
            for (int i = 0; i < c.Evidence.Count; i++)
            {
                var e = c.Evidence[i];
                string st = e.Status switch { EvidenceStatus.Supports => "sup", EvidenceStatus.Against => "against", EvidenceStatus.Uninformative => "uninf", _ => "inc" };
                h.Append(i == 0 ? "<tr class=\"claim-start\">" + head : "<tr>");
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"ev\">{E(e.Label)}</td><td class=\"num\">{E(e.Text)}</td><td class=\"num\">{Fmt.P(e.PValue)}</td><td class=\"num\">{Fmt.P(e.AdjustedPValue)}</td>");
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"status {st}\"{(e.Caveat is null ? "" : $" title=\"{E(e.Caveat)}\"")}>{ClaimsTable.Words(e.Status)}</td></tr>\n");
            }
        }
        h.Append(CultureInfo.InvariantCulture, $"</tbody></table>\n<p class=\"hint\">{E(ClaimsHint)}</p>\n");

        h.Append("<h2 id=\"degeneracy\">Degenerate answers</h2>\n");
        HtmlTable(h, "degeneracy-table", ["model", "task", "most frequent answer", "distinct", "repetition", "wrong language", "off-task", "flag"], DegeneracyRows(r));
        h.Append(CultureInfo.InvariantCulture, $"<p class=\"hint\">{E(DegeneracyHint)}</p>\n");

        h.Append("<h2 id=\"all\">All metrics</h2>\n");
        ScoreTable(h, "all-metrics", r, MainColumns(r));
        h.Append(CultureInfo.InvariantCulture, $"<p class=\"hint\">{E(Methods)}</p>\n");

        h.Append("<h2 id=\"paired\">Paired statistics</h2>\n");
        HtmlTable(h, "paired-table", ["task", "metric", "model", "reference", "model score", "Δ", "95% CI", "p", "test", "n"],
            r.Tasks.SelectMany(t => t.Metrics.SelectMany(m => m.Comparisons.Select(c => PairRow(t.Task, m.Metric, m.UnitScale, c)))));

        h.Append("<h2 id=\"offtask\">Off-task answers</h2>\n");
        HtmlTable(h, "offtask-table", ["model", .. r.Tasks.Select(t => t.Task)],
            r.Models.Select(m => new[] { m.Name }.Concat(r.Tasks.Select(t => OffTaskCell(t, m.Name))).ToArray()));
        var reasons = r.Tasks.SelectMany(t => t.OffTask.Where(o => o.Reasons.Count > 0)
            .Select(o => $"{o.Model} · {t.Task}: " + string.Join(", ", o.Reasons.Select(kv => $"{kv.Key} {Fmt.Percent(kv.Value)}")))).ToList();
        if (reasons.Count > 0) h.Append("<p class=\"hint\">Reasons: ").Append(E(string.Join("; ", reasons))).Append("</p>\n");
        foreach (var chart in charts.Where(c => c.Id == "chart-offtask")) Figure(h, chart);

        h.Append("<h2 id=\"efficiency\">Efficiency</h2>\n");
        HtmlTable(h, "efficiency-table", ["model", .. r.Tasks.Select(t => t.Task + " tokens/item"), .. r.Tasks.Select(t => t.Task + " items/s")],
            r.Models.Select(m => new[] { m.Name }
                .Concat(r.Tasks.Select(t => t.Efficiency.FirstOrDefault(e => e.Model == m.Name) is { } e ? e.TokensPerItem.ToString("0.0", CultureInfo.InvariantCulture) : "–"))
                .Concat(r.Tasks.Select(t => t.Efficiency.FirstOrDefault(e => e.Model == m.Name) is { } e ? e.ItemsPerSecond.ToString("0.00", CultureInfo.InvariantCulture) : "–")).ToArray()));

        h.Append("<h2 id=\"templates\">Template robustness</h2>\n");
        var templates = r.Tasks.SelectMany(t => t.Templates.Select(e => (t.Task, e, Unit: t.Metrics.FirstOrDefault(m => m.Metric == e.Metric)?.UnitScale ?? true))).ToList();
        if (templates.Count == 0) h.Append("<p>No model was asked with more than one template.</p>\n");
        else
            HtmlTable(h, "templates-table", ["model", "task", "metric", "per template", "mean ± sd"], templates.Select(x => new[]
            {
                x.e.Model, x.Task, x.e.Metric, string.Join(", ", x.e.ByTemplate.Select(kv => $"{kv.Key} {Fmt.Score(kv.Value, x.Unit)}")),
                $"{Fmt.Score(x.e.Mean, x.Unit)} ± {Fmt.Score(x.e.Sd, x.Unit)}",
            }));

        h.Append("<h2 id=\"contamination\">Contamination (13-gram overlap)</h2>\n");
        if (r.Contamination.Count == 0) h.Append("<p>Not checked.</p>\n");
        else
        {
            HtmlTable(h, "contamination-table", ["test set", "corpus", "items", "items with ≥13 words", "items overlapping", "test 13-grams found"],
                r.Contamination.Select(c => new[]
                {
                    c.TestSet, c.Corpus, c.Items.ToString(CultureInfo.InvariantCulture), c.EligibleItems.ToString(CultureInfo.InvariantCulture),
                    $"{c.OverlappingItems} ({Fmt.Percent(c.OverlappingShare)})", $"{c.FoundNgrams} / {c.TestNgrams} ({Fmt.Percent(c.NgramShare)})",
                }));
            h.Append("<p class=\"hint\">Words: lowercased runs of letters and digits; 13-grams within one field of a record, as 64-bit hashes.</p>\n");
        }

        h.Append("<h2 id=\"examples\">Examples</h2>\n");
        foreach (var t in r.Tasks)
            foreach (var e in t.Examples)
            {
                h.Append(CultureInfo.InvariantCulture, $"<h3>{E(t.Task)} · {E(e.Id)}</h3>\n<table class=\"example\"><tbody>");
                h.Append(CultureInfo.InvariantCulture, $"<tr><th>input</th><td><pre>{E(Clip(e.Input))}</pre></td></tr><tr><th>reference</th><td><pre>{E(Clip(e.Reference))}</pre></td></tr>");
                foreach (var o in e.Outputs)
                    h.Append(CultureInfo.InvariantCulture, $"<tr><th>{E(o.Model)} <span class=\"metric\">{E(o.Template)}</span>{(o.OffTask ? " <span class=\"off\">off-task</span>" : "")}</th><td><pre>{E(Clip(o.Output))}</pre></td></tr>");
                h.Append("</tbody></table>\n");
            }

        h.Append("<h2 id=\"curves\">Training curves</h2>\n");
        if (r.Curves.Count == 0) h.Append("<p>No metrics.jsonl found (give --logs DIR).</p>\n");
        foreach (var chart in charts.Where(c => c.Id == "chart-curves")) Figure(h, chart);
        if (r.Curves.Count > 0)
            h.Append("<ul class=\"hint\">").Append(string.Join("", r.Curves.Select(c => $"<li>{E(c.Label)}: <code>{E(c.Path)}</code>, {c.Points.Count} points</li>"))).Append("</ul>\n");

        if (r.Warnings.Count > 0)
            h.Append("<h2 id=\"warnings\">Warnings</h2>\n<ul>").Append(string.Join("", r.Warnings.Select(w => $"<li>{E(w)}</li>"))).Append("</ul>\n");
        h.Append("<h2>Models</h2>\n");
        HtmlTable(h, "models-table", ["model", "kind", "role", "base", "weights", "model path", "model hash", "data hash"],
            r.Models.Select(m => new[] { m.Name, m.Kind, m.Role ?? "–", m.Base ?? "–", Provenance.Of(m.Model).Text, m.Model, m.ModelHash, m.DataHash }));
        h.Append(CultureInfo.InvariantCulture, $"<p class=\"hint\">Pairing: {E(r.Pairing)}.</p>\n");
        h.Append("</main>\n<script>\n").Append(ImageCheck).Append("</script>\n</body>\n</html>\n");
        return h.ToString();
    }

    // Marks the page once every chart decoded, so a headless browser (and a reader's devtools) can tell.
    private const string ImageCheck =
        "window.addEventListener('load', function () {\n" +
        "  var imgs = Array.prototype.slice.call(document.images);\n" +
        "  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;\n" +
        "  document.body.setAttribute('data-images', String(imgs.length));\n" +
        "  document.body.setAttribute('data-images-ok', String(ok));\n" +
        "});\n";

    private const string Css =
        "body{font-family:'DejaVu Sans',system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;background:#fafafa;margin:0}\n" +
        "main{max-width:1200px;margin:0 auto;padding:16px 24px 48px;background:#fff}\n" +
        "h1{font-size:1.6em;margin:0.4em 0}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.8em}h3{font-size:1em;margin:1.2em 0 0.3em}\n" +
        ".meta,.hint{color:#555;font-size:0.85em}nav{font-size:0.9em;margin:8px 0 4px}nav a{color:#2563a8;text-decoration:none}\n" +
        "table{border-collapse:collapse;font-size:0.85em;margin:8px 0;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}\n" +
        "thead th{background:#f0f3f7}td.score{text-align:right;white-space:nowrap}.ci{color:#777;font-size:0.9em}.d{font-size:0.9em}\n" +
        "td.better{background:#e6f4ea}td.worse{background:#fbe9e9}.metric{color:#666;font-weight:normal;font-size:0.9em}.ref{background:#eef;border-radius:3px;padding:0 4px;font-size:0.8em;font-weight:normal}\n" +
        ".verdict{font-weight:bold;white-space:nowrap}.verdict.yes{color:#1b7a36}.verdict.no{color:#b3261e}.verdict.mixed{color:#9a6700}.verdict.uninf{color:#b35c00}.verdict.na{color:#777}\n" +
        ".note{color:#777;font-size:0.9em;margin-top:3px}.off{color:#b3261e;font-size:0.85em}td.num{text-align:right;white-space:nowrap}\n" +
        ".status{white-space:nowrap}.status.sup{color:#1b7a36;font-weight:bold}.status.against{color:#b3261e}.status.inc{color:#777}.status.uninf{color:#b35c00}\n" +
        "tr.claim-start td{border-top:2px solid #bbb}.flag{color:#b35c00;font-size:0.85em;font-weight:bold}tr.floor th,tr.floor td{background:#f6f6f6;font-style:italic}.how{white-space:normal;color:#666;font-size:0.85em;text-align:left}\n" +
        ".summary{background:#f4f7fb;border-left:4px solid #2563a8;padding:4px 12px;margin:10px 0}.summary li{margin:4px 0;line-height:1.4}\n" +
        "pre{white-space:pre-wrap;word-break:break-word;margin:0;font-family:'DejaVu Sans Mono',monospace;font-size:0.95em}table.example th{width:22%}\n" +
        "figure{margin:12px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:0.85em}\n";

    private static void Figure(StringBuilder h, ReportChart chart) =>
        h.Append(CultureInfo.InvariantCulture, $"<figure id=\"{chart.Id}\"><img alt=\"{E(chart.Title)}\" src=\"data:image/png;base64,{Convert.ToBase64String(chart.Png)}\"><figcaption>{E(chart.Title)}</figcaption></figure>\n");

    private static List<(string Task, MetricReport Metric)> MainColumns(ComparisonReport r) =>
        [.. r.Tasks.SelectMany(t => t.Metrics.Select(m => (t.Task, m)))];

    private static List<(string Task, MetricReport Metric)> PrimaryColumns(ComparisonReport r) =>
        [.. r.Tasks.Where(t => t.Primary is not null).Select(t => (t.Task, t.Primary!))];

    private static string MainCell(ComparisonReport r, string task, MetricReport m, string model)
    {
        var s = m.Scores.FirstOrDefault(x => x.Model == model);
        if (s is null) return "–";
        var c = m.Comparisons.FirstOrDefault(x => x.Model == model);
        string cell = $"{Fmt.Score(s.Value, m.UnitScale)} [{Fmt.Score(s.Low, m.UnitScale)}, {Fmt.Score(s.High, m.UnitScale)}]";
        cell = c is null ? (model == r.Reference ? cell + " (ref)" : cell) : cell + $" Δ{Fmt.Signed(c.Delta, m.UnitScale)}{c.Mark}";
        return cell + string.Concat(Marks(r, task, m, model).Select(x => $" *{x}*"));
    }

    /// <summary>"at floor" and "degenerate" marks of a model's cell.</summary>
    private static IEnumerable<string> Marks(ComparisonReport r, string task, MetricReport m, string model)
    {
        if (m.AtFloor(model)) yield return "at floor";
        if (r.Tasks.FirstOrDefault(t => t.Task == task)?.DegeneracyOf(model) is { Degenerate: true }) yield return "degenerate";
    }

    private static string FloorCell(ComparisonReport r, string task, MetricReport m)
    {
        if (m.Floor is not { } f) return "–";
        string how = r.Tasks.FirstOrDefault(t => t.Task == task)?.Floor ?? "";
        return $"{Fmt.Score(f.Value, m.UnitScale)} [{Fmt.Score(f.Low, m.UnitScale)}, {Fmt.Score(f.High, m.UnitScale)}] ({how})";
    }

    private static IEnumerable<string[]> ClaimLines(ComparisonReport r)
    {
        foreach (var c in r.Claims.Rows)
        {
            string number = c.Number.ToString(CultureInfo.InvariantCulture), verdict = "**" + ClaimsTable.Words(c.Verdict) + "**";
            if (c.Evidence.Count == 0)
            {
                yield return [number, c.Claim, verdict, "–", "", "", "", ""];
                continue;
            }
            for (int i = 0; i < c.Evidence.Count; i++)
            {
                var e = c.Evidence[i];
                yield return
                [
                    i == 0 ? number : "", i == 0 ? $"{c.Claim} ({c.Measure}, {c.Direction})" : "", i == 0 ? verdict : "",
                    e.Label, e.Text, Fmt.P(e.PValue), Fmt.P(e.AdjustedPValue),
                    ClaimsTable.Words(e.Status) + (e.Caveat is null ? "" : ": " + e.Caveat),
                ];
            }
        }
    }

    private static IEnumerable<string[]> DegeneracyRows(ComparisonReport r) =>
        r.Tasks.SelectMany(t => (t.Degeneracy ?? []).Select(d => new[]
        {
            d.Model, t.Task, $"{d.TopAnswer} ({Fmt.Percent(d.TopShare)})", Fmt.Percent(d.DistinctShare), Fmt.Percent(d.RepetitionRate),
            d.WrongLanguageRate is double w ? Fmt.Percent(w) : "–", Fmt.Percent(d.OffTaskRate), d.Degenerate ? string.Join("; ", d.Flags) : "",
        }));

    private static string VerdictClass(Verdict v) =>
        v switch { Verdict.Supported => "yes", Verdict.NotSupported => "no", Verdict.Mixed => "mixed", Verdict.Uninformative => "uninf", _ => "na" };

    private static void ScoreTable(StringBuilder h, string id, ComparisonReport r, List<(string Task, MetricReport Metric)> columns)
    {
        h.Append(CultureInfo.InvariantCulture, $"<table id=\"{id}\" class=\"main\"><thead><tr><th>model</th>");
        foreach (var c in columns) h.Append(CultureInfo.InvariantCulture, $"<th>{E(c.Task)}<br><span class=\"metric\">{E(c.Metric.Metric)}</span></th>");
        h.Append("</tr></thead><tbody>\n");
        foreach (var m in r.Models)
        {
            h.Append(CultureInfo.InvariantCulture, $"<tr><th>{E(m.Name)}{(m.Name == r.Reference ? " <span class=\"ref\">reference</span>" : "")}{(m.Role == "baseline" ? " <span class=\"ref\">baseline</span>" : "")}</th>");
            foreach (var c in columns)
            {
                var s = c.Metric.Scores.FirstOrDefault(x => x.Model == m.Name);
                var cmp = c.Metric.Comparisons.FirstOrDefault(x => x.Model == m.Name);
                if (s is null)
                {
                    h.Append("<td class=\"na\">–</td>");
                    continue;
                }
                string cls = cmp is null ? "" : cmp.Better ? " better" : cmp.Mark.Length > 0 ? " worse" : "";
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"score{cls}\" data-model=\"{E(m.Name)}\" data-task=\"{E(c.Task)}\" data-metric=\"{E(c.Metric.Metric)}\">");
                h.Append(CultureInfo.InvariantCulture, $"<span class=\"v\">{Fmt.Score(s.Value, c.Metric.UnitScale)}</span> <span class=\"ci\">[{Fmt.Score(s.Low, c.Metric.UnitScale)}, {Fmt.Score(s.High, c.Metric.UnitScale)}]</span>");
                if (cmp is not null) h.Append(CultureInfo.InvariantCulture, $"<br><span class=\"d\">Δ {Fmt.Signed(cmp.Delta, c.Metric.UnitScale)}<sup>{cmp.Mark}</sup></span>");
                foreach (string mark in Marks(r, c.Task, c.Metric, m.Name))
                    h.Append(CultureInfo.InvariantCulture, $"<br><span class=\"flag\">{mark}</span>");
                h.Append("</td>");
            }
            h.Append("</tr>\n");
        }
        h.Append("<tr class=\"floor\"><th>floor <span class=\"metric\">no model</span></th>");
        foreach (var c in columns)
        {
            if (c.Metric.Floor is not { } f)
            {
                h.Append("<td class=\"na\">–</td>");
                continue;
            }
            string how = r.Tasks.FirstOrDefault(t => t.Task == c.Task)?.Floor ?? "";
            h.Append(CultureInfo.InvariantCulture, $"<td class=\"score\" data-floor=\"{E(c.Task)}\" data-metric=\"{E(c.Metric.Metric)}\"><span class=\"v\">{Fmt.Score(f.Value, c.Metric.UnitScale)}</span> <span class=\"ci\">[{Fmt.Score(f.Low, c.Metric.UnitScale)}, {Fmt.Score(f.High, c.Metric.UnitScale)}]</span><div class=\"how\">{E(how)}</div></td>");
        }
        h.Append("</tr>\n</tbody></table>\n");
    }

    private static string[] PairRow(string task, string metric, bool unit, ComparisonEntry c) =>
    [
        task, metric, c.Model, $"{c.Reference} {Fmt.Score(c.ReferenceScore, unit)}", Fmt.Score(c.ModelScore, unit),
        Fmt.Signed(c.Delta, unit) + c.Mark, $"[{Fmt.Signed(c.Low, unit)}, {Fmt.Signed(c.High, unit)}]", Fmt.P(c.PValue), c.Test,
        c.Units.ToString(CultureInfo.InvariantCulture),
    ];

    private static string OffTaskCell(TaskReport t, string model)
    {
        var o = t.OffTask.FirstOrDefault(x => x.Model == model);
        if (o is null) return "–";
        return o.Comparison is { } c ? $"{Fmt.Percent(o.Rate)} (Δ {Fmt.Signed(100 * c.Delta, false)} pt{c.Mark})" : Fmt.Percent(o.Rate);
    }

    private static string Clip(string s) => s.Length <= 600 ? s : s[..600] + " …";

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static void Table(StringBuilder sb, IReadOnlyList<string> header, IEnumerable<string[]> rows)
    {
        sb.Append("| ").Append(string.Join(" | ", header.Select(Md))).Append(" |\n");
        sb.Append('|').Append(string.Concat(header.Select(_ => "---|"))).Append('\n');
        foreach (var row in rows) sb.Append("| ").Append(string.Join(" | ", row.Select(Md))).Append(" |\n");
        sb.Append('\n');
    }

    private static string Md(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "<br>", StringComparison.Ordinal);

    private static void HtmlTable(StringBuilder h, string id, IReadOnlyList<string> header, IEnumerable<string[]> rows)
    {
        h.Append(CultureInfo.InvariantCulture, $"<table id=\"{id}\"><thead><tr>").Append(string.Concat(header.Select(x => $"<th>{E(x)}</th>"))).Append("</tr></thead><tbody>\n");
        foreach (var row in rows) h.Append("<tr>").Append(string.Concat(row.Select(x => $"<td>{E(x)}</td>"))).Append("</tr>\n");
        h.Append("</tbody></table>\n");
    }
}
