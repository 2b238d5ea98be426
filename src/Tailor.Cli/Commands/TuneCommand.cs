using Tailor.Recipes;
using Tailor.Training;

namespace Tailor.Cli.Commands;

/// <summary>`tailor finetune`: one task, no instruction, plain format; full or LoRA.</summary>
public sealed class FinetuneCommand : TuneCommand
{
    public override string Name => "finetune";

    public override string Summary => "fine-tune a model on one or several tasks without instructions (plain format; full or --lora)";

    protected override string Description =>
        "Task fine-tuning: each example is the bare input, \"### Response:\" and the answer + EOS (loss on the answer and\n" +
        "EOS only). --task names a task of data/tasks (several, comma-separated: each input is followed by\n" +
        "\"### Task: NAME\", T5's task prefix, since an English source alone does not say which language is asked);\n" +
        "--data brings your own JSONL (Alpaca, chat, ShareGPT, raw text).\n" +
        "Writes final/ (full model) or adapter/ (+ final/ with --merge) with tailor.json (prompt_format: plain).\n" +
        "--model takes a Llama/Qwen2 or GPT-2 folder (GPT-2 LoRA wraps c_attn, c_proj, c_fc: PEFT's fan_in_fan_out).\n" +
        "A BERT/RoBERTa --model (or all-MiniLM-L6-v2) trains a sequence classifier instead: see\n" +
        "`tailor finetune --model all-MiniLM-L6-v2 --help` for its options.";

    public override int Run(string[] args) =>
        FinetuneEncoderCommand.Wants(args) ? FinetuneEncoderCommand.Run(args) : base.Run(args);

    protected override TuneOptions Defaults() => new() { Output = "runs/finetune", Task = "sentiment" };

    protected override TuneResult Run(TuneOptions options, Action<TrainProgress> progress, CancellationToken cancel) =>
        Finetune.Run(options, progress, cancel);
}

/// <summary>`tailor instruct`: a templated mixture of tasks in ChatML; full or LoRA.</summary>
public sealed class InstructCommand : TuneCommand
{
    public override string Name => "instruct";

    public override string Summary => "instruction-tune a model on a mixture of tasks phrased with instruction templates (ChatML; full or --lora)";

    protected override string Description =>
        "Instruction tuning: examples-proportional mixture (with a cap) of --tasks and --data files; every task example\n" +
        "phrased with a template of its train pool (--pool vague for the ablation) as a ChatML conversation; loss on the\n" +
        "answer and <|im_end|> only; packed rows with a block-diagonal mask. Writes final/ or adapter/ with tailor.json\n" +
        "(prompt_format: chatml) and the chat template in tokenizer_config.json. A base whose tokenizer lacks\n" +
        "<|im_start|>/<|im_end|> (GPT-2) gets them as special tokens, plus <|pad|> if it has no pad token, as TRL's\n" +
        "setup_chat_format: the embedding and head grow by those rows (drawn near the mean of the old rows, as\n" +
        "transformers' resize_token_embeddings), EOS becomes <|im_end|>. Full tuning trains the new rows with the rest;\n" +
        "--lora trains them beside the adapters (the base's rows stay frozen) and adapter/ carries the grown embedding\n" +
        "and head (PEFT's save_embedding_layers) and tokenizer.";

    protected override TuneOptions Defaults() => new() { Output = "runs/instruct", Task = null };

    protected override TuneResult Run(TuneOptions options, Action<TrainProgress> progress, CancellationToken cancel) =>
        Instruct.Run(options, progress, cancel);
}

/// <summary>What the two tuning commands share: recipe file + --key overrides, Ctrl-C, the summary.</summary>
public abstract class TuneCommand : Command
{
    /// <summary>Text under the usage line.</summary>
    protected abstract string Description { get; }

    /// <summary>The recipe's defaults where they differ from <see cref="TuneOptions"/>'s.</summary>
    protected abstract TuneOptions Defaults();

    /// <summary>Runs the recipe.</summary>
    protected abstract TuneResult Run(TuneOptions options, Action<TrainProgress> progress, CancellationToken cancel);

    public override int Run(string[] args)
    {
        var specs = RecipeCommandLine.Specs(Defaults());
        var cl = Parse(args, $"tailor {Name} [--config FILE] [--KEY VALUE ...]", Description + "\nDefaults and their reasons:", specs);
        if (cl is null)
        {
            Console.WriteLine(RecipeOptions.Describe(Defaults()));
            return 0;
        }
        var options = RecipeCommandLine.Load(cl, Defaults());
        RecipeCommandLine.Validate<TuneOptions>(options.Validate);
        var bar = new ProgressBar(Name);
        bar.Line("options:\n" + RecipeOptions.Describe(options));
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;
            e.Cancel = true;
            cancel.Cancel();
            bar.Line("Ctrl-C: finishing this step and saving a checkpoint (Ctrl-C again to abort without saving)");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var result = Run(options, bar.Report, cancel.Token);
            bar.Finish();
            if (result.Interrupted)
            {
                Console.WriteLine($"interrupted at step {result.Steps}; checkpoint in {Path.Combine(result.Output, "checkpoint")}. Continue with --resume true.");
                return 130;
            }
            Console.WriteLine($"done in {result.Elapsed:m\\:ss}: {result.Steps} steps, {result.TokensSeen:N0} tokens ({result.TrainedTokens:N0} trained on)" +
                (result.DevLoss is double dev ? $", dev loss {dev:F4}" : ""));
            foreach (var (task, loss) in result.DevLossByTask) Console.WriteLine($"  {task,-24} dev loss {loss:F4}");
            if (result.Adapter is not null) Console.WriteLine($"adapter: {result.Adapter}");
            if (result.FinalModel is not null) Console.WriteLine($"model: {result.FinalModel}");
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
