using System.Runtime.InteropServices;
using Tailor.Recipes;
using Tailor.Training;

using Tailor.Cli.Options;
using Tailor.Generation;

namespace Tailor.Cli.Commands;

/// <summary>`tailor pretrain`: the pre-training recipe with a recipe file and --key value overrides.</summary>
public sealed class PretrainCommand : Command
{
    public override string Name => "pretrain";

    public override string Summary => "pre-train a base model on a text corpus (recipe file + --key value overrides)";

    public override int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "ship") return Ship(args[1..]);
        var specs = RecipeCommandLine.Specs<PretrainOptions>();
        var cl = Parse(args, "tailor pretrain [--config FILE] [--KEY VALUE ...]",
            "Trains a Llama-style base model from scratch, or further from a Llama/Qwen2 folder (--init-from DIR: continued\n" +
            "pre-training with its weights and tokenizer): tokenizer (trained on the corpus unless given), token files,\n" +
            "AdamW with warm-up + cosine or warmup-stable-decay, clipping, accumulation, validation, atomic checkpoints, exact --resume.\n" +
            "Ctrl-C saves a checkpoint and exits; run again with --resume to continue.\n" +
            "'tailor pretrain ship --help' turns a finished run into a bf16 model folder with a model card.\n" +
            "Defaults and their reasons:", specs);
        if (cl is null)
        {
            Console.WriteLine(RecipeOptions.Describe(new PretrainOptions()));
            return 0;
        }
        var options = RecipeCommandLine.Load(cl, new PretrainOptions());
        RecipeCommandLine.Validate<PretrainOptions>(options.Validate);
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
        // SIGTERM (kill, systemd, docker stop) ends a run the same way: a background run ignores Ctrl-C's SIGINT.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            if (cancel.IsCancellationRequested) return;   // a second SIGTERM terminates the process as usual
            ctx.Cancel = true;
            cancel.Cancel();
            bar.Line("SIGTERM: finishing this step and saving a checkpoint (SIGTERM again to abort without saving)");
        });
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

    private int Ship(string[] args)
    {
        var cl = Parse(args, "tailor pretrain ship --run DIR --output DIR [--name NAME] [--dtype bfloat16|float32]",
            "Writes the run's final weights as a Hugging Face folder plus a README.md model card: recipe, corpus manifest\n" +
            "hash, tokens seen, validation perplexity per source (measured now), and ten sampled continuations.", RecipeCommandLine.Specs<ShipOptions>());
        if (cl is null) return 0;
        var o = RecipeCommandLine.Load(cl, new ShipOptions());
        RecipeCommandLine.Validate<ShipOptions>(o.Validate);
        string output = o.Output!;
        var dtype = o.Dtype == WeightsDtype.Bfloat16 ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32;
        ModelCard.Ship(o.Run!, output, o.Name ?? Path.GetFileName(Path.GetFullPath(output).TrimEnd('/')), dtype);
        Console.WriteLine($"wrote {output}");
        return 0;
    }
}
