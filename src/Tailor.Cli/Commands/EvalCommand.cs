using System.Globalization;
using Tailor.Recipes;
using Tailor.Training;
using Tailor.Evaluation;

namespace Tailor.Cli.Commands;

/// <summary>`tailor eval`: score a model, an endpoint or a classic baseline on the tasks; results.json + predictions.jsonl.</summary>
public sealed class EvalCommand : Command
{
    public override string Name => "eval";

    public override string Summary => "evaluate a model, an OpenAI-compatible endpoint or a classic baseline on the tasks (exact metrics, off-task rates)";

    public override int Run(string[] args)
    {
        var specs = RecipeCommandLine.Specs<EvalOptions>();
        var cl = Parse(args, "tailor eval (--model DIR | --endpoint URL | --baseline NAME) [--KEY VALUE ...]",
            "Asks every test item of each task (greedy; the answer ends at the end of turn or of its first line of text), scores answers with sacreBLEU's BLEU and\n" +
            "chrF, rouge-score's ROUGE, accuracy and macro-F1; ranks label options by log-likelihood; flags off-task answers.\n" +
            "Writes OUTPUT/results.json (per-task metrics, signatures, off-task rates, tokens/item, items/s, per template) and\n" +
            "OUTPUT/predictions.jsonl (one line per item, for `tailor compare`).\nDefaults and their reasons:", specs);
        if (cl is null)
        {
            Console.WriteLine(RecipeOptions.Describe(new EvalOptions()));
            return 0;
        }
        var options = RecipeCommandLine.Load(cl, new EvalOptions());
        RecipeCommandLine.Validate<EvalOptions>(options.Validate);
        var bar = new ProgressBar(Name);
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var (run, _) = Evaluate.Run(options, p => bar.Items(p.Task, p.Done, p.Total, p.Elapsed), bar.Line, cancel.Token);
            bar.Finish();
            Console.WriteLine($"{run.Name} ({run.Kind}, {run.Shots}-shot)");
            foreach (var t in run.Tasks)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {t.Task,-20} n={t.Items,-5} {string.Join("  ", t.Metrics.Select(kv => $"{kv.Key} {kv.Value:0.####}"))}  off-task {t.OffTaskRate:P1}"));
            Console.WriteLine($"results: {Path.Combine(options.Output, Evaluation.EvalRun.ResultsFile)}");
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
