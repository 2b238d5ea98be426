using Tailor.Recipes;
using Tailor.Training;

namespace Tailor.Cli.Commands;

/// <summary>`tailor pretrain`: the pre-training recipe with a recipe file and --key value overrides.</summary>
public sealed class PretrainCommand : Command
{
    public override string Name => "pretrain";

    public override string Summary => "pre-train a base model on a text corpus (recipe file + --key value overrides)";

    public override int Run(string[] args)
    {
        var keys = RecipeOptions.Keys<PretrainOptions>();
        OptionSpec[] specs =
        [
            new("--config", "FILE", "recipe file (JSON or flat YAML) listing only what differs from the defaults"),
            .. keys.Select(k => new OptionSpec("--" + k.Replace('_', '-'), "VALUE", RecipeOptions.Reason<PretrainOptions>(k))),
        ];
        var cl = Parse(args, "tailor pretrain [--config FILE] [--KEY VALUE ...]",
            "Trains a Llama-style base model from scratch: tokenizer (trained on the corpus unless given), token files,\n" +
            "AdamW with warm-up + cosine decay, clipping, accumulation, validation, atomic checkpoints, exact --resume.\n" +
            "Ctrl-C saves a checkpoint and exits; run again with --resume to continue. Defaults and their reasons:", specs);
        if (cl is null)
        {
            Console.WriteLine(RecipeOptions.Describe(new PretrainOptions()));
            return 0;
        }
        var overrides = keys.Where(k => cl.Has("--" + k.Replace('_', '-')))
            .Select(k => KeyValuePair.Create(k, cl.String("--" + k.Replace('_', '-'))!));
        var options = RecipeOptions.Load<PretrainOptions>(cl.String("--config"), overrides);
        options.Validate();
        var bar = new ProgressBar("pretrain");
        bar.Line("options:\n" + RecipeOptions.Describe(options));
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;   // a second Ctrl-C kills the process as usual
            e.Cancel = true;
            cancel.Cancel();
            bar.Line("Ctrl-C: finishing this step and saving a checkpoint (Ctrl-C again to abort without saving)");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var result = Pretrain.Run(options, bar.Report, cancel.Token);
            bar.Finish();
            if (result.Interrupted)
            {
                Console.WriteLine($"interrupted at step {result.Steps}; checkpoint in {Path.Combine(result.Output, "checkpoint")}. Continue with --resume.");
                return 130;
            }
            Console.WriteLine($"done: {result.Steps} steps, {result.TokensSeen:N0} tokens, validation loss {result.ValidationLoss:F4} (perplexity {Math.Exp(result.ValidationLoss ?? double.NaN):F2})");
            foreach (var (source, loss) in result.ValidationLossBySource)
                Console.WriteLine($"  {source,-24} loss {loss:F4}  perplexity {Math.Exp(loss):F2}");
            Console.WriteLine($"model: {Path.Combine(result.Output, "final")}");
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
