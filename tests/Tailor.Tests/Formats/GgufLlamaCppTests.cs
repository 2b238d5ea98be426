using Tailor.Formats;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Tailor.Tests.Formats;

/// <summary>Exports of the shipped small model (bf16 → f32, f16, q8_0) and of two tiny random models, made once.</summary>
public sealed class GgufExports : IDisposable
{
    public static readonly string ShippedModel = Path.Combine(FindRepoRoot(), "models", "tailor-base-small");
    private readonly TempFolder _temp = new();

    public GgufExports()
    {
        set_num_threads(1);
        foreach (string dtype in new[] { "f32", "f16", "q8_0" })
            Export.Run(ShippedModel, null, "gguf", Small(dtype), dtype);
        foreach (bool qwen in new[] { false, true })
        {
            SaveTinyModel(TinyFolder(qwen), qwen);
            Export.Run(TinyFolder(qwen), null, "gguf", Tiny(qwen), "f32");
        }
    }

    /// <summary>
    /// A random 2-layer GQA model (4 query heads, 2 key/value heads, d 64) with the shipped tokenizer, saved in f32:
    /// Llama with a separate lm_head, or Qwen2 with q/k/v biases and tied embeddings. Weights are N(0, 0.1) and biases
    /// N(0, 0.5), so logits spread and a wrong permutation or a lost bias shows.
    /// </summary>
    public static void SaveTinyModel(string folder, bool qwen)
    {
        var tokenizer = TextTokenizer.Load(ShippedModel);
        var config = LlamaConfig.Create(tokenizer.VocabSize, hidden: 64, intermediate: 96, layers: 2, heads: 4, kvHeads: 2, maxPositions: 128, tied: qwen);
        if (qwen)
        {
            config.Architectures = ["Qwen2ForCausalLM"];
            config.ModelType = "qwen2";
        }
        config.EosTokenId = [tokenizer.EosId!.Value];
        random.manual_seed(qwen ? 5 : 4);
        using var model = new LlamaForCausalLM(config, initStd: 0.1);
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters())
                if (name.EndsWith(".bias", StringComparison.Ordinal)) p.normal_(0, 0.5);
        }
        ModelFolder.Save(folder, model, tokenizer, ScalarType.Float32);
    }

    public string Small(string dtype) => _temp.File($"small-{dtype}.gguf");

    public string Tiny(bool qwen) => _temp.File(qwen ? "tiny-qwen2.gguf" : "tiny-llama.gguf");

    public string TinyFolder(bool qwen) => _temp.File(qwen ? "tiny-qwen2" : "tiny-llama");

    public void Dispose() => _temp.Dispose();

    internal static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props"))) return dir.FullName;
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// Tailor's GGUF exports checked by llama.cpp itself (LLamaSharp 0.30.0, CPU backend, loaded in this process next to
/// TorchSharp): same token ids, same greedy continuation, logits within a tolerance relative to the logit scale.
/// </summary>
[Collection("TorchSharp")]
public sealed class GgufLlamaCppTests(GgufExports exports, ITestOutputHelper output) : IClassFixture<GgufExports>
{
    // f32 export: both sides compute in f32 from identical weights (bf16 → f32 is exact) and differ only in summation
    // order. Measured max |Δ| / max |logit|: 4e-7 on the shipped model, 5e-7 to 7e-7 on the tiny ones. Leaving out the
    // RoPE permutation moves logits by far more than this (see the last test).
    private const double F32Tolerance = 1e-4;

    // f16 rounds every 2-D weight to 11 significant bits (and llama.cpp rounds activations to f16 for those matmuls);
    // q8_0 keeps 8 bits per 32-value block and quantizes activations to q8_0 too. Measured on the shipped model:
    // f16 1.6e-4, q8_0 7.3e-3 (relative). The tolerances leave about 10x and 4x room.
    private const double F16Tolerance = 2e-3;
    private const double Q8Tolerance = 3e-2;

    public static readonly TheoryData<string> Prompts = new()
    {
        "The old house stood at the end of the road.",
        "  leading spaces,   runs of   spaces\tand\ttabs\n\n\nnewlines   \n",
        "Unicode: café naïve Ünïcödé — “quotes” 日本語のテキスト 🦙🧵 ½ ∑",
        "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n",
        "don't won't I'm we'll they'd 3.14159 1,000,000 x=y+z; <|endoftext|>tail",
        "<|pad|><|endoftext|><|im_end|>",
    };

    [Theory]
    [MemberData(nameof(Prompts))]
    public void Llama_cpp_tokenizes_like_Tailor(string prompt)
    {
        var tokenizer = TextTokenizer.Load(GgufExports.ShippedModel);
        using var llama = LlamaCpp.Load(exports.Small("f32"));
        Assert.Equal(tokenizer.Encode(prompt, parseSpecial: true), llama.Tokenize(prompt));
    }

