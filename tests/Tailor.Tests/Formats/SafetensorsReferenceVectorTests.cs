using Tailor.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Tests.Formats;

/// <summary>Byte-exact outputs of the reference writer, from its own unit tests.</summary>
[Collection("TorchSharp")]
public class SafetensorsReferenceVectorTests
{
    // huggingface/safetensors, safetensors/src/tensor.rs, test `test_serialization`.
    private static readonly byte[] AttnDot0 =
    [
        64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
        116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
        58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
        101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
        0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ];

    // huggingface/safetensors, safetensors/src/tensor.rs, test `test_serialization_forced_alignement`.
    private static readonly byte[] Attn0Padded =
    [
        72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
        121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
        91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
        115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
        32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
        160, 64,
    ];

    // huggingface/safetensors, safetensors/src/tensor.rs, test `test_empty` (without and with metadata).
    private static readonly byte[] Empty = [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32];

    private static readonly byte[] EmptyWithFramework =
    [
        40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
        95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
        116, 34, 125, 125, 32, 32, 32, 32, 32,
    ];

    // huggingface/safetensors, bindings/python/tests/test_simple.py, test `test_serialization_forces_alignment`:
    // an I32 and an F16 tensor, written I32 first (descending alignment) whatever the dictionary order.
    private static readonly byte[] I32ThenF16 =
    [
        .. Bytes("\x80\0\0\0\0\0\0\0"),
        .. Bytes("""{"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"test2":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]}}      """),
        .. new byte[24],
    ];

    // huggingface/safetensors, bindings/python/tests/test_simple.py, test `test_serialization_metadata`.
    private static readonly byte[] I32WithMetadata =
    [
        .. Bytes("`\0\0\0\0\0\0\0"),
        .. Bytes("""{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}} """),
        .. new byte[16],
    ];

    private static byte[] Bytes(string latin1) => System.Text.Encoding.Latin1.GetBytes(latin1);

    [Fact]
    public void Save_orders_tensors_by_descending_alignment_like_the_reference_writer()
    {
        using var temp = new TempFolder();
        using DisposeScope scope = torch.NewDisposeScope();
        string path = temp.File("t.safetensors");

        // F16 listed first on purpose: the writer must put the I32 tensor first.
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["test2"] = torch.zeros(2, 2, ScalarType.Float16),
            ["test1"] = torch.zeros(2, 2, ScalarType.Int32),
        }, new SafetensorsWriteOptions { Metadata = null, FlushToDisk = false });

        Assert.Equal(I32ThenF16, File.ReadAllBytes(path));
    }

    [Fact]
    public void Save_writes_metadata_first_like_the_reference_writer()
    {
        using var temp = new TempFolder();
        using DisposeScope scope = torch.NewDisposeScope();
        string path = temp.File("t.safetensors");

        Safetensors.Save(path, new Dictionary<string, Tensor> { ["test1"] = torch.zeros(2, 2, ScalarType.Int32) },
            new SafetensorsWriteOptions { Metadata = new Dictionary<string, string> { ["framework"] = "pt" }, FlushToDisk = false });

        Assert.Equal(I32WithMetadata, File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData("attn.0", new long[] { 1, 2, 3 })]
    [InlineData("attn0", new long[] { 1, 1, 2, 3 })]
    public void Save_matches_the_reference_writers_bytes(string name, long[] shape)
    {
        using var temp = new TempFolder();
        using DisposeScope scope = torch.NewDisposeScope();
        string path = temp.File("t.safetensors");

        Safetensors.Save(path, new Dictionary<string, Tensor> { [name] = torch.arange(6, dtype: ScalarType.Float32).reshape(shape) },
            new SafetensorsWriteOptions { Metadata = null, FlushToDisk = false });

        Assert.Equal(name == "attn.0" ? AttnDot0 : Attn0Padded, File.ReadAllBytes(path));
    }

    [Fact]
    public void Save_of_no_tensors_matches_the_reference_writers_bytes()
    {
        using var temp = new TempFolder();
        string bare = temp.File("bare.safetensors");
        string framework = temp.File("framework.safetensors");

        Safetensors.Save(bare, new Dictionary<string, Tensor>(), new SafetensorsWriteOptions { Metadata = null, FlushToDisk = false });
        Safetensors.Save(framework, new Dictionary<string, Tensor>(),
            new SafetensorsWriteOptions { Metadata = new Dictionary<string, string> { ["framework"] = "pt" }, FlushToDisk = false });

        Assert.Equal(Empty, File.ReadAllBytes(bare));
        Assert.Equal(EmptyWithFramework, File.ReadAllBytes(framework));
    }

    [Fact]
    public void Load_reads_the_reference_writers_bytes()
    {
        using var temp = new TempFolder();
        string path = temp.File("t.safetensors");
        File.WriteAllBytes(path, Attn0Padded);
        using DisposeScope scope = torch.NewDisposeScope();

        Tensor tensor = Safetensors.Load(path)["attn0"];

        Assert.Equal([1L, 1, 2, 3], tensor.shape);
        Assert.Equal([0f, 1, 2, 3, 4, 5], tensor.data<float>().ToArray());
    }
}
