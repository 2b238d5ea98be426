using System.ComponentModel;
using Tailor.Torch;
using Tailor.Training;

namespace Tailor.Generation;

/// <summary>Every option of <c>tailor generate</c>, with its default and reason.</summary>
public sealed record GenerateOptions
{
    /// <summary>Model folder.</summary>
    [Description("Hugging Face model folder (config.json, model.safetensors, tokenizer.json)")]
    public string? Model { get; set; }

    /// <summary>The prompt.</summary>
    [Description("the prompt (or give it as the only bare argument)")]
    public string? Prompt { get; set; }

    /// <summary>How tokens are picked.</summary>
    [OptionGroup]
    public SamplingOptions Sampling { get; set; } = new();

    /// <summary>Print JSON instead of streaming.</summary>
    [Description("print {\"text\": ..., \"ids\": [...], \"finish_reason\": ...} for the new tokens instead of streaming the text")]
    public bool Json { get; set; }

    /// <summary>Weights dtype in memory.</summary>
    [Description("weights dtype in memory: float32 (exact) or bfloat16 (half the memory)")]
    public WeightsDtype Dtype { get; set; } = WeightsDtype.Float32;

    /// <summary>Decoder.</summary>
    [Description("auto (cpu on --device cpu, else torch), cpu (Tailor's own batch-1 decoder: no TorchSharp call per operation; Llama/Qwen2, GPT-2 falls back to torch) or torch (a TorchSharp forward per token)")]
    public DecodeEngine Engine { get; set; } = DecodeEngine.Auto;

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value; loads nothing.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Model)) throw new TailorException("give --model DIR.");
        if (string.IsNullOrEmpty(Prompt)) throw new TailorException("give the prompt: --prompt TEXT (or as the only bare argument).");
        Sampling.Validate();
        Runtime.Validate();
        if (Engine == DecodeEngine.Cpu && Runtime.Device != "cpu")
            throw new TailorException("engine = cpu runs on the CPU only; use --engine torch with --device cuda.");
    }
}

/// <summary>The dtype a model's weights are held in for inference.</summary>
public enum WeightsDtype
{
    /// <summary>float32: exact.</summary>
    Float32,

    /// <summary>bfloat16: half the memory; logits differ slightly.</summary>
    Bfloat16,
}

/// <summary>Which decoder generates.</summary>
public enum DecodeEngine
{
    /// <summary>cpu on the CPU, torch elsewhere.</summary>
    Auto,

    /// <summary>Tailor's batch-1 CPU decoder (Llama/Qwen2).</summary>
    Cpu,

    /// <summary>A TorchSharp forward per token.</summary>
    Torch,
}
