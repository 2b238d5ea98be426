using System.Globalization;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Training;

namespace Tailor.Cli.Commands;

/// <summary>
/// `tailor finetune` with a BERT/RoBERTa --model: the encoder classifier recipe (<see cref="FinetuneEncoder"/>) with its
/// own options (<see cref="EncoderTuneOptions"/>). <see cref="FinetuneCommand"/> hands over when <see cref="Wants"/>.
/// </summary>
public static class FinetuneEncoderCommand
{
    /// <summary>Whether the arguments' --model (or --model=) is an encoder: one of the pretrained names or a folder whose config.json says bert/roberta.</summary>
    public static bool Wants(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        for (int i = 0; i < args.Length; i++)
        {
            string? value = args[i] == "--model" && i + 1 < args.Length ? args[i + 1]
                : args[i].StartsWith("--model=", StringComparison.Ordinal) ? args[i]["--model=".Length..] : null;
            if (value is not null) return PretrainedEncoders.Find(value) is not null || BertConfig.IsEncoderFolder(value);
        }
        return false;
    }

    /// <summary>Parses the encoder options, runs the recipe, prints the outcome.</summary>
    public static int Run(string[] args)
    {
        var specs = RecipeCommandLine.Specs<EncoderTuneOptions>();
        var cl = CommandLine.Parse("finetune", args, specs);
        if (cl.HelpRequested)
        {
            Console.WriteLine(CommandLine.Help("tailor finetune --model ENCODER [--task sentiment] [--lora true] [--KEY VALUE ...]",
                "Fine-tunes a BERT/RoBERTa encoder (a folder, all-MiniLM-L6-v2 or snowflake-arctic-embed-xs) into a sequence\n" +
                "classifier: a fresh head for the task's labels (sorted), full tuning or --lora true (adapters on the encoder, head in\n" +
                "full), dev accuracy each epoch, the best weights kept. Writes final/: an HF Bert/RobertaForSequenceClassification\n" +
                "folder (config.json with id2label, model.safetensors, tokenizer, README.md card with dev/test scores, tailor.json);\n" +
                "with --lora true also adapter/: the same weights as a PEFT LoRA adapter (task_type SEQ_CLS, the head as\n" +
                "modules_to_save, base_model_name_or_path the --model), which tailor eval and tailor info take like a model folder.\n" +
                "Score it with `tailor eval --model RUN/final --tasks sentiment,sentiment-imdb`.\nDefaults and their reasons:", specs));
            Console.WriteLine(RecipeOptions.Describe(new EncoderTuneOptions()));
            return 0;
        }
        var options = RecipeCommandLine.Load(cl, new EncoderTuneOptions());
        RecipeCommandLine.Validate<EncoderTuneOptions>(options.Validate);
        var bar = new ProgressBar("finetune");
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
            var result = FinetuneEncoder.Run(options, bar.Report, cancel.Token);
            bar.Finish();
            if (result.Interrupted)
            {
                Console.WriteLine($"interrupted at step {result.Steps}; checkpoint in {Path.Combine(result.Output, "checkpoint")}. Continue with --resume true.");
                return 130;
            }
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"done in {result.Elapsed:m\\:ss}: {result.Steps} steps; final/ keeps the {result.Kept} weights") +
                (result.BestStep is long best ? string.Create(inv, $" (best dev accuracy {result.BestDevAccuracy:0.0000} at step {best})") : ""));
            if (result.Dev is var (da, df)) Console.WriteLine(string.Create(inv, $"  dev   accuracy {da:0.0000}  macro-F1 {df:0.0000}"));
            if (result.Test is var (ta, tf)) Console.WriteLine(string.Create(inv, $"  test  accuracy {ta:0.0000}  macro-F1 {tf:0.0000}"));
            Console.WriteLine($"model: {result.FinalModel}");
            if (result.Adapter is not null) Console.WriteLine($"adapter: {result.Adapter} (PEFT LoRA, task_type SEQ_CLS; tailor eval and info take it)");
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>One line from a classifier folder's tailor.json (task, full or LoRA, base, scores), or null without one.</summary>
    public static string? TrainedOn(string folder)
    {
        string path = Path.Combine(folder, FinetuneEncoder.MarkerFile);
        if (!File.Exists(path)) return null;
        try
        {
            var m = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path));
            if ((string?)m?["kind"] != "encoder-classifier") return null;
            var inv = CultureInfo.InvariantCulture;
            string Score(string key) => m[key] is { } v ? v.GetValue<double>().ToString("0.0000", inv) : "n/a";
            return $"on {string.Join(",", m["tasks"]?.AsArray().Select(t => (string?)t) ?? [])} from {(string?)m["base_model"]}, {((bool?)m["lora"] == true ? "LoRA (merged)" : "full")}, " +
                $"{(string?)m["kept"]} weights of {(long?)m["steps"]} steps; dev accuracy {Score("dev_accuracy")}, test accuracy {Score("test_accuracy")} (tailor.json)";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return $"{path} is not readable ({e.Message.Split('\n')[0]})";
        }
    }
}
