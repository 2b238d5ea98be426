using System.Buffers.Binary;
using System.Text.Json;
using Tailor.Formats;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Tailor.Tests.Formats;

/// <summary>
/// Files written by another tool (Fixtures/formats/make_safetensors_fixtures.py, Python + numpy, written from the format
/// spec and the reference writer's layout) must read back to exactly the values that tool recorded, and files we write
/// must be byte-identical to that tool's files and readable by its reader.
/// </summary>
[Collection("TorchSharp")]
public class SafetensorsCrossToolTests(ITestOutputHelper output)
{
    public static TheoryData<string, SafetensorsReadMode> SingleFiles()
    {
        var data = new TheoryData<string, SafetensorsReadMode>();
        foreach (string file in new[] { "f32.safetensors", "f16.safetensors", "bf16.safetensors", "mixed.safetensors", "f32_as_bf16.safetensors", "f32_as_f16.safetensors" })
        {
            data.Add(file, SafetensorsReadMode.MemoryMapped);
            data.Add(file, SafetensorsReadMode.Streamed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SingleFiles))]
    public void Load_reads_exactly_the_values_the_python_writer_stored(string file, SafetensorsReadMode mode)
    {
        JsonElement expected = FormatFixtures.Expected(file);
        using DisposeScope scope = torch.NewDisposeScope();
        Dictionary<string, Tensor> tensors = Safetensors.Load(FormatFixtures.PathOf(file), new SafetensorsReadOptions { Mode = mode });

        JsonElement expectedTensors = expected.GetProperty("tensors");
        Assert.Equal(expectedTensors.EnumerateObject().Select(p => p.Name).Order(), tensors.Keys.Order());
        foreach (JsonProperty tensor in expectedTensors.EnumerateObject())
            FormatFixtures.AssertMatches($"{file}:{tensor.Name}", tensor.Value, tensors[tensor.Name]);
    }

