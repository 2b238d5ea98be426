using System.Buffers.Binary;
using System.Text;
using Tailor.Formats;

namespace Tailor.Tests.Formats;

/// <summary>The GGUF container: exact bytes of a small file, a write/read round trip, Q8_0 blocks computed by hand, and
/// every way a file or a write can be wrong. No TorchSharp here.</summary>
public sealed class GgufTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_minimal_file_has_the_bytes_the_gguf_spec_describes()
    {
        string path = _temp.File("min.gguf");
        Gguf.Write(path, [new("general.architecture", "llama")], [new GgufTensor("w", [2], GgmlType.F32, Gguf.Encode([1.5f, -2f], GgmlType.F32))]);

        var expected = new List<byte>();
        expected.AddRange("GGUF"u8.ToArray());
        expected.AddRange(U32(3)); expected.AddRange(U64(1)); expected.AddRange(U64(1));          // version, tensors, kvs
        expected.AddRange(U64(20)); expected.AddRange("general.architecture"u8.ToArray());        // key
        expected.AddRange(U32(8)); expected.AddRange(U64(5)); expected.AddRange("llama"u8.ToArray()); // string value
        expected.AddRange(U64(1)); expected.AddRange("w"u8.ToArray());                            // tensor name
        expected.AddRange(U32(1)); expected.AddRange(U64(2)); expected.AddRange(U32(0)); expected.AddRange(U64(0)); // rank, ne, F32, offset
        while (expected.Count % 32 != 0) expected.Add(0);                                         // align the data section
        expected.AddRange(BitConverter.GetBytes(1.5f)); expected.AddRange(BitConverter.GetBytes(-2f));
        while (expected.Count % 32 != 0) expected.Add(0);
        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_write_deletes_temporaries_that_crashed_writes_of_the_same_file_left_and_nothing_else()
    {
        string path = _temp.File("m.gguf");
        string[] crashed = [_temp.File($".m.gguf.{Guid.NewGuid():N}.tmp"), _temp.File($".m.gguf.{Guid.NewGuid():N}.tmp")];
        string[] kept = [_temp.File(".m.gguf.backup.tmp"), _temp.File($".n.gguf.{Guid.NewGuid():N}.tmp"), _temp.File("m.gguf.tmp")];
        foreach (string f in crashed.Concat(kept)) File.WriteAllText(f, "x");
        Gguf.Write(path, [new("general.architecture", "llama")], [new GgufTensor("w", [2], GgmlType.F32, Gguf.Encode([1.5f, -2f], GgmlType.F32))]);
        Assert.Equal(kept.Append(path).Select(Path.GetFileName).Order(StringComparer.Ordinal), Directory.GetFiles(_temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Metadata_of_every_type_and_tensors_of_every_type_read_back_as_written()
    {
        object[] values =
        [
            (byte)200, (sbyte)-5, (ushort)60000, (short)-300, 4000000000u, -7, 0.25f, true, "héllo 🦙", ulong.MaxValue, long.MinValue, Math.PI,
            new[] { "a", "", "ü" }, new[] { 1, -2, 3 }, new[] { 0.5f, -1f }, new[] { true, false }, Array.Empty<string>(),
        ];
        var metadata = values.Select((v, i) => new KeyValuePair<string, object>($"test.key{i}", v)).ToList();
        metadata.Add(new("general.alignment", 64u));
        float[] row = [.. Enumerable.Range(0, 64).Select(i => (i - 20) * 0.37f)];
        var tensors = new List<GgufTensor>
        {
            new("f32", [64], GgmlType.F32, Gguf.Encode(row, GgmlType.F32)),
            new("f16", [32, 2], GgmlType.F16, Gguf.Encode(row, GgmlType.F16)),
            new("bf16", [16, 4], GgmlType.BF16, Gguf.Encode(row, GgmlType.BF16)),
            new("q8", [64], GgmlType.Q8_0, Gguf.Encode(row, GgmlType.Q8_0)),
        };
        string path = _temp.File("all.gguf");
        Gguf.Write(path, metadata, tensors);

        var file = Gguf.Read(path);
        Assert.Equal(3u, file.Version);
        Assert.Equal(64, file.Alignment);
        Assert.Equal(0, file.DataOffset % 64);
        Assert.Equal(metadata.Select(kv => kv.Key), file.Metadata.Select(kv => kv.Key));
        for (int i = 0; i < values.Length; i++) Assert.Equal(values[i], file.Metadata[i].Value);
        Assert.Equal(tensors.Select(t => t.Name), file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(0, t.Offset % 64));
        Assert.Equal([32L, 2], file.Tensor("f16").Dimensions);
        Assert.Equal(GgmlType.Q8_0, file.Tensor("q8").Type);
        Assert.Equal(row, file.ReadFloats("f32"));
        Assert.Equal(row.Select(v => (float)(Half)v), file.ReadFloats("f16"));
        float[] bf16 = file.ReadFloats("bf16");
        for (int i = 0; i < row.Length; i++) Assert.True(Math.Abs(bf16[i] - row[i]) <= Math.Abs(row[i]) / 256, $"bf16[{i}]");
        float[] q8 = file.ReadFloats("q8");
        for (int i = 0; i < row.Length; i++) Assert.True(Math.Abs(q8[i] - row[i]) <= 0.5 * 15.91f / 127 * 1.01, $"q8[{i}] = {q8[i]} vs {row[i]}");
        Assert.Equal(new[] { 1, -2, 3 }, file.Get<int[]>("test.key13"));
        var missing = Assert.Throws<CheckpointFormatException>(() => file.Get<string>("llama.block_count"));
        Assert.Contains("'llama.block_count' is missing", missing.Message);
    }

    [Fact]
    public void Q8_0_blocks_match_values_worked_out_by_hand()
    {
        // Block 1: amax 127 → d = 1 exactly; halves round away from zero (roundf), not to even.
        // Block 2: all zeros → d = 0, q = 0.
        // Block 3: amax 1 → d = 1/127 = 0.0078740157, stored as f16 0x2008 = 0.00787353515625; q = round(x · 127).
        float[] x = new float[96];
        x[0] = 127; x[1] = 0.5f; x[2] = -0.5f; x[3] = 1.5f; x[4] = 2.5f; x[5] = -2.5f; x[6] = -127; x[7] = 3.49f;
        x[64] = 1; x[65] = -1; x[66] = 0.25f; x[67] = -0.1f; x[68] = 0.5039f;
        byte[] blocks = Gguf.Encode(x, GgmlType.Q8_0);
        Assert.Equal(3 * 34, blocks.Length);

        Assert.Equal(0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(blocks));                    // f16 1.0
        Assert.Equal(new sbyte[] { 127, 1, -1, 2, 3, -3, -127, 3 }, Q(blocks, 0)[..8]);
        Assert.All(Q(blocks, 0)[8..], q => Assert.Equal(0, q));

        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(blocks.AsSpan(34)));
        Assert.All(Q(blocks, 1), q => Assert.Equal(0, q));

        Assert.Equal(0x2008, BinaryPrimitives.ReadUInt16LittleEndian(blocks.AsSpan(68)));
        Assert.Equal(new sbyte[] { 127, -127, 32, -13, 64 }, Q(blocks, 2)[..5]);               // 31.75→32, -12.7→-13, 63.995→64

        static sbyte[] Q(byte[] b, int block) => [.. b.AsSpan(block * 34 + 2, 32).ToArray().Select(v => (sbyte)v)];
    }

    [Fact]
    public void A_file_that_is_not_gguf_names_the_magic_it_found()
    {
        string path = _temp.File("model.safetensors");
        File.WriteAllBytes(path, [8, 0, 0, 0, 0, 0, 0, 0, .. "{}      "u8.ToArray()]);
        var e = Assert.Throws<CheckpointFormatException>(() => Gguf.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not the GGUF magic", e.Message);
    }

    [Fact]
    public void A_truncated_file_is_reported_with_the_offset_where_it_ends()
    {
        string path = _temp.File("t.gguf");
        Gguf.Write(path, [new("general.name", "x")], [new GgufTensor("w", [64], GgmlType.F32, new byte[256])]);
        byte[] whole = File.ReadAllBytes(path);
        foreach (int cut in new[] { 3, 20, 40, whole.Length - 100 })
        {
            File.WriteAllBytes(path, whole[..cut]);
            var e = Assert.Throws<CheckpointFormatException>(() => Gguf.Read(path));
            Assert.Contains("runs past the end of the file", e.Message);
            Assert.Contains("re-export", e.Message);
        }
    }

    [Fact]
    public void Corrupt_counts_versions_and_types_are_refused_with_a_reason()
    {
        string path = _temp.File("c.gguf");
        Gguf.Write(path, [new("general.name", "x")], [new GgufTensor("w", [64], GgmlType.F32, new byte[256])]);
        byte[] good = File.ReadAllBytes(path);

        Assert.Contains("version 1", ReadPatched(good, 4, U32(1)));
        Assert.Contains("more than the file can hold", ReadPatched(good, 16, U64(1L << 40)));            // metadata count
        int tensorType = 4 + 4 + 8 + 8 + (8 + 12) + 4 + (8 + 1) + (8 + 1) + 4 + 8;                          // header, kv, name, rank, ne
        Assert.Contains("ggml type 2 is not one Tailor reads", ReadPatched(good, tensorType, U32(2)));   // Q4_0
        Assert.Contains("not a multiple of the alignment", ReadPatched(good, tensorType + 4, U64(8)));

        string ReadPatched(byte[] bytes, int at, byte[] patch)
        {
            byte[] copy = [.. bytes];
            patch.CopyTo(copy, at);
            File.WriteAllBytes(path, copy);
            return Assert.Throws<CheckpointFormatException>(() => Gguf.Read(path)).Message;
        }
    }

    [Fact]
    public void Bad_writes_are_refused_before_the_existing_file_is_touched()
    {
        string path = _temp.File("keep.gguf");
        File.WriteAllText(path, "previous export");
        Assert.Contains("multiple of 32", Assert.Throws<ArgumentException>(() =>
            Gguf.Write(path, [], [new GgufTensor("w", [48], GgmlType.Q8_0, new byte[51])])).Message);
        Assert.Contains("has 8 bytes", Assert.Throws<ArgumentException>(() =>
            Gguf.Write(path, [], [new GgufTensor("w", [4], GgmlType.F32, new byte[8])])).Message);
        Assert.Contains("appears twice", Assert.Throws<ArgumentException>(() =>
            Gguf.Write(path, [], [new GgufTensor("w", [1], GgmlType.F32, new byte[4]), new GgufTensor("w", [1], GgmlType.F32, new byte[4])])).Message);
        Assert.Contains("has no GGUF type", Assert.Throws<ArgumentException>(() =>
            Gguf.Write(path, [new("x", new DateTime(2020, 1, 1))], [])).Message);
        Assert.Equal("previous export", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_temp.Path));                                             // no temporary left behind
    }

    private static byte[] U32(uint v) => BitConverter.GetBytes(v);

    private static byte[] U64(long v) => BitConverter.GetBytes(v);

    private static byte[] U64(ulong v) => BitConverter.GetBytes(v);

    [Fact]
    public void Strings_are_counted_in_utf8_bytes_not_characters()
    {
        string path = _temp.File("s.gguf");
        Gguf.Write(path, [new("k", "日本")], []);
        byte[] bytes = File.ReadAllBytes(path);
        int at = 24 + 8 + 1 + 4;
        Assert.Equal((ulong)Encoding.UTF8.GetByteCount("日本"), BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at)));
        Assert.Equal("日本", Gguf.Read(path).Get<string>("k"));
    }
}
