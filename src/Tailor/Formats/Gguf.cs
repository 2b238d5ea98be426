using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Tailor.Formats;

/// <summary>The ggml tensor types Tailor writes and reads in GGUF files (values are ggml's <c>ggml_type</c>).</summary>
public enum GgmlType : uint
{
    /// <summary>32-bit float, 4 bytes per value.</summary>
    F32 = 0,

    /// <summary>IEEE half, 2 bytes per value.</summary>
    F16 = 1,

    /// <summary>Blocks of 32 values: an f16 scale d, then 32 int8 q; value = d·q (34 bytes per block).</summary>
    Q8_0 = 8,

    /// <summary>bfloat16, 2 bytes per value.</summary>
    BF16 = 30,
}

/// <summary>
/// One tensor of a GGUF file as the file describes it. <see cref="Dimensions"/> are in ggml order: the first is the
/// length of a row (the fastest-varying index), so a PyTorch (rows, cols) matrix has Dimensions [cols, rows].
/// </summary>
/// <param name="Name">Tensor name, e.g. <c>blk.0.attn_q.weight</c>.</param>
/// <param name="Dimensions">ggml <c>ne</c>, fastest first.</param>
/// <param name="Type">Storage type.</param>
/// <param name="Offset">Byte offset of the data from the start of the data section (a multiple of the alignment).</param>
public sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, long Offset)
{
    /// <summary>Number of values.</summary>
    public long ElementCount => Dimensions.Aggregate(1L, (a, b) => a * b);

    /// <summary>Bytes the data takes in the file (without padding).</summary>
    public long ByteSize => Gguf.ByteSize(Type, ElementCount);
}

/// <summary>A tensor to write: ggml-order dimensions, a type, and its encoded bytes (see <see cref="Gguf.Encode"/>).</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Dimensions">ggml <c>ne</c>, fastest first.</param>
/// <param name="Type">Storage type of <paramref name="Data"/>.</param>
/// <param name="Data">Exactly <see cref="Gguf.ByteSize"/> bytes.</param>
public sealed record GgufTensor(string Name, long[] Dimensions, GgmlType Type, byte[] Data);

/// <summary>
/// What a GGUF file holds apart from the tensor bytes: its version, metadata in file order, tensor table, and where the
/// data section starts. Metadata values are .NET values of the GGUF type: <c>byte, sbyte, ushort, short, uint, int,
/// float, bool, string, ulong, long, double</c>, or arrays of those (<c>string[]</c>, <c>int[]</c>, <c>float[]</c>, ...).
/// </summary>
public sealed class GgufFile
{
    internal GgufFile(string path, uint version, IReadOnlyList<KeyValuePair<string, object>> metadata,
        IReadOnlyList<GgufTensorInfo> tensors, long dataOffset, int alignment)
    {
        Path = path;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        DataOffset = dataOffset;
        Alignment = alignment;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>GGUF version (Tailor writes 3).</summary>
    public uint Version { get; }

    /// <summary>Key/value metadata in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, object>> Metadata { get; }

    /// <summary>The tensor table in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Absolute file offset of the data section.</summary>
    public long DataOffset { get; }

    /// <summary>Alignment of the data section and of each tensor (general.alignment, default 32).</summary>
    public int Alignment { get; }

    /// <summary>The value of a metadata key, or throws a <see cref="CheckpointFormatException"/> naming the key.</summary>
    public T Get<T>(string key)
    {
        foreach (var (k, v) in Metadata)
        {
            if (k != key) continue;
            if (v is T typed) return typed;
            GgufThrow.WrongValueType(Path, key, typeof(T), v);
        }
        GgufThrow.MissingKey(Path, key);
        return default;
    }

    /// <summary>The tensor named <paramref name="name"/>, or throws a <see cref="CheckpointFormatException"/>.</summary>
    public GgufTensorInfo Tensor(string name) =>
        Tensors.FirstOrDefault(t => t.Name == name) ?? throw new CheckpointFormatException(Path, name, "the GGUF file has no tensor of this name.");

    /// <summary>Reads a tensor's raw bytes from the file.</summary>
    public byte[] ReadBytes(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var stream = File.OpenRead(Path);
        stream.Position = DataOffset + tensor.Offset;
        var bytes = new byte[tensor.ByteSize];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Reads a tensor and decodes it to floats in ggml order (F32, F16, BF16 exactly; Q8_0 as d·q).</summary>
    public float[] ReadFloats(string name)
    {
        var info = Tensor(name);
        return Gguf.Decode(info.Type, ReadBytes(info), info.ElementCount);
    }
}

/// <summary>
/// GGUF (ggml's model file format), version 3: the header (magic "GGUF", version, tensor count, metadata count), typed
/// key/value metadata, the tensor table (name, dimensions, type, offset), padding to the alignment, then each tensor's
/// bytes, each aligned. Everything little-endian. See ggml's <c>docs/gguf.md</c>.
/// </summary>
/// <remarks>
/// Writes replace the target whole or not at all (temporary file, then rename). Reads validate the header and the tensor
/// table against the file's length; every problem is a <see cref="CheckpointFormatException"/> naming the file and
/// the key or tensor. Model export lives in <c>Recipes/Export.cs</c>; this is only the container.
/// </remarks>
public static class Gguf
{
    /// <summary>The GGUF version Tailor writes.</summary>
    public const uint Version = 3;

    /// <summary>Default alignment of the data section and each tensor when general.alignment is absent.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>Values per Q8_0 block.</summary>
    public const int Q8BlockSize = 32;

    /// <summary>Bytes per Q8_0 block: an f16 scale and 32 int8 values.</summary>
    public const int Q8BlockBytes = 2 + Q8BlockSize;

    /// <summary>
    /// Writes a GGUF v3 file. The metadata key <c>general.alignment</c> (uint), when present, sets the alignment;
    /// otherwise it is 32. The file is written beside <paramref name="path"/> and renamed over it.
    /// </summary>
    /// <exception cref="ArgumentException">A metadata value has no GGUF type, a tensor's bytes do not match its
    /// dimensions and type, or a name repeats.</exception>
    public static void Write(string path, IReadOnlyList<KeyValuePair<string, object>> metadata, IReadOnlyList<GgufTensor> tensors)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        GgufWriter.Write(path, metadata, tensors);
    }

    /// <summary>Reads and validates a GGUF file's header, metadata and tensor table (not the tensor bytes).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The file is not GGUF, is truncated, or its table is inconsistent.</exception>
    public static GgufFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such GGUF file. Check the path.", path);
        return GgufReader.Read(path);
    }

