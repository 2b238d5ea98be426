using System.Buffers.Binary;
using Tailor.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Tests.Formats;

/// <summary>Every kind of broken file is refused with a one-line CheckpointFormatException naming the file and tensor.</summary>
[Collection("TorchSharp")]
public class SafetensorsValidationTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CheckpointFormatException LoadFails(byte[] file, string? expectedTensor, params string[] messageParts)
    {
        string path = _temp.File($"case-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, file);
        foreach (SafetensorsReadMode mode in new[] { SafetensorsReadMode.MemoryMapped, SafetensorsReadMode.Streamed })
        {
            var e = Assert.Throws<CheckpointFormatException>(() =>
            {
                using DisposeScope scope = torch.NewDisposeScope();
                Safetensors.Load(path, new SafetensorsReadOptions { Mode = mode });
            });
            Assert.Equal(path, e.FilePath);
            Assert.Equal(expectedTensor, e.TensorName);
            Assert.DoesNotContain('\n', e.Message);
            Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
            foreach (string part in messageParts)
                Assert.Contains(part, e.Message, StringComparison.Ordinal);
        }

        return Assert.Throws<CheckpointFormatException>(() => Safetensors.ReadHeader(path));
    }

    private const string OneF32 = """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";

    [Fact]
    public void Empty_file_is_reported_as_truncated() =>
        LoadFails([], null, "fewer than the 8-byte header length", "truncated");

    [Fact]
    public void File_shorter_than_the_length_prefix_is_reported_as_truncated() =>
        LoadFails([1, 2, 3, 4, 5], null, "5 bytes", "truncated");

    [Fact]
    public void Header_length_beyond_the_file_is_reported()
    {
        byte[] file = RawSafetensors.Build(OneF32, 8);
        BinaryPrimitives.WriteUInt64LittleEndian(file, 1000);
        LoadFails(file, null, "header length field says 1000 bytes", "truncated");
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 40)]
    [InlineData(200_000_000UL)]
    public void Huge_header_length_is_refused_without_allocating_it(ulong headerLength)
    {
        byte[] file = RawSafetensors.Build(OneF32, 8);
        BinaryPrimitives.WriteUInt64LittleEndian(file, headerLength);
        long before = GC.GetTotalAllocatedBytes(precise: true);

        LoadFails(file, null, "header length field says");

        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 10_000_000, "the reader allocated as if the header length were real");
    }

    [Fact]
    public void Header_length_above_the_format_limit_is_refused_even_when_the_file_is_that_long()
    {
        string path = _temp.File("sparse.safetensors");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, 150_000_000);
            stream.Write(prefix);
            stream.SetLength(150_000_100); // sparse: no real disk use
        }

        var e = Assert.Throws<CheckpointFormatException>(() => Safetensors.ReadHeader(path));
        Assert.Contains("above the 100000000-byte limit", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},}""")]
    [InlineData("\"a string\"")]
    [InlineData("[1,2]")]
    [InlineData("{}\u0000\u0000")]
    public void Header_that_is_not_a_json_object_is_reported(string header) =>
        LoadFails(RawSafetensors.Build(header, 0, pad: false), null, "header");

    [Fact]
    public void Invalid_utf8_in_the_header_is_reported()
    {
        byte[] file = RawSafetensors.Build("{\"w\u00e9\":1}", 0, pad: false);
        file[11] = 0xFF; // break the UTF-8 of the name
        LoadFails(file, null, "not valid UTF-8");
    }

    [Fact]
    public void Unknown_dtype_names_the_tensor() =>
        LoadFails(RawSafetensors.Build("""{"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}""", 8), "w", "unknown dtype 'F33'");

    [Fact]
    public void Valid_but_unsupported_dtype_says_so() =>
        LoadFails(RawSafetensors.Build("""{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}""", 2), "w", "F8_E4M3 is valid safetensors but Tailor cannot read it");

    [Fact]
    public void Byte_size_that_contradicts_dtype_and_shape_names_the_tensor() =>
        LoadFails(RawSafetensors.Build("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}""", 12), "w", "span 12 bytes but F32 [2, 2] needs 16");

    [Fact]
    public void Offsets_past_the_end_of_the_buffer_report_a_truncated_file() =>
        LoadFails(RawSafetensors.Build("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8), "w", "run past the end", "truncated");

    [Fact]
    public void Overlapping_tensors_name_both_tensors() =>
        LoadFails(RawSafetensors.Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12), "b", "overlap tensor 'a'");

    [Fact]
    public void Hole_between_tensors_is_reported() =>
        LoadFails(RawSafetensors.Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}""", 20), "b", "hole of 4 bytes");

    [Fact]
    public void Bytes_after_the_last_tensor_are_reported() =>
        LoadFails(RawSafetensors.Build(OneF32, 12), null, "4 bytes after the last tensor");

    [Theory]
    [InlineData("[-1,2]", "shape entry 0 (-1)")]
    [InlineData("[2.5]", "shape entry 0 (2.5)")]
    [InlineData("[\"2\"]", "shape entry 0 (\"2\")")]
    [InlineData("[4294967296,4294967296,4294967296]", "overflows")]
    [InlineData("[2147483648,2147483648]", "overflows a 64-bit byte count")]
    public void Negative_fractional_or_overflowing_shapes_are_reported(string shape, string message) =>
        LoadFails(RawSafetensors.Build($$$"""{"w":{"dtype":"F32","shape":{{{shape}}},"data_offsets":[0,8]}}""", 8), "w", message);

    [Theory]
    [InlineData("[0]", "exactly [begin, end]")]
    [InlineData("[8,0]", "end before they begin")]
    [InlineData("[-8,0]", "not a non-negative integer")]
    [InlineData("[0,99999999999999999999]", "not a non-negative integer")]
    public void Malformed_offsets_are_reported(string offsets, string message) =>
        LoadFails(RawSafetensors.Build($$$"""{"w":{"dtype":"F32","shape":[2],"data_offsets":{{{offsets}}}}}""", 8), "w", message);

    [Fact]
    public void Entry_without_dtype_is_reported() =>
        LoadFails(RawSafetensors.Build("""{"w":{"shape":[2],"data_offsets":[0,8]}}""", 8), "w", "no string \"dtype\"");

    [Fact]
    public void Duplicate_tensor_name_is_reported() =>
        LoadFails(RawSafetensors.Build("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8), "w", "appears twice");

    [Fact]
    public void Metadata_with_a_non_string_value_is_reported() =>
        LoadFails(RawSafetensors.Build("""{"__metadata__":{"format":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8), null, "entry 'format' must be a string");

    [Fact]
    public void Truncated_download_names_the_last_tensor()
    {
        byte[] whole = File.ReadAllBytes(FormatFixtures.PathOf("f32.safetensors"));
        LoadFails(whole[..^3], "special", "run past the end", "truncated");
    }

    [Fact]
    public void Control_characters_in_a_corrupt_name_do_not_break_the_one_line_message()
    {
        CheckpointFormatException e = LoadFails(RawSafetensors.Build("{\"bad\\nname\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "bad\nname", "unknown dtype");
        Assert.Contains("bad\\u000aname", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Zero_length_and_scalar_tensors_are_valid()
    {
        string path = _temp.File("edge.safetensors");
        File.WriteAllBytes(path, RawSafetensors.Build("""{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"F16","shape":[5,0],"data_offsets":[8,8]}}""", 8));
        using DisposeScope scope = torch.NewDisposeScope();

        Dictionary<string, Tensor> tensors = Safetensors.Load(path);

        Assert.Equal([0L, 3], tensors["e"].shape);
        Assert.Empty(tensors["s"].shape);
        Assert.Equal(0L, tensors["s"].item<long>());
        Assert.Equal([5L, 0], tensors["z"].shape);
    }

    [Fact]
    public void Expected_shapes_report_missing_extra_and_mismatched_tensors()
    {
        string path = FormatFixtures.PathOf("f32.safetensors");
        var exact = new Dictionary<string, long[]>
        {
            ["model.layers.0.self_attn.q_proj.weight"] = [4, 3],
            ["model.norm.weight"] = [3],
            ["special"] = [8],
            ["scalar"] = [],
            ["empty"] = [0, 4],
        };
        using (torch.NewDisposeScope())
            Assert.Equal(5, Safetensors.Load(path, new SafetensorsReadOptions { ExpectedShapes = exact }).Count);

        var missing = new Dictionary<string, long[]>(exact) { ["model.extra.weight"] = [1] };
        var extra = new Dictionary<string, long[]>(exact);
        extra.Remove("special");
        var mismatched = new Dictionary<string, long[]>(exact) { ["model.layers.0.self_attn.q_proj.weight"] = [3, 4] };

        var e1 = Assert.Throws<CheckpointFormatException>(() => Safetensors.Load(path, new SafetensorsReadOptions { ExpectedShapes = missing }));
        var e2 = Assert.Throws<CheckpointFormatException>(() => Safetensors.Load(path, new SafetensorsReadOptions { ExpectedShapes = extra }));
        var e3 = Assert.Throws<CheckpointFormatException>(() => Safetensors.Load(path, new SafetensorsReadOptions { ExpectedShapes = mismatched }));

        Assert.Equal(("model.extra.weight", path), (e1.TensorName, e1.FilePath));
        Assert.Contains("does not have it", e1.Message, StringComparison.Ordinal);
        Assert.Equal("special", e2.TensorName);
        Assert.Contains("no parameter or buffer of that name", e2.Message, StringComparison.Ordinal);
        Assert.Equal("model.layers.0.self_attn.q_proj.weight", e3.TensorName);
        Assert.Contains("shape [4, 3] in the file but the model expects [3, 4]", e3.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reading_an_unknown_name_names_it()
    {
        using SafetensorsReader reader = SafetensorsReader.Open(FormatFixtures.PathOf("f32.safetensors"));
        var e = Assert.Throws<CheckpointFormatException>(() => reader.Read("nope"));
        Assert.Equal("nope", e.TensorName);
    }
}
