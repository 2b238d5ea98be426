using System.Globalization;
using Tailor.Training;
using Tailor.Pipeline;
using Tailor.Report.Charts;

namespace Tailor.Cli.Commands;

/// <summary>`tailor run`: the main job — tune, evaluate and compare, end to end, with verdicts on the seed's claims.</summary>
public sealed class RunCommand : Command
{
    public override string Name => "run";

    public override string Summary => "the main job: fine-tune and instruction-tune the shipped bases, evaluate everything, report with statistics and verdicts";

    public override int Run(string[] args)
    {
        var specs = RecipeCommandLine.Specs<RunOptions>();
        var cl = Parse(args, "tailor run [--profile default|full|smoke] [--KEY VALUE ...]",
            "Reproduces the experiment end to end: from each base model a task fine-tune (no instructions) and an instruction\n" +
            "tune (plus, on the first base, one with vague instructions); a real pretrained encoder (--encoder, all-MiniLM-L6-v2)\n" +
            "fine-tuned into a sentiment classifier, the seed's fine-tuned BERT; evaluation of every model, the bases zero- and k-shot\n" +
            "and classic baselines (AFINN, Lead-1, copy) on every test set; then the report: main table, paired statistics,\n" +
            "off-task rates, robustness, contamination and the claims table. Re-running skips stages whose inputs did not\n" +
            "change (--force true redoes them); an interrupted run resumes. Everything lands in runs/run-<timestamp>/.\n" +
            "The profiles (an option left null takes its profile's value):\n" + RunProfile.Table() + "Defaults and their reasons:", specs);
        if (cl is null)
        {
            Console.WriteLine(RecipeOptions.Describe(new RunOptions()));
            return 0;
        }
        var loaded = RecipeCommandLine.Load(cl, new RunOptions());
        RunOptions options = loaded;
        RecipeCommandLine.Validate<RunOptions>(() => options = loaded.Resolve());
        var bar = new ProgressBar("run");
        string stage = "";
        var events = new RunEvents
        {
            StageStarted = (i, n, name, description) =>
            {
                stage = name;
                bar.Line($"[{i}/{n}] {name}: {description}");
            },
            StageFinished = (name, elapsed, skipped) => bar.Line(skipped
                ? $"{name}: unchanged, skipped"
                : $"{name}: done in {ProgressBar.Format(elapsed)}"),
            Train = p => bar.Report(p),
            Items = (what, done, total, elapsed) => bar.Items($"{stage} {what}", done, total, elapsed),
            Say = bar.Line,
        };
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;
            e.Cancel = true;
            cancel.Cancel();
            bar.Line("Ctrl-C: stopping after a checkpoint; run again to resume");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var result = MainJob.Run(options, events, new ScottPlotCharts(), cancel.Token);
            bar.Finish();
            Console.WriteLine();
            Console.WriteLine(result.MainTable);
            if (File.Exists(Path.Combine(result.Report, "claims.md")))
                Console.WriteLine(File.ReadAllText(Path.Combine(result.Report, "claims.md")));
            Console.WriteLine("where the time went:");
            foreach (var s in result.Stages)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {s.Name,-32} {(s.Skipped ? "skipped" : ProgressBar.Format(TimeSpan.FromSeconds(s.Seconds))),8}"));
            foreach (var kind in result.Stages.GroupBy(s => s.Kind))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"total " + kind.Key,-32} {ProgressBar.Format(TimeSpan.FromSeconds(kind.Sum(s => s.Seconds))),8}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"wall time",-32} {ProgressBar.Format(result.Elapsed),8}"));
            Console.WriteLine($"report: {Path.Combine(result.Report, "report.html")}");
            return 0;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            bar.Finish();
            Console.Error.WriteLine("tailor run: interrupted; run the same command again to resume where it stopped.");
            return 130;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
