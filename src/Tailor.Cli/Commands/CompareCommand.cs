using Tailor.Recipes;
using Tailor.Evaluation.Report;
using Tailor.Report.Charts;

namespace Tailor.Cli.Commands;

/// <summary>`tailor compare`: paired statistics, claims and a report over evaluation folders.</summary>
public sealed class CompareCommand : Command
{
    public override string Name => "compare";

    public override string Summary => "compare evaluations with paired statistics: report.md, report.html, results.json, claims";

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor compare EVAL_DIR EVAL_DIR [...] --output DIR [options]",
            "Pairs the items of evaluation folders written by `tailor eval` and compares every model with a reference:\n" +
            "accuracy by McNemar's exact test, every metric by a seeded paired bootstrap (corpus BLEU/chrF recomputed on each\n" +
            "resample), 95% intervals; scores each task's no-model floor (majority train label, source copied, lead words) on\n" +
            "the same items and flags models not above it or degenerate; judges the claims about instruction tuning (Holm-adjusted\n" +
            "per claim; uninformative when the better model is at floor or degenerate); checks 13-gram contamination.",
            RecipeCommandLine.Specs<CompareOptions>(), int.MaxValue);
        if (cl is null) return 0;
        var options = RecipeCommandLine.Load(cl, new CompareOptions()) with { Inputs = cl.Positionals };
        RecipeCommandLine.Validate<CompareOptions>(options.Validate);
        var report = Compare.Run(options, s => Console.Error.WriteLine(s), new ScottPlotCharts());
        Console.WriteLine(report.Claims.ToText());
        Console.WriteLine($"report: {Path.Combine(options.Output, "report.html")}");
        return 0;
    }
}
