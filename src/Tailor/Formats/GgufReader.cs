using System.Text;

namespace Tailor.Formats;

/// <summary>Reads and validates a GGUF file's header, metadata and tensor table. See <see cref="Gguf"/>.</summary>
internal sealed class GgufReader
{
    // Bounds against corrupt counts: no real model comes near them, and they keep allocation proportional to the file.
    private const int MaxNameBytes = 1 << 16;
    private const int MaxDimensions = 4;

    private readonly string _path;
    private readonly BinaryReader _reader;
    private readonly long _length;

    private GgufReader(string path, BinaryReader reader, long length)
    {
        _path = path;
        _reader = reader;
        _length = length;
    }

    public static GgufFile Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var binary = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        return new GgufReader(path, binary, stream.Length).ReadFile();
    }

    private long Position => _reader.BaseStream.Position;

    private GgufFile ReadFile()
    {
        Need(4, "the magic");
        string magic = Encoding.ASCII.GetString(_reader.ReadBytes(4));
        if (magic != "GGUF") GgufThrow.NotGguf(_path, magic);
        Need(4, "the version");
        uint version = _reader.ReadUInt32();
        if (version is not (2 or 3)) GgufThrow.Version(_path, version);
        Need(16, "the tensor and metadata counts");
        ulong tensorCount = _reader.ReadUInt64();
        ulong kvCount = _reader.ReadUInt64();
        // Each metadata entry takes at least 12 bytes and each tensor at least 24: a count beyond that is corrupt.
        if (kvCount > (ulong)(_length / 12)) GgufThrow.Bad(_path, $"the header claims {kvCount} metadata entries, more than the file can hold");
        if (tensorCount > (ulong)(_length / 24)) GgufThrow.Bad(_path, $"the header claims {tensorCount} tensors, more than the file can hold");

        var metadata = new List<KeyValuePair<string, object>>((int)kvCount);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        int alignment = Gguf.DefaultAlignment;
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = ReadString("a metadata key");
            if (!keys.Add(key)) GgufThrow.Bad(_path, $"metadata key '{CheckpointFormatException.Printable(key)}' appears twice");
            Need(4, $"the type of '{key}'");
            var type = (GgufValueType)_reader.ReadUInt32();
            object value = ReadValue(type, key);
            if (key == "general.alignment")
            {
                if (value is not uint a || a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
                    GgufThrow.Bad(_path, $"general.alignment is {value}; it must be a uint power of two");
                alignment = (int)(uint)value;
            }
            metadata.Add(new(key, value));
        }

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = ReadString("a tensor name");
            if (!names.Add(name)) GgufThrow.BadTensor(_path, name, "the name appears twice in the tensor table");
            Need(4, $"the rank of '{name}'");
            uint rank = _reader.ReadUInt32();
            if (rank is 0 or > MaxDimensions) GgufThrow.BadTensor(_path, name, $"rank {rank}; GGUF tensors have 1 to {MaxDimensions} dimensions");
            Need(8L * rank + 12, $"the shape of '{name}'");
            var dims = new long[rank];
            for (int d = 0; d < rank; d++)
            {
                ulong n = _reader.ReadUInt64();
                if (n == 0 || n > (ulong)_length * 8) GgufThrow.BadTensor(_path, name, $"dimension {d} is {n}");
                dims[d] = (long)n;
            }
            uint rawType = _reader.ReadUInt32();
            if (!Enum.IsDefined((GgmlType)rawType)) GgufThrow.UnsupportedType(_path, name, rawType);
            var type = (GgmlType)rawType;
            ulong offset = _reader.ReadUInt64();
            if (type == GgmlType.Q8_0 && dims[0] % Gguf.Q8BlockSize != 0)
                GgufThrow.BadTensor(_path, name, $"a Q8_0 row of {dims[0]} values is not a whole number of 32-value blocks");
            if (offset > (ulong)_length) GgufThrow.BadTensor(_path, name, $"data offset {offset} lies beyond the file");
            tensors.Add(new GgufTensorInfo(name, dims, type, (long)offset));
        }

        long dataOffset = GgufWriter.Align(Position, alignment);
        foreach (var t in tensors)
        {
            if (t.Offset % alignment != 0)
                GgufThrow.BadTensor(_path, t.Name, $"data offset {t.Offset} is not a multiple of the alignment {alignment}");
            if (dataOffset + t.Offset + t.ByteSize > _length)
                GgufThrow.Truncated(_path, $"the data of tensor '{t.Name}' ({t.ByteSize} bytes)", dataOffset + t.Offset, _length);
        }
        return new GgufFile(_path, version, metadata, tensors, dataOffset, alignment);
    }

    private void Need(long bytes, string what)
    {
        if (bytes < 0 || Position + bytes > _length) GgufThrow.Truncated(_path, what, Position, _length);
    }

    private string ReadString(string what)
    {
        Need(8, what);
        ulong n = _reader.ReadUInt64();
        if (n > MaxNameBytes && what != "a string value") GgufThrow.Bad(_path, $"{what} at byte {Position - 8} claims {n} bytes");
        Need((long)Math.Min(n, long.MaxValue), what);
        byte[] bytes = _reader.ReadBytes((int)n);
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            GgufThrow.Bad(_path, $"{what} at byte {Position - (long)n} is not valid UTF-8");
            return "";
        }
    }

    private object ReadValue(GgufValueType type, string key)
    {
        if (type == GgufValueType.Array)
        {
            Need(12, $"the array header of '{key}'");
            var elementType = (GgufValueType)_reader.ReadUInt32();
            ulong count = _reader.ReadUInt64();
            if (elementType == GgufValueType.Array) GgufThrow.Bad(_path, $"metadata key '{key}' is an array of arrays, which Tailor does not read");
            int size = ScalarSize(elementType, key);
            if (count > (ulong)(_length - Position) / (ulong)Math.Max(size, 1))
                GgufThrow.Truncated(_path, $"the {count}-element array '{key}'", Position, _length);
            var array = Array.CreateInstance(ClrType(elementType), (int)count);
            for (int i = 0; i < (int)count; i++) array.SetValue(ReadScalar(elementType, key), i);
            return array;
        }
        return ReadScalar(type, key);
    }

    private object ReadScalar(GgufValueType type, string key)
    {
        if (type == GgufValueType.String) return ReadString("a string value");
        Need(ScalarSize(type, key), $"the value of '{key}'");
        return type switch
        {
            GgufValueType.UInt8 => _reader.ReadByte(),
            GgufValueType.Int8 => _reader.ReadSByte(),
            GgufValueType.UInt16 => _reader.ReadUInt16(),
            GgufValueType.Int16 => _reader.ReadInt16(),
            GgufValueType.UInt32 => _reader.ReadUInt32(),
            GgufValueType.Int32 => _reader.ReadInt32(),
            GgufValueType.Float32 => _reader.ReadSingle(),
            GgufValueType.Bool => _reader.ReadByte() != 0,
            GgufValueType.UInt64 => _reader.ReadUInt64(),
            GgufValueType.Int64 => _reader.ReadInt64(),
            GgufValueType.Float64 => _reader.ReadDouble(),
            _ => throw new InvalidOperationException("unreachable: ScalarSize rejects other types"),
        };
    }

    // Smallest encoded size (strings: their 8-byte length).
    private int ScalarSize(GgufValueType type, string key)
    {
        switch (type)
        {
            case GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool: return 1;
            case GgufValueType.UInt16 or GgufValueType.Int16: return 2;
            case GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32: return 4;
            case GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String: return 8;
            default:
                GgufThrow.Bad(_path, $"metadata key '{CheckpointFormatException.Printable(key)}' has unknown value type {(uint)type}");
                return 0;
        }
    }

    private static Type ClrType(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        _ => typeof(double),
    };
}