    /// <summary>Bytes that <paramref name="count"/> values take as <paramref name="type"/>.</summary>
    public static long ByteSize(GgmlType type, long count) => type switch
    {
        GgmlType.F32 => count * 4,
        GgmlType.F16 or GgmlType.BF16 => count * 2,
        GgmlType.Q8_0 => count / Q8BlockSize * Q8BlockBytes,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a type Tailor handles"),
    };

    /// <summary>
    /// Encodes floats as <paramref name="type"/>: F32 as is, F16 and BF16 rounded to nearest even, Q8_0 as ggml's
    /// <c>quantize_row_q8_0_ref</c> does. For Q8_0 the count must be a multiple of 32.
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<float> values, GgmlType type)
    {
        switch (type)
        {
            case GgmlType.F32:
                return MemoryMarshal.AsBytes(values).ToArray();
            case GgmlType.F16:
            {
                var bytes = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
                return bytes;
            }
            case GgmlType.BF16:
            {
                var bytes = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), ToBFloat16(values[i]));
                return bytes;
            }
            case GgmlType.Q8_0:
            {
                if (values.Length % Q8BlockSize != 0)
                    throw new ArgumentException($"Q8_0 needs a multiple of {Q8BlockSize} values; got {values.Length}.", nameof(values));
                var bytes = new byte[values.Length / Q8BlockSize * Q8BlockBytes];
                QuantizeQ8_0(values, bytes);
                return bytes;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a type Tailor encodes");
        }
    }

    /// <summary>
    /// ggml's reference Q8_0 quantizer, block by block: amax = max |x|, d = amax / 127, q = roundf(x · (1/d)) (half away
    /// from zero), d stored as f16 (round to nearest even). A block of zeros gets d = 0 and q = 0.
    /// </summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> values, Span<byte> blocks)
    {
        int n = values.Length / Q8BlockSize;
        if (values.Length % Q8BlockSize != 0 || blocks.Length != n * Q8BlockBytes)
            throw new ArgumentException($"Q8_0 needs a multiple of {Q8BlockSize} values and {Q8BlockBytes} bytes per block.");
        for (int b = 0; b < n; b++)
        {
            var x = values.Slice(b * Q8BlockSize, Q8BlockSize);
            var y = blocks.Slice(b * Q8BlockBytes, Q8BlockBytes);
            float amax = 0f;
            foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(y, (Half)d);
            for (int j = 0; j < Q8BlockSize; j++)
                y[2 + j] = unchecked((byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero));
        }
    }

    /// <summary>Decodes <paramref name="count"/> values of <paramref name="type"/> to floats.</summary>
    public static float[] Decode(GgmlType type, ReadOnlySpan<byte> bytes, long count)
    {
        if (bytes.Length < ByteSize(type, count))
            throw new ArgumentException($"{count} values of {type} need {ByteSize(type, count)} bytes; got {bytes.Length}.", nameof(bytes));
        var values = new float[count];
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.Cast<byte, float>(bytes[..(int)(count * 4)]).CopyTo(values);
                break;
            case GgmlType.F16:
                for (int i = 0; i < count; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(i * 2)..]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < count; i++)
                    values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(i * 2)..]) << 16);
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < count / Q8BlockSize; b++)
                {
                    var block = bytes.Slice(b * Q8BlockBytes, Q8BlockBytes);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < Q8BlockSize; j++) values[b * Q8BlockSize + j] = d * (sbyte)block[2 + j];
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a type Tailor decodes");
        }
        return values;
    }

    // Round to nearest even on the upper 16 bits; NaN stays a quiet NaN.
    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }
}
