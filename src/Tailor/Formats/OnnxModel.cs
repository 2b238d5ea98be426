namespace Tailor.Formats;

/// <summary>One ONNX graph node: operator, input and output value names.</summary>
public sealed record OnnxNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>One ONNX initializer (a constant tensor of the graph). <see cref="Data"/> is little-endian raw bytes.</summary>
public sealed record OnnxTensor(string Name, int DataType, long[] Dims, ReadOnlyMemory<byte> Data)
{
    /// <summary>ONNX TensorProto.DataType FLOAT.</summary>
    public const int Float = 1;

    /// <summary>ONNX TensorProto.DataType INT64.</summary>
    public const int Int64 = 7;

    /// <summary>Number of elements.</summary>
    public long Elements => Dims.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The parts of an ONNX <c>ModelProto</c> a weight converter needs: the graph's nodes, initializers, and input/output
/// names. A minimal protocol-buffers reader written for this (ModelProto.graph = 7; GraphProto.node = 1,
/// initializer = 5, input = 11, output = 12; NodeProto.input = 1, output = 2, name = 3, op_type = 4; TensorProto
/// dims = 1, data_type = 2, float_data = 4, int64_data = 7, name = 8, raw_data = 9; ValueInfoProto.name = 1).
/// Tensors with external data are refused. Malformed input raises a <see cref="CheckpointFormatException"/> naming
/// the byte offset.
/// </summary>
public sealed class OnnxModel
{
    private OnnxModel(List<OnnxNode> nodes, Dictionary<string, OnnxTensor> initializers, List<string> inputs, List<string> outputs)
    {
        Nodes = nodes;
        Initializers = initializers;
        Inputs = inputs;
        Outputs = outputs;
    }

    /// <summary>Graph nodes in file (topological) order.</summary>
    public IReadOnlyList<OnnxNode> Nodes { get; }

    /// <summary>Initializers by name.</summary>
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    /// <summary>Graph input names.</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>Graph output names.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>Parses a serialized ModelProto; <paramref name="source"/> names it in errors. Tensors reference <paramref name="bytes"/>.</summary>
    public static OnnxModel Parse(ReadOnlyMemory<byte> bytes, string source)
    {
        var nodes = new List<OnnxNode>();
        var inits = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var outputs = new List<string>();
        bool sawGraph = false;
        var model = new Reader(bytes, 0, source);
        while (model.Next(out int field, out int wire))
        {
            if (field != 7 || wire != 2) { model.Skip(wire); continue; }
            sawGraph = true;
            var graph = model.Sub();
            while (graph.Next(out int gf, out int gw))
            {
                switch (gf, gw)
                {
                    case (1, 2): nodes.Add(ReadNode(graph.Sub())); break;
                    case (5, 2):
                        var t = ReadTensor(graph.Sub(), source);
                        if (!inits.TryAdd(t.Name, t)) throw new CheckpointFormatException(source, t.Name, "is an initializer name used twice; the file is corrupt.");
                        break;
                    case (11, 2): inputs.Add(ReadValueInfoName(graph.Sub())); break;
                    case (12, 2): outputs.Add(ReadValueInfoName(graph.Sub())); break;
                    default: graph.Skip(gw); break;
                }
            }
        }
        if (!sawGraph) throw new CheckpointFormatException(source, null, "holds no ONNX graph (ModelProto field 7); it is not an ONNX model.");
        return new OnnxModel(nodes, inits, inputs, outputs);
    }

    private static OnnxNode ReadNode(Reader r)
    {
        var ins = new List<string>();
        var outs = new List<string>();
        string op = "", name = "";
        while (r.Next(out int f, out int w))
        {
            switch (f, w)
            {
                case (1, 2): ins.Add(r.String()); break;
                case (2, 2): outs.Add(r.String()); break;
                case (3, 2): name = r.String(); break;
                case (4, 2): op = r.String(); break;
                default: r.Skip(w); break;
            }
        }
        return new OnnxNode(op, name, ins, outs);
    }

