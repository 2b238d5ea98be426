using Tailor.Recipes;
using Tailor.Evaluation.Report;
using Tailor.Evaluation.Statistics;
using Tailor.Report.Charts;

namespace Tailor.Cli.Commands;

/// <summary>`tailor compare`: paired statistics, claims and a report over evaluation folders.</summary>
public sealed class CompareCommand : Command
{
    public override string Name => "compare";

    public override string Summary => "compare evaluations with paired statistics: report.md, report.html, results.json, claims";

    private static readonly OptionSpec[] Specs =
    [
        new("--output", "DIR", "where report.md, report.html and results.json go (required)"),
        new("--baseline", "NAME", "reference model (folder name); default: the base model by role, else the first folder"),
        new("--seed", "N", "bootstrap seed (default 12345, as sacreBLEU)"),
        new("--resamples", "N", "bootstrap resamples (default 1000)"),
        new("--roles", "FILE", "JSON: {\"FOLDER\": {\"role\": \"base|base-kshot|finetuned|instruct|instruct-vague|baseline\", \"base\": \"small\"}}; default: from results.json's kind"),
        new("--logs", "DIR", "training output folder with metrics.jsonl to draw (repeatable); model folders in results.json are searched too", Repeatable: true),
        new("--data", "DIR", "task data with {task}.test.jsonl and *.train.jsonl: the contamination check, and the floors' train split (and inputs, for folders written before predictions recorded them) (default data/tasks)"),
        new("--pretrain", "PATH", "pre-training corpus, JSONL file or folder (default data/pretrain/train.jsonl, else data/pretrain/subset)"),
        new("--no-contamination", null, "skip the 13-gram contamination check"),
        new("--examples", "N", "example items per task (default 3)"),
    ];

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor compare EVAL_DIR EVAL_DIR [...] --output DIR [options]",
            "Pairs the items of evaluation folders written by `tailor eval` and compares every model with a reference:\n" +
            "accuracy by McNemar's exact test, every metric by a seeded paired bootstrap (corpus BLEU/chrF recomputed on each\n" +
            "resample), 95% intervals; scores each task's no-model floor (majority train label, source copied, lead words) on\n" +
            "the same items and flags models not above it or degenerate; judges the claims about instruction tuning (Holm-adjusted\n" +
            "per claim; uninformative when the better model is at floor or degenerate); checks 13-gram contamination.", Specs, int.MaxValue);
        if (cl is null) return 0;
        if (cl.Positionals.Count < 2) throw new UsageException("give at least two evaluation folders.");
        var options = new CompareOptions
        {
            Inputs = cl.Positionals,
            Output = cl.Required("--output"),
            Baseline = cl.String("--baseline"),
            Seed = (ulong)cl.Int("--seed", 12345, 0),
            Resamples = cl.Int("--resamples", 1000, BootstrapOptions.MinResamples, BootstrapOptions.MaxResamples),
            Roles = cl.String("--roles"),
            Logs = cl.All("--logs"),
            Data = cl.String("--data", "data/tasks")!,
            Pretrain = cl.String("--pretrain"),
            NoContamination = cl.Flag("--no-contamination"),
            Examples = cl.Int("--examples", 3, 0, 100),
        };
        var report = Compare.Run(options, s => Console.Error.WriteLine(s), new ScottPlotCharts());
        Console.WriteLine(report.Claims.ToText());
        Console.WriteLine($"report: {Path.Combine(options.Output, "report.html")}");
        return 0;
    }
}
