using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>The safetensors dtype names, their element sizes and the TorchSharp types they map to.</summary>
internal static class SafetensorsDtypes
{
    /// <summary>One dtype: its name in the header, element size, TorchSharp type, and its rank in the writer's order.</summary>
    /// <remarks>
    /// <see cref="AlignmentRank"/> is the position of the dtype in the <c>Dtype</c> enum of huggingface/safetensors
    /// (safetensors/src/tensor.rs, "MUST be in increasing alignment order"). Its writer sorts tensors by descending
    /// rank, then by name, so that every tensor starts at an offset aligned for its element type; we write the same
    /// order so our files are byte-identical to the reference implementation's.
    /// </remarks>
    internal readonly record struct Dtype(string Name, ScalarType Type, int ElementSize, int AlignmentRank);

    private static readonly Dtype[] Supported =
    [
        new("BOOL", ScalarType.Bool, 1, 0),
        new("U8", ScalarType.Byte, 1, 4),
        new("I8", ScalarType.Int8, 1, 5),
        new("I16", ScalarType.Int16, 2, 11),
        new("F16", ScalarType.Float16, 2, 13),
        new("BF16", ScalarType.BFloat16, 2, 14),
        new("I32", ScalarType.Int32, 4, 15),
        new("F32", ScalarType.Float32, 4, 17),
        new("F64", ScalarType.Float64, 8, 19),
        new("I64", ScalarType.Int64, 8, 20),
    ];

    // Valid in the format but without a TorchSharp type (or without our support); named so the error can say so.
    private static readonly HashSet<string> KnownUnsupported = new(StringComparer.Ordinal)
    {
        "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
        "U16", "U32", "U64", "C64",
    };

    private static readonly Dictionary<string, Dtype> ByName = Supported.ToDictionary(d => d.Name, StringComparer.Ordinal);
    private static readonly Dictionary<ScalarType, Dtype> ByType = Supported.ToDictionary(d => d.Type);

    /// <summary>The list of supported names, for error messages.</summary>
    internal static string SupportedNames { get; } = string.Join(", ", Supported.Select(d => d.Name));

    internal static bool TryGet(string name, out Dtype dtype) => ByName.TryGetValue(name, out dtype);

    internal static bool TryGet(ScalarType type, out Dtype dtype) => ByType.TryGetValue(type, out dtype);

    internal static bool IsKnownButUnsupported(string name) => KnownUnsupported.Contains(name);
}
