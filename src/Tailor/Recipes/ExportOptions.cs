using System.ComponentModel;
using Tailor.Torch;
using Tailor.Training;

namespace Tailor.Recipes;

/// <summary>Every option of <c>tailor export</c> (<see cref="Export"/>), with its default and reason.</summary>
public sealed record ExportOptions
{
    /// <summary>Model folder.</summary>
    [Description("Hugging Face model folder (config.json, model.safetensors, tokenizer.json)")]
    public string? Model { get; set; }

    /// <summary>LoRA adapter to merge.</summary>
    [Description("PEFT LoRA adapter folder to merge into the weights first")]
    public string? Adapter { get; set; }

    /// <summary>Output format.</summary>
    [Description("gguf: one file llama.cpp loads; hf: a Hugging Face folder (required: the two are different things)")]
    public ExportFormat? Format { get; set; }

    /// <summary>Output path.</summary>
    [Description("the .gguf file or the folder to write (replaced whole, never half-written; only a previous export is replaced, anything else there is refused)")]
    public string? Output { get; set; }

    /// <summary>Weights dtype.</summary>
    [Description("weights: gguf f32, f16 or q8_0 (ggml's 8-bit blocks); hf f32, f16 or bf16; null = gguf f32 (exact), hf the source's torch_dtype")]
    public string? Dtype { get; set; }

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>Throws a <see cref="TailorException"/> naming the first missing or bad value; reads nothing.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Model)) throw new TailorException("give --model DIR.");
        if (Format is null) throw new TailorException("give --format gguf or --format hf.");
        if (string.IsNullOrEmpty(Output)) throw new TailorException("give --output PATH (the .gguf file or the folder to write).");
        if (Runtime.Device != "cpu") throw new TailorException($"device = {Runtime.Device}: export runs on the CPU.");
        Runtime.Validate();
    }
}

/// <summary>What <c>tailor export</c> writes.</summary>
public enum ExportFormat
{
    /// <summary>One GGUF v3 file for llama.cpp.</summary>
    Gguf,

    /// <summary>A Hugging Face folder (config.json, model.safetensors, tokenizer).</summary>
    Hf,
}
