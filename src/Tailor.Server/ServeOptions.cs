using System.ComponentModel;
using Tailor.Generation;
using Tailor.Serving;
using Tailor.Torch;
using Tailor.Training;

namespace Tailor.Server;

/// <summary>Every option of <c>tailor serve</c>, with its default and reason: the model, the engine's limits, the listener.</summary>
public sealed record ServeOptions
{
    /// <summary>Model folder.</summary>
    [Description("Hugging Face model folder (config.json, model.safetensors, tokenizer.json), or a BERT/RoBERTa encoder (served with /v1/embeddings)")]
    public string? Model { get; set; }

    /// <summary>LoRA adapter to merge.</summary>
    [Description("PEFT LoRA adapter folder to load onto the model and merge (the served id is then its folder name)")]
    public string? Adapter { get; set; }

    /// <summary>Served model id.</summary>
    [Description("the model id clients send; null = the adapter's or model's folder name")]
    public string? Name { get; set; }

    /// <summary>Weights dtype in memory.</summary>
    [Description("weights dtype in memory: float32 (exact) or bfloat16 (half the memory)")]
    public WeightsDtype Dtype { get; set; } = WeightsDtype.Float32;

    /// <summary>Continuous batching limits.</summary>
    [OptionGroup]
    public EngineOptions Engine { get; set; } = new();

    /// <summary>Where and how the server listens.</summary>
    [OptionGroup]
    public ServerOptions Server { get; set; } = new();

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value; loads nothing.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Model)) throw new TailorException("give --model DIR.");
        Engine.Validate();
        Server.Validate();
        Runtime.Validate();
    }
}
