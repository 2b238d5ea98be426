using System.ComponentModel;

namespace Tailor.Lora;

/// <summary>
/// LoRA's hyper-parameters as the tuning recipes take them (options records hold this group under the key prefix
/// <c>lora_</c>: <c>lora_rank</c>, <c>lora_alpha</c>, ...). These are Tailor's LoRA defaults, the only ones:
/// <see cref="LoraConfig"/> (an adapter's <c>adapter_config.json</c>) starts from them too.
/// </summary>
public sealed record LoraOptions
{
    /// <summary>The defaults, for code that needs one value (<see cref="LoraConfig"/>'s initial values).</summary>
    public static readonly LoraOptions Default = new();

    /// <summary>Rank r.</summary>
    [Description("LoRA rank r: 16 on every linear layer, QLoRA's finding that covering all layers matters more than r")]
    public int Rank { get; init; } = 16;

    /// <summary>Scaling numerator.</summary>
    [Description("LoRA alpha (scaling = alpha / r): 2r, the common choice, so the update's scale does not change with r")]
    public double Alpha { get; init; } = 32;

    /// <summary>Dropout on the adapter's input.</summary>
    [Description("dropout on the LoRA branch's input: 0.05, QLoRA's for small models")]
    public double Dropout { get; init; } = 0.05;

    /// <summary>Layers to adapt.</summary>
    [Description("comma-separated layers to adapt, by their Hugging Face names (Llama/Qwen2: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; GPT-2: c_attn,c_proj,c_fc; BERT: query,key,value,attention.output.dense,intermediate.dense,output.dense), or all-linear")]
    public string Targets { get; init; } = LoraConfig.AllLinear;

    /// <summary>The target names of <see cref="Targets"/>.</summary>
    public IReadOnlyList<string> TargetList() =>
        [.. Targets.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value (the target names are checked
    /// against the model family by <see cref="LoraConfig.Validate"/> or <see cref="EncoderLora.ParseTargets"/>).</summary>
    public void Validate()
    {
        if (Rank < 1) throw new TailorException($"lora_rank = {Rank}: must be a positive integer (typically 8 to 64).");
        if (!(Alpha > 0)) throw new TailorException($"lora_alpha = {Alpha}: must be positive (2 x r is the common choice).");
        if (!(Dropout >= 0 && Dropout < 1)) throw new TailorException($"lora_dropout = {Dropout}: must be in [0, 1).");
        if (TargetList().Count == 0) throw new TailorException("lora_targets is empty: name layers to adapt, or all-linear.");
    }

    /// <summary>The adapter configuration of these options for a decoder whose base is <paramref name="baseModel"/>.</summary>
    public LoraConfig ToConfig(string? baseModel) => new()
    {
        Rank = Rank, Alpha = Alpha, Dropout = Dropout, TargetModules = TargetList(), BaseModelNameOrPath = baseModel,
    };
}