    [Theory]
    [InlineData("f32.safetensors")]
    [InlineData("mixed.safetensors")]
    public void ReadHeader_reports_the_python_writers_layout_and_metadata(string file)
    {
        JsonElement expected = FormatFixtures.Expected(file);
        SafetensorsHeader header = Safetensors.ReadHeader(FormatFixtures.PathOf(file));

        Assert.Equal(expected.GetProperty("layout").EnumerateArray().Select(e => e.GetString()), header.Tensors.Select(t => t.Name));
        Assert.Equal(8 + expected.GetProperty("header_length").GetInt64(), header.DataStart);
        JsonElement metadata = expected.GetProperty("metadata");
        if (metadata.ValueKind == JsonValueKind.Null)
            Assert.Null(header.Metadata);
        else
            Assert.Equal(metadata.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), header.Metadata);
    }

    [Theory]
    [InlineData("f32.safetensors", true)]
    [InlineData("f16.safetensors", true)]
    [InlineData("bf16.safetensors", true)]
    [InlineData("mixed.safetensors", false)]
    [InlineData("sharded/model-00001-of-00002.safetensors", true)]
    [InlineData("sharded/model-00002-of-00002.safetensors", true)]
    public void Save_of_loaded_tensors_is_byte_identical_to_the_python_writer(string file, bool ptMetadata)
    {
        using var temp = new TempFolder();
        using DisposeScope scope = torch.NewDisposeScope();
        Dictionary<string, Tensor> tensors = Safetensors.Load(FormatFixtures.PathOf(file));

        string written = temp.File("out.safetensors");
        Safetensors.Save(written, tensors, new SafetensorsWriteOptions
        {
            Metadata = ptMetadata ? SafetensorsWriteOptions.PyTorchMetadata : null,
            FlushToDisk = false,
        });

        Assert.Equal(File.ReadAllBytes(FormatFixtures.PathOf(file)), File.ReadAllBytes(written));
    }

    /// <remarks>
    /// NaN is the one value whose bits are not pinned down: libtorch's vectorized float→bfloat16 conversion writes NaN as
    /// 0xFFFF where its scalar path (and the Python writer) write 0x7FC0. Both are NaN, so NaN elements are compared as
    /// "both NaN"; the header and every other byte must be identical.
    /// </remarks>
    [Theory]
    [InlineData(ScalarType.BFloat16, "f32_as_bf16.safetensors")]
    [InlineData(ScalarType.Float16, "f32_as_f16.safetensors")]
    public void Save_with_dtype_conversion_rounds_like_the_python_writer(ScalarType dtype, string reference)
    {
        using var temp = new TempFolder();
        using DisposeScope scope = torch.NewDisposeScope();
        Dictionary<string, Tensor> f32 = Safetensors.Load(FormatFixtures.PathOf("f32.safetensors"));

        string written = temp.File("out.safetensors");
        Safetensors.Save(written, f32, new SafetensorsWriteOptions { Dtype = dtype, FlushToDisk = false });

        byte[] expected = File.ReadAllBytes(FormatFixtures.PathOf(reference));
        byte[] actual = File.ReadAllBytes(written);
        Assert.Equal(expected.Length, actual.Length);
        long dataStart = Safetensors.ReadHeader(FormatFixtures.PathOf(reference)).DataStart;
        Assert.Equal(expected[..(int)dataStart], actual[..(int)dataStart]);
        for (int i = (int)dataStart; i < expected.Length; i += 2)
        {
            ushort want = BinaryPrimitives.ReadUInt16LittleEndian(expected.AsSpan(i));
            ushort got = BinaryPrimitives.ReadUInt16LittleEndian(actual.AsSpan(i));
            bool bothNaN = IsHalfNaN(dtype, want) && IsHalfNaN(dtype, got);
            Assert.True(want == got || bothNaN, $"byte {i}: 0x{got:x4}, expected 0x{want:x4}");
        }
    }

    private static bool IsHalfNaN(ScalarType dtype, ushort bits) => dtype == ScalarType.BFloat16
        ? (bits & 0x7F80) == 0x7F80 && (bits & 0x007F) != 0
        : (bits & 0x7C00) == 0x7C00 && (bits & 0x03FF) != 0;

    /// <summary>
    /// The other direction, run through the Python reader itself. It needs /usr/bin/python3 with numpy (Debian's
    /// python3-numpy); without it the test returns early and says so, because xunit 2.9 cannot skip at run time.
    /// The byte-identity tests above cover the same direction without Python.
    /// </summary>
    [Fact]
    public void Files_we_write_are_read_back_by_the_python_reader()
    {
        if (!FormatFixtures.PythonWithNumpyAvailable())
        {
            output.WriteLine("NOT RUN: /usr/bin/python3 with numpy is missing (apt-get install python3-numpy).");
            return;
        }

        using var temp = new TempFolder();
        using DisposeScope scope = torch.NewDisposeScope();
        torch.manual_seed(20240611);
        var tensors = new Dictionary<string, Tensor>
        {
            ["model.embed_tokens.weight"] = torch.randn(16, 8),
            ["model.layers.0.mlp.down_proj.weight"] = torch.randn(8, 24).mul(0.02),
            ["model.norm.weight"] = torch.ones(8),
            ["transposed"] = torch.randn(5, 3).t(), // not contiguous: must be written row-major as seen
            ["position_ids"] = torch.arange(6, dtype: ScalarType.Int64).reshape(2, 3),
        };

        foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16 })
        {
            string path = temp.File($"{dtype}.safetensors");
            Safetensors.Save(path, tensors, new SafetensorsWriteOptions { Dtype = dtype, FlushToDisk = false });

            (int exitCode, string stdout, string stderr) = FormatFixtures.RunPython(FormatFixtures.Script, "read", path);
            Assert.True(exitCode == 0, $"python reader failed on {dtype}: {stderr}");
            using JsonDocument described = JsonDocument.Parse(stdout);
            JsonElement read = described.RootElement.GetProperty("tensors");
            Assert.Equal(tensors.Keys.Order(), read.EnumerateObject().Select(p => p.Name).Order());
            foreach ((string name, Tensor source) in tensors)
            {
                // What we meant to store: the source converted as libtorch converts it.
                Tensor stored = torch.is_floating_point(source) ? source.to_type(dtype) : source;
                FormatFixtures.AssertMatches($"{dtype}:{name}", read.GetProperty(name), stored);
            }
        }
    }
}