    private static string ReadValueInfoName(Reader r)
    {
        string name = "";
        while (r.Next(out int f, out int w))
        {
            if (f == 1 && w == 2) name = r.String();
            else r.Skip(w);
        }
        return name;
    }

    private static OnnxTensor ReadTensor(Reader r, string source)
    {
        var dims = new List<long>();
        int type = 0;
        string name = "";
        ReadOnlyMemory<byte> raw = default;
        var floats = new List<float>();
        var longs = new List<long>();
        while (r.Next(out int f, out int w))
        {
            switch (f, w)
            {
                case (1, 0): dims.Add((long)r.Varint()); break;
                case (1, 2): { var p = r.Sub(); while (!p.AtEnd) dims.Add((long)p.Varint()); break; }
                case (2, 0): type = (int)r.Varint(); break;
                case (4, 2): { var p = r.Bytes(); for (int i = 0; i + 4 <= p.Length; i += 4) floats.Add(BitConverter.ToSingle(p.Span.Slice(i, 4))); break; }
                case (4, 5): floats.Add(BitConverter.ToSingle(r.Fixed(4).Span)); break;
                case (7, 0): longs.Add((long)r.Varint()); break;
                case (7, 2): { var p = r.Sub(); while (!p.AtEnd) longs.Add((long)p.Varint()); break; }
                case (8, 2): name = r.String(); break;
                case (9, 2): raw = r.Bytes(); break;
                case (13, 2): throw new CheckpointFormatException(source, name, "keeps its data in an external file; only self-contained ONNX models are read.");
                default: r.Skip(w); break;
            }
        }
        if (raw.IsEmpty && floats.Count > 0) raw = floats.SelectMany(BitConverter.GetBytes).ToArray();
        if (raw.IsEmpty && longs.Count > 0) raw = longs.SelectMany(BitConverter.GetBytes).ToArray();
        var tensor = new OnnxTensor(name, type, [.. dims], raw);
        int size = type switch { OnnxTensor.Float => 4, OnnxTensor.Int64 => 8, _ => 0 };
        if (size > 0 && tensor.Elements * size != raw.Length)
            throw new CheckpointFormatException(source, name, $"holds {raw.Length} bytes but its shape [{string.Join(", ", dims)}] needs {tensor.Elements * size}; the file is corrupt.");
        return tensor;
    }

    /// <summary>A bounds-checked protobuf wire-format cursor over one message.</summary>
    private struct Reader(ReadOnlyMemory<byte> data, int baseOffset, string source)
    {
        private int _pos;

        public readonly bool AtEnd => _pos >= data.Length;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (AtEnd) return false;
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            if (field == 0) Fail("has a field number 0");
            return true;
        }

        public ulong Varint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= data.Length) Fail("ends inside a varint");
                byte b = data.Span[_pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return result;
            }
            Fail("has a varint longer than 10 bytes");
            return 0;
        }

        public ReadOnlyMemory<byte> Bytes()
        {
            ulong length = Varint();
            if (length > (ulong)(data.Length - _pos)) Fail($"has a field of {length} bytes with only {data.Length - _pos} left");
            var slice = data.Slice(_pos, (int)length);
            _pos += (int)length;
            return slice;
        }

        public ReadOnlyMemory<byte> Fixed(int n)
        {
            if (n > data.Length - _pos) Fail("ends inside a fixed-width field");
            var slice = data.Slice(_pos, n);
            _pos += n;
            return slice;
        }

        public Reader Sub()
        {
            int start = baseOffset + _pos;
            var bytes = Bytes();
            return new Reader(bytes, start + (bytes.Length == 0 ? 0 : 1), source);
        }

        public string String() => System.Text.Encoding.UTF8.GetString(Bytes().Span);

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Fixed(8); break;
                case 2: Bytes(); break;
                case 5: Fixed(4); break;
                default: Fail($"uses protobuf wire type {wire}, which ONNX never writes"); break;
            }
        }

        private readonly void Fail(string what) =>
            throw new CheckpointFormatException(source, null, $"{what} near byte {baseOffset + _pos}; it is not a valid ONNX model (truncated or corrupt).");
    }
}
