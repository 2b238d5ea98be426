using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>Options for <see cref="Safetensors.Load"/>.</summary>
public sealed record SafetensorsReadOptions
{
    /// <summary>Memory-mapped (default) or streamed reads.</summary>
    public SafetensorsReadMode Mode { get; init; } = SafetensorsReadMode.MemoryMapped;

    /// <summary>
    /// When set, the file must hold exactly these tensors with exactly these shapes; a missing tensor, an extra tensor
    /// or a different shape is a <see cref="CheckpointFormatException"/> before any tensor is read. Null (default): no check.
    /// </summary>
    public IReadOnlyDictionary<string, long[]>? ExpectedShapes { get; init; }
}

/// <summary>Options for <see cref="Safetensors.Save"/>.</summary>
public sealed record SafetensorsWriteOptions
{
    /// <summary>The <c>__metadata__</c> HF's PyTorch writers put in every checkpoint.</summary>
    public static IReadOnlyDictionary<string, string> PyTorchMetadata { get; } = new Dictionary<string, string> { ["format"] = "pt" };

    /// <summary>
    /// Store floating-point tensors as this dtype (<see cref="ScalarType.Float32"/>, <see cref="ScalarType.Float16"/>
    /// or <see cref="ScalarType.BFloat16"/>; for example save fp32 weights as bf16). Conversion rounds to nearest even,
    /// as libtorch does. Integer and bool tensors keep their dtype. Null (default): keep each tensor's dtype.
    /// </summary>
    public ScalarType? Dtype { get; init; }

    /// <summary>
    /// The <c>__metadata__</c> map; default <see cref="PyTorchMetadata"/> (<c>{"format":"pt"}</c>, which HF loaders
    /// expect). Null leaves <c>__metadata__</c> out of the header.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; } = PyTorchMetadata;

    /// <summary>
    /// Flush the file to the disk before it replaces the target (default true), so that a power loss cannot leave a
    /// renamed but empty file. Tests may turn it off for speed.
    /// </summary>
    public bool FlushToDisk { get; init; } = true;
}
