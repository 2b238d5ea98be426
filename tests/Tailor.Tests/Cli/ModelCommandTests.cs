using System.Text.Json;
using Tailor.Model;
using Tailor.Text;
using static TorchSharp.torch;

namespace Tailor.Tests.Cli;

/// <summary>info, generate and tokenizer commands over a small model folder written by the library.</summary>
[Collection("TorchSharp")]
public sealed class ModelCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-cli-").FullName;

    private string SaveModel(ScalarType dtype = ScalarType.Float32)
    {
        var texts = Enumerable.Range(0, 300).Select(i => $"sentence {i} about the weather, the sea and {i % 17} boats.");
        var tokenizer = BpeTrainer.Train(texts, new BpeTrainerOptions(VocabSize: 320));
        var config = LlamaConfig.Preset("tiny", tokenizer.VocabSize);
        config.EosTokenId = [tokenizer.EosId!.Value];
        using var model = LlamaForCausalLM.FromConfig(config, seed: 3);
        string folder = Path.Combine(_dir, "model-" + dtype);
        ModelFolder.Save(folder, model, tokenizer, dtype);
        return folder;
    }

    [Fact]
    public void Saved_folders_load_back_with_the_same_logits_in_float32_and_close_in_bfloat16()
    {
        var texts = Enumerable.Range(0, 200).Select(i => $"line {i} of text");
        var tokenizer = BpeTrainer.Train(texts, new BpeTrainerOptions(VocabSize: 300));
        var config = LlamaConfig.Preset("tiny", tokenizer.VocabSize);
        using var model = LlamaForCausalLM.FromConfig(config, seed: 9);
        using var ids = tensor(new long[] { 5, 9, 200, 17, 3 }, [1, 5]);
        using var _ = inference_mode();
        using var expected = model.Forward(ids);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            string folder = Path.Combine(_dir, "rt-" + dtype);
            ModelFolder.Save(folder, model, tokenizer, dtype);
            using var loaded = PretrainedModel.Load(folder);
            using var actual = loaded.Model.Forward(ids);
            double diff = (expected - actual).abs().max().item<float>();
            Assert.True(dtype == ScalarType.Float32 ? diff == 0 : diff < 0.05, $"{dtype}: max diff {diff}");
            Assert.Equal(tokenizer.Encode("line 7 of text"), loaded.Tokenizer.Encode("line 7 of text"));
        }
    }

    [Fact]
    public void Decoding_an_id_the_tokenizer_lacks_and_an_absurd_thread_count_are_errors_naming_the_value()
    {
        string folder = SaveModel();
        var (exit, _, err) = CliRunner.Run("tokenizer", "decode", "--tokenizer", folder, "[5, 99999999]");
        Assert.Equal(1, exit);
        Assert.Contains("id 99999999 (position 1 of the array) has no token", err, StringComparison.Ordinal);
        Assert.Equal(0, CliRunner.Run("tokenizer", "decode", "--tokenizer", folder, "[5, 6]").Exit);

        var timer = System.Diagnostics.Stopwatch.StartNew();
        var (threads, _, threadsErr) = CliRunner.Run("generate", "--model", folder, "--prompt", "the sea", "--threads", "100000");
        Assert.Equal(2, threads);   // a bad option value: a usage error, found before the model is loaded
        Assert.Contains("--threads 100000: at most", threadsErr, StringComparison.Ordinal);
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(30), $"took {timer.Elapsed}");
    }

    [Fact]
    public void Info_prints_parameters_and_tensor_shapes()
    {
        string folder = SaveModel(ScalarType.BFloat16);
        var (exit, stdout, _) = CliRunner.Run("info", folder, "--json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        var config = LlamaConfig.FromPretrained(folder);
        Assert.Equal(config.ParameterCount(), doc.RootElement.GetProperty("parameters").GetInt64());
        Assert.Equal("BF16", doc.RootElement.GetProperty("tensors")[0].GetProperty("dtype").GetString());
    }

    [Fact]
    public void Generate_json_prints_the_new_text_and_ids_and_is_reproducible_with_a_seed()
    {
        string folder = SaveModel();
        string[] args = ["generate", "--model", folder, "--prompt", "the weather", "--max-new-tokens", "6",
            "--temperature", "0.9", "--top-k", "20", "--seed", "4", "--json"];
        var (exit, first, err) = CliRunner.Run(args);
        Assert.True(exit == 0, err);
        var (_, second, _) = CliRunner.Run(args);
        Assert.Equal(first, second);
        using var doc = JsonDocument.Parse(first);
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.InRange(ids.Length, 1, 6);
        var tokenizer = TextTokenizer.Load(folder);
        Assert.Equal(tokenizer.Decode(ids, skipSpecial: true), doc.RootElement.GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("--temperature", "-1", "--temperature")]
    [InlineData("--max-new-tokens", "many", "--max-new-tokens")]
    [InlineData("--top-p", "0", "--top-p")]
    [InlineData("--device", "tpu", "tpu")]
    [InlineData("--frobnicate", "1", "unknown option --frobnicate")]
    public void Generate_rejects_bad_values_and_unknown_flags(string flag, string value, string mentioned)
    {
        string folder = SaveModel();
        var (exit, _, stderr) = CliRunner.Run("generate", "--model", folder, "--prompt", "x", flag, value);
        Assert.NotEqual(0, exit);
        Assert.Contains(mentioned, stderr);
        Assert.DoesNotContain("   at ", stderr);   // no stack trace without --verbose
    }

    [Theory]
    [InlineData("--precision", "fp16", "--precision fp16")]
    [InlineData("--only", "speed", "--only speed")]
    public void Bench_rejects_bad_values_before_measuring_anything(string flag, string value, string mentioned)
    {
        var (exit, stdout, stderr) = CliRunner.Run("bench", flag, value);
        Assert.NotEqual(0, exit);
        Assert.Contains(mentioned, stderr);
        Assert.DoesNotContain("GFLOP/s", stdout);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void Mkl_avx512_on_a_libtorch_without_the_mkl_internal_says_to_run_without_it()
    {
        var e = Assert.Throws<TailorException>(() => Tailor.Torch.CpuTuning.PatchMkl("tailor_no_such_mkl_symbol"));
        Assert.Contains("tailor_no_such_mkl_symbol", e.Message);
        Assert.Contains("run without mkl_avx512", e.Message);
    }

    [Fact]
    public void Generate_on_a_corrupt_checkpoint_names_the_file_and_exits_non_zero()
    {
        string folder = SaveModel();
        string weights = Path.Combine(folder, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        var (exit, _, stderr) = CliRunner.Run("generate", "--model", folder, "--prompt", "x");
        Assert.Equal(1, exit);
        Assert.Contains("model.safetensors", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Tokenizer_encode_prints_gpt2_ids_as_a_json_array()
    {
        string path = Path.Combine(_dir, "gpt2.json");
        using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizers", "gpt2.tokenizer.json.gz")), System.IO.Compression.CompressionMode.Decompress))
        using (var f = File.Create(path)) gz.CopyTo(f);
        var (exit, stdout, _) = CliRunner.Run("tokenizer", "encode", "--tokenizer", path, "The quick brown fox jumps over the lazy dog.");
        Assert.Equal(0, exit);
        // gpt-3-encoder's own encode() of the same sentence (Fixtures/tokenizers/gpt2.cases.json).
        Assert.Equal("[464,2068,7586,21831,18045,625,262,16931,3290,13]", stdout.Trim());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
