using System.Text;

namespace Tailor.Formats;

/// <summary>GGUF value types (ggml's <c>gguf_type</c>).</summary>
internal enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9,
    UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>Writes GGUF v3: header, metadata, tensor table, padding, aligned tensor data. See <see cref="Gguf"/>.</summary>
internal static class GgufWriter
{
    public static void Write(string path, IReadOnlyList<KeyValuePair<string, object>> metadata, IReadOnlyList<GgufTensor> tensors)
    {
        int alignment = Gguf.DefaultAlignment;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in metadata)
        {
            if (!keys.Add(key)) throw new ArgumentException($"metadata key '{key}' appears twice.", nameof(metadata));
            _ = TypeOf(value, key);
            if (key == "general.alignment")
            {
                if (value is not uint a || a == 0 || (a & (a - 1)) != 0)
                    throw new ArgumentException("general.alignment must be a uint power of two.", nameof(metadata));
                alignment = (int)a;
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var offsets = new long[tensors.Count];
        long offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' appears twice.", nameof(tensors));
            if (t.Dimensions.Length is 0 or > 4 || t.Dimensions.Any(d => d <= 0))
                throw new ArgumentException($"tensor '{t.Name}' has dimensions [{string.Join(", ", t.Dimensions)}]; GGUF takes 1 to 4 positive dimensions.", nameof(tensors));
            if (t.Type == GgmlType.Q8_0 && t.Dimensions[0] % Gguf.Q8BlockSize != 0)
                throw new ArgumentException($"tensor '{t.Name}': a Q8_0 row must be a multiple of {Gguf.Q8BlockSize} values; its row has {t.Dimensions[0]}.", nameof(tensors));
            long count = t.Dimensions.Aggregate(1L, (a, b) => a * b);
            if (t.Data.LongLength != Gguf.ByteSize(t.Type, count))
                throw new ArgumentException($"tensor '{t.Name}' has {t.Data.LongLength} bytes; {count} values of {t.Type} take {Gguf.ByteSize(t.Type, count)}.", nameof(tensors));
            offsets[i] = offset;
            offset = Align(offset + t.Data.LongLength, alignment);
        }

        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        TemporaryFiles.DeleteLeftovers(directory, $".{Path.GetFileName(full)}.", ".tmp");
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            {
                w.Write("GGUF"u8);
                w.Write(Gguf.Version);
                w.Write((ulong)tensors.Count);
                w.Write((ulong)metadata.Count);
                foreach (var (key, value) in metadata)
                {
                    WriteString(w, key);
                    WriteValue(w, value, key);
                }
                for (int i = 0; i < tensors.Count; i++)
                {
                    var t = tensors[i];
                    WriteString(w, t.Name);
                    w.Write((uint)t.Dimensions.Length);
                    foreach (long d in t.Dimensions) w.Write((ulong)d);
                    w.Write((uint)t.Type);
                    w.Write((ulong)offsets[i]);
                }
                w.Flush();
                Pad(stream, alignment);
                long dataStart = stream.Position;
                for (int i = 0; i < tensors.Count; i++)
                {
                    stream.Write(tensors[i].Data);
                    Pad(stream, alignment);
                    if (i + 1 < tensors.Count && stream.Position - dataStart != offsets[i + 1])
                        throw new InvalidOperationException("GGUF writer: tensor offsets went out of step (a bug in Tailor).");
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    internal static long Align(long offset, int alignment) => (offset + alignment - 1) / alignment * alignment;

    private static void Pad(Stream stream, int alignment)
    {
        long padding = Align(stream.Position, alignment) - stream.Position;
        for (long i = 0; i < padding; i++) stream.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    internal static GgufValueType TypeOf(object value, string key) => value switch
    {
        byte => GgufValueType.UInt8,
        sbyte => GgufValueType.Int8,
        ushort => GgufValueType.UInt16,
        short => GgufValueType.Int16,
        uint => GgufValueType.UInt32,
        int => GgufValueType.Int32,
        float => GgufValueType.Float32,
        bool => GgufValueType.Bool,
        string => GgufValueType.String,
        ulong => GgufValueType.UInt64,
        long => GgufValueType.Int64,
        double => GgufValueType.Float64,
        Array a when a.GetType().GetElementType() is { } e && e != typeof(object) && !e.IsArray => GgufValueType.Array,
        _ => throw new ArgumentException($"metadata key '{key}': a {value.GetType().Name} has no GGUF type; use a number, bool, string or an array of one of them.", nameof(value)),
    };

    private static void WriteValue(BinaryWriter w, object value, string key)
    {
        var type = TypeOf(value, key);
        w.Write((uint)type);
        if (type != GgufValueType.Array)
        {
            WriteScalar(w, value);
            return;
        }
        var array = (Array)value;
        var elementType = array.Length > 0 ? TypeOf(array.GetValue(0)!, key) : ElementTypeOf(array.GetType().GetElementType()!, key);
        w.Write((uint)elementType);
        w.Write((ulong)array.Length);
        foreach (object item in array) WriteScalar(w, item);
    }

    private static GgufValueType ElementTypeOf(Type type, string key) =>
        TypeOf(type == typeof(string) ? "" : Activator.CreateInstance(type)!, key);

    private static void WriteScalar(BinaryWriter w, object value)
    {
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write((byte)(v ? 1 : 0)); break;
            case string v: WriteString(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            default: throw new ArgumentException($"a {value.GetType().Name} cannot be an element of a GGUF array.");
        }
    }
}