    [Fact]
    public void Llama_cpp_reads_the_vocabulary_size_and_special_ids()
    {
        var tokenizer = TextTokenizer.Load(GgufExports.ShippedModel);
        using var llama = LlamaCpp.Load(exports.Small("f32"));
        Assert.Equal(8192, llama.VocabSize);
        var (bos, eos, pad) = llama.SpecialIds;
        Assert.Equal(tokenizer.EosId, eos);
        Assert.Equal(tokenizer.EosId, bos);          // no BOS in Tailor's tokenizer: EOS stands in, never added
        Assert.Equal(tokenizer.PadId, pad);
    }

    [Theory]
    [InlineData("f32", F32Tolerance)]
    [InlineData("f16", F16Tolerance)]
    [InlineData("q8_0", Q8Tolerance)]
    public void Llama_cpp_logits_match_Tailor_on_the_shipped_model(string dtype, double tolerance)
    {
        using var model = PretrainedModel.Load(GgufExports.ShippedModel);
        var ids = model.Tokenizer.Encode("<|im_start|>user\nThe old house stood at the end of the road, and nobody", parseSpecial: true);
        using var llama = LlamaCpp.Load(exports.Small(dtype));
        double relative = CompareLogits(model.Model, llama, ids, out _);
        Assert.True(relative < tolerance, $"{dtype}: max |Δlogit| / max |logit| = {relative:E2}, above {tolerance:E0}");
    }

    [Fact]
    public void Llama_cpp_greedy_continuation_equals_Tailors_for_the_f32_export()
    {
        using var model = PretrainedModel.Load(GgufExports.ShippedModel);
        var prompt = model.Tokenizer.Encode("Once upon a time, in a small village by the sea,");
        var tailor = model.CreateGenerator().Generate(prompt, new SamplingOptions { MaxNewTokens = 48, StopAtEos = false });
        using var llama = LlamaCpp.Load(exports.Small("f32"));
        Assert.Equal(tailor.Ids, llama.Greedy(prompt, 48));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Llama_cpp_matches_Tailor_on_tiny_gqa_llama_and_qwen2_models(bool qwen)
    {
        using var model = PretrainedModel.Load(exports.TinyFolder(qwen));
        var ids = model.Tokenizer.Encode("A tiny model with grouped-query attention; <|im_end|> and more words.", parseSpecial: true);
        using var llama = LlamaCpp.Load(exports.Tiny(qwen));
        double relative = CompareLogits(model.Model, llama, ids, out float scale);
        Assert.True(scale > 1, $"logit scale {scale} is too small for the comparison to mean much");
        Assert.True(relative < F32Tolerance, $"{(qwen ? "qwen2" : "llama")}: max |Δlogit| / max |logit| = {relative:E2}, above {F32Tolerance:E0}");
        var tailor = model.CreateGenerator().Generate(ids, new SamplingOptions { MaxNewTokens = 24, StopAtEos = false });
        Assert.Equal(tailor.Ids, llama.Greedy(ids, 24));
    }

    // Max |Δ| over every position and vocabulary entry, divided by the largest |logit| Tailor produced.
    private double CompareLogits(CausalLM model, LlamaCpp llama, IReadOnlyList<int> ids, out float scale)
    {
        float[] expected;
        using (inference_mode())
        using (NewDisposeScope())
        {
            using var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count]);
            expected = model.Forward(input).contiguous().data<float>().ToArray();       // (1, T, V)
        }
        float[] actual = llama.PromptLogits(ids);
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0;
        scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        output.WriteLine($"logits: {ids.Count} positions, max |Δ| {maxDiff:E3}, scale {scale:F3}, relative {maxDiff / scale:E3}");
        return maxDiff / scale;
    }

    [Fact]
    public void Without_the_rope_permutation_llama_cpp_disagrees_so_the_comparison_can_fail()
    {
        using var model = PretrainedModel.Load(exports.TinyFolder(qwen: false));
        var (metadata, tensors) = Export.BuildGguf(model.Model, model.Tokenizer, "unpermuted", GgmlType.F32);
        var state = model.Model.state_dict();
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (!t.Name.EndsWith("attn_q.weight", StringComparison.Ordinal) && !t.Name.EndsWith("attn_k.weight", StringComparison.Ordinal)) continue;
            string layer = t.Name.Split('.')[1], proj = t.Name.Contains("attn_q", StringComparison.Ordinal) ? "q_proj" : "k_proj";
            float[] raw = state[$"model.layers.{layer}.self_attn.{proj}.weight"].contiguous().data<float>().ToArray();
            tensors[i] = t with { Data = Gguf.Encode(raw, GgmlType.F32) };
        }
        using var temp = new TempFolder();
        string path = temp.File("unpermuted.gguf");
        Gguf.Write(path, metadata, tensors);
        var ids = model.Tokenizer.Encode("A tiny model with grouped-query attention and more words.");
        using var llama = LlamaCpp.Load(path);
        double relative = CompareLogits(model.Model, llama, ids, out _);
        Assert.True(relative > 100 * F32Tolerance, $"unpermuted q/k still agree ({relative:E2}); the comparison would not catch a layout error");
    }
}
