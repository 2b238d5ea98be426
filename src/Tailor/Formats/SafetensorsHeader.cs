using System.Diagnostics.CodeAnalysis;
using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>One tensor entry of a safetensors header, already validated against the file.</summary>
/// <param name="Name">The tensor's name (an HF state-dict key such as <c>model.norm.weight</c>).</param>
/// <param name="Dtype">The dtype as the header spells it (<c>F32</c>, <c>BF16</c>, ...).</param>
/// <param name="ScalarType">The TorchSharp element type the tensor is read as.</param>
/// <param name="Shape">The shape; empty for a 0-dimensional (scalar) tensor. Do not mutate.</param>
/// <param name="Begin">Start of the tensor's bytes, relative to the start of the data buffer.</param>
/// <param name="End">End (exclusive) of the tensor's bytes, relative to the start of the data buffer.</param>
public sealed record SafetensorsTensorInfo(string Name, string Dtype, ScalarType ScalarType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of bytes the tensor occupies (<c>End - Begin</c>, which equals element count × element size).</summary>
    public long ByteLength => End - Begin;

    /// <summary>The shape written the way error messages and logs show it, e.g. <c>[32000, 512]</c>.</summary>
    public string ShapeText => FormatShape(Shape);

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}

/// <summary>The parsed and validated header of a safetensors file.</summary>
/// <remarks>
/// By the time a header exists the reader has checked that the tensors' byte ranges cover the data buffer exactly
/// (no holes, no overlaps, nothing past the end), that every dtype is known and that every byte size matches
/// dtype × shape. Reading a tensor cannot fail for format reasons after that.
/// </remarks>
public sealed class SafetensorsHeader
{
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;

    internal SafetensorsHeader(
        IReadOnlyList<SafetensorsTensorInfo> tensorsInFileOrder,
        IReadOnlyDictionary<string, string>? metadata,
        long dataStart,
        long dataLength)
    {
        Tensors = tensorsInFileOrder;
        Metadata = metadata;
        DataStart = dataStart;
        DataLength = dataLength;
        _byName = tensorsInFileOrder.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>All tensors, in the order their bytes appear in the file.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (HF writes <c>{"format": "pt"}</c>), or <see langword="null"/> when absent.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; }

    /// <summary>Absolute file offset of the data buffer: 8 + the header's length.</summary>
    public long DataStart { get; }

    /// <summary>Length of the data buffer in bytes (the file length minus <see cref="DataStart"/>).</summary>
    public long DataLength { get; }

    /// <summary>Whether the file holds a tensor with this name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGet(string name, [MaybeNullWhen(false)] out SafetensorsTensorInfo info) => _byName.TryGetValue(name, out info);
}
