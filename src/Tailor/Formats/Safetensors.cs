using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>
/// Reads and writes safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// <c>{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}</c>, then the tensors' bytes,
/// little-endian, row-major, with offsets relative to the end of the header.
/// </summary>
/// <remarks>
/// Reads accept F32, F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL and validate the file strictly (see
/// <see cref="SafetensorsHeader"/>); every problem with a file's content is a <see cref="CheckpointFormatException"/>
/// naming the file and the tensor. Writes produce the same bytes as the huggingface/safetensors reference writer.
/// For one tensor at a time, open a <see cref="SafetensorsReader"/>.
/// </remarks>
public static class Safetensors
{
    /// <summary>Reads and validates only the header of a safetensors file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The file is truncated or its header is invalid.</exception>
    public static SafetensorsHeader ReadHeader(string path)
    {
        using SafetensorsReader reader = SafetensorsReader.Open(path, SafetensorsReadMode.Streamed);
        return reader.Header;
    }

    /// <summary>
    /// Reads every tensor of a safetensors file into new CPU tensors with the file's dtypes and shapes, keyed by name in
    /// file order. The caller owns the tensors (dispose them, or read inside a dispose scope).
    /// </summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <param name="options">Read mode and an optional expected set of names and shapes; defaults when null.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The file is invalid, or does not match <see cref="SafetensorsReadOptions.ExpectedShapes"/>.</exception>
    public static Dictionary<string, Tensor> Load(string path, SafetensorsReadOptions? options = null)
    {
        options ??= new SafetensorsReadOptions();
        using SafetensorsReader reader = SafetensorsReader.Open(path, options.Mode);
        if (options.ExpectedShapes is { } expected)
            CheckNamesAndShapes(path, reader.Header, expected);
        return reader.ReadAll();
    }

    /// <summary>
    /// Writes tensors to a safetensors file laid out as the huggingface/safetensors writer lays it out. The file is
    /// written beside <paramref name="path"/> and renamed over it, so an existing file is replaced whole or not at all.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="tensors">Name → tensor, any device, any layout; dtypes F32/F16/BF16 (or F64/int/bool, stored as they are).
    /// The tensors are only read.</param>
    /// <param name="options">Dtype conversion and metadata; defaults when null (<c>{"format":"pt"}</c>, dtypes kept).</param>
    /// <exception cref="ArgumentException">A name is empty or <c>__metadata__</c>, or a dtype cannot be stored.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, SafetensorsWriteOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        SafetensorsWriter.Write(path, tensors, options ?? new SafetensorsWriteOptions());
    }

    /// <summary>
    /// Checks that a header holds exactly the expected tensors with the expected shapes.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A tensor is missing, extra, or has another shape; the message names it.</exception>
    public static void CheckNamesAndShapes(string path, SafetensorsHeader header, IReadOnlyDictionary<string, long[]> expectedShapes)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(expectedShapes);
        foreach ((string name, long[] shape) in expectedShapes)
        {
            if (!header.TryGet(name, out SafetensorsTensorInfo? info))
                FormatThrow.Missing(path, name);
            if (!info.Shape.AsSpan().SequenceEqual(shape))
                FormatThrow.ShapeMismatch(path, name, info.Shape, shape);
        }

        foreach (SafetensorsTensorInfo info in header.Tensors)
        {
            if (!expectedShapes.ContainsKey(info.Name))
                FormatThrow.Unexpected(path, info.Name);
        }
    }
}
