using Tailor.Recipes;
using Tailor.Torch;

namespace Tailor.Cli.Commands;

/// <summary>`tailor export`: a model folder (plus an optional LoRA adapter) as a GGUF file for llama.cpp or an HF folder.</summary>
public sealed class ExportCommand : Command
{
    public override string Name => "export";

    public override string Summary => "write a model (LoRA merged) as a GGUF file for llama.cpp or as a Hugging Face folder";

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor export --model DIR [--adapter DIR] --format gguf|hf --output PATH [--dtype D]",
            "Writes the model in DIR, with a LoRA adapter merged in if --adapter is given, as a GGUF v3 file (llama.cpp's\n" +
            "'llama' architecture, 'qwen2' for Qwen2 models, 'gpt2' for GPT-2; tokenizer included) or as a Hugging Face folder.\n" +
            "GGUF keeps norms in f32; q8_0 is ggml's 8-bit block format (32 values, one f16 scale).", RecipeCommandLine.Specs<ExportOptions>());
        if (cl is null) return 0;
        var o = RecipeCommandLine.Load(cl, new ExportOptions());
        RecipeCommandLine.Validate<ExportOptions>(o.Validate);
        TorchRuntime.SetThreads(o.Runtime.Threads);
        var result = Export.Run(o.Model!, o.Adapter, Tailor.Training.RecipeOptions.Name(o.Format!.Value), o.Output!, o.Dtype,
            message => Console.Error.WriteLine(message));
        Console.WriteLine($"wrote {result.Path}: {result.Format} {result.Architecture}, {result.Dtype}, {result.Tensors} tensors, " +
            $"{result.Bytes / 1e6:F1} MB{(result.MergedAdapterLayers > 0 ? $", LoRA merged into {result.MergedAdapterLayers} projections" : "")}");
        return 0;
    }
}
