using Tailor.Recipes;
using Tailor.Torch;

namespace Tailor.Cli.Commands;

/// <summary>`tailor export`: a model folder (plus an optional LoRA adapter) as a GGUF file for llama.cpp or an HF folder.</summary>
public sealed class ExportCommand : Command
{
    public override string Name => "export";

    public override string Summary => "write a model (LoRA merged) as a GGUF file for llama.cpp or as a Hugging Face folder";

    private static readonly OptionSpec[] Specs =
    [
        new("--model", "DIR", "Hugging Face model folder (config.json, model.safetensors, tokenizer.json)"),
        new("--adapter", "DIR", "PEFT LoRA adapter folder to merge into the weights first"),
        new("--format", "gguf|hf", "gguf: one file llama.cpp loads; hf: a Hugging Face folder"),
        new("--output", "PATH", "the .gguf file or the folder to write (replaced whole, never half-written; only a previous export is replaced, anything else there is refused)"),
        new("--dtype", "f32|f16|q8_0|bf16", "weights: gguf f32 (default, exact), f16 or q8_0; hf f32, f16 or bf16 (default: the source's)"),
        new("--threads", "N", "intra-op threads (default: the number of cores; at most 4 per core)"),
    ];

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor export --model DIR [--adapter DIR] --format gguf|hf --output PATH [--dtype D]",
            "Writes the model in DIR, with a LoRA adapter merged in if --adapter is given, as a GGUF v3 file (llama.cpp's\n" +
            "'llama' architecture, 'qwen2' for Qwen2 models, 'gpt2' for GPT-2; tokenizer included) or as a Hugging Face folder.\n" +
            "GGUF keeps norms in f32; q8_0 is ggml's 8-bit block format (32 values, one f16 scale).", Specs);
        if (cl is null) return 0;
        if (!cl.Has("--format")) throw new UsageException("give --format gguf or --format hf.");
        string format = cl.Choice("--format", "gguf", "gguf", "hf");
        TorchRuntime.SetThreads(cl.IntOrNull("--threads", 1));
        var result = Export.Run(cl.Required("--model"), cl.String("--adapter"), format, cl.Required("--output"), cl.String("--dtype"),
            message => Console.Error.WriteLine(message));
        Console.WriteLine($"wrote {result.Path}: {result.Format} {result.Architecture}, {result.Dtype}, {result.Tensors} tensors, " +
            $"{result.Bytes / 1e6:F1} MB{(result.MergedAdapterLayers > 0 ? $", LoRA merged into {result.MergedAdapterLayers} projections" : "")}");
        return 0;
    }
}
