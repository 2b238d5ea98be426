using System.Globalization;
using System.Text.Json;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Tests.Formats;
using Tailor.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Tests.Lora;

[Collection("TorchSharp")]
public sealed class LoraAdapterTests : IDisposable
{
    private const long Vocab = 50;
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    // hidden 32, 4 heads of 8, 2 kv heads: q/o 32→32, k/v 32→16, gate/up 32→48, down 48→32; untied head.
    private static LlamaConfig Tiny() =>
        LlamaConfig.Create(vocab: (int)Vocab, hidden: 32, intermediate: 48, layers: 2, heads: 4, kvHeads: 2, maxPositions: 64, tied: false);

    private static LlamaForCausalLM Base(long seed = 11)
    {
        var model = LlamaForCausalLM.FromConfig(Tiny(), seed);
        model.eval();
        return model;
    }

    private static Tensor Ids() => tensor(new long[] { 1, 7, 3, 44, 9, 12, 5, 30, 2, 18, 49, 0 }, [2, 6]);

    private static Tensor Logits(LlamaForCausalLM model, Tensor ids)
    {
        using var _ = no_grad();
        return model.call(ids);
    }

    /// <summary>Gives every B a non-zero value so the adapters change the output (B starts at zero).</summary>
    private static void Perturb(LlamaForCausalLM model, long seed = 3)
    {
        var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, layer) in LoraAdapter.Adapters(model))
        {
            layer.LoraB.copy_(randn(layer.LoraB.shape, generator: g) * 0.05);
        }
    }

    private static double MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void Apply_leaves_the_logits_bit_identical_at_step_zero()
    {
        using var model = Base();
        using var ids = Ids();
        using var before = Logits(model, ids);
        LoraAdapter.Apply(model, new LoraConfig { TargetModules = [LoraConfig.AllLinear], Dropout = 0.1 });
        using var after = Logits(model, ids);
        Assert.True(before.Equals(after));
    }

    [Fact]
    public void Apply_gives_the_adapters_the_models_train_or_eval_mode()
    {
        using var model = Base();                                                   // eval
        LoraAdapter.Apply(model, new LoraConfig { TargetModules = ["q_proj"] });
        Assert.All(LoraAdapter.Adapters(model), a => Assert.False(a.Layer.training));
        using var training = Base();
        training.train();
        LoraAdapter.Apply(training, new LoraConfig { TargetModules = ["q_proj"] });
        Assert.All(LoraAdapter.Adapters(training), a => Assert.True(a.Layer.training));
    }

    [Fact]
    public void Converting_the_model_after_apply_converts_base_and_adapters_and_keeps_them_frozen_or_trainable()
    {
        using var model = Base();
        using var ids = Ids();
        LoraAdapter.Apply(model, new LoraConfig { TargetModules = ["v_proj"] });
        Perturb(model);
        using var fp32 = Logits(model, ids);
        model.to(ScalarType.Float64);
        var layer = LoraAdapter.Adapters(model)[0].Layer;
        Assert.Equal(ScalarType.Float64, layer.Weight.dtype);                       // the field follows the conversion
        Assert.Equal(ScalarType.Float64, layer.LoraA.dtype);
        Assert.False(layer.Weight.requires_grad);
        Assert.True(layer.LoraB.requires_grad);
        Assert.Same(layer.Weight, model.get_parameter("model.layers.0.self_attn.v_proj.weight"));
        using var fp64 = Logits(model, ids);
        Assert.True(MaxDiff(fp32, fp64.to_type(ScalarType.Float32)) < 1e-5);
    }

    [Fact]
    public void Apply_trains_only_A_and_B_and_their_count_is_r_times_in_plus_out_per_target()
    {
        using var model = Base();
        long total = model.parameters().Sum(p => p.numel());
        var report = LoraAdapter.Apply(model, new LoraConfig { Rank = 8, TargetModules = ["q_proj", "v_proj"] });

        // q_proj 32→32 and v_proj 32→16 in each of 2 layers: 8·(32+32) + 8·(32+16) = 896 per layer.
        long expected = 2 * (8 * (32 + 32) + 8 * (32 + 16));
        Assert.Equal(1792, expected);
        Assert.Equal(expected, report.TrainableParameters);
        Assert.Equal(total + expected, report.TotalParameters);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.Equal(8, trainable.Count);
        Assert.All(trainable, n => Assert.Matches(@"^model\.layers\.[01]\.self_attn\.[qv]_proj\.lora_[AB]\.weight$", n));
        Assert.Equal(["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                      "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"], report.AdaptedModules);
        double percent = 100.0 * expected / (total + expected);
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"trainable params: 1,792 || all params: {total + expected:N0} || trainable%: {percent:F4}"),
            report.ToString());
    }

    [Fact]
    public void All_linear_adapts_the_seven_projections_of_every_layer_but_not_the_head()
    {
        using var model = Base();
        var report = LoraAdapter.Apply(model, new LoraConfig { Rank = 2, TargetModules = ["all-linear"] });
        Assert.Equal(14, report.AdaptedModules.Count);
        // r·(in+out) summed: q 64, k 48, v 48, o 64, gate 80, up 80, down 80 → 464 · r 2 · 2 layers.
        Assert.Equal(2 * 2 * (64 + 48 + 48 + 64 + 80 + 80 + 80), report.TrainableParameters);
        Assert.DoesNotContain(model.named_parameters(), p => p.name.StartsWith("lm_head.lora", StringComparison.Ordinal));
    }

    [Fact]
    public void AdamW_steps_change_the_output_and_leave_every_base_weight_bit_identical()
    {
        using var model = Base();
        using var ids = Ids();
        using var before = Logits(model, ids);
        var frozen = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        LoraAdapter.Apply(model, new LoraConfig { Rank = 4, TargetModules = ["q_proj", "v_proj", "down_proj"] });
        model.train();
        using var optimizer = Optimizers.AdamW(model, lr: 1e-2, weightDecay: 0.1);
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var logits = model.call(ids);                                           // (2, 6, V)
            var loss = nn.functional.cross_entropy(logits.view(-1, Vocab), ids.view(-1));
            loss.backward();
            optimizer.step();
        }
        model.eval();
        using var after = Logits(model, ids);
        Assert.True(MaxDiff(before, after) > 1e-4, "three AdamW steps on the adapters should move the logits");
        var state = model.state_dict();
        foreach (var (name, original) in frozen)
        {
            Assert.True(original.Equals(state[name]), $"{name} changed although it is frozen");
            original.Dispose();
        }
    }

    [Fact]
    public void Merge_matches_the_unmerged_output_and_restores_the_original_keys_and_layers()
    {
        using var model = Base();
        using var ids = Ids();
        var originalKeys = model.state_dict().Keys.ToList();
        LoraAdapter.Apply(model, new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] });
        Assert.NotEqual(originalKeys, model.state_dict().Keys.ToList());
        Perturb(model);
        using var unmerged = Logits(model, ids);
        int merged = LoraAdapter.Merge(model);
        using var mergedLogits = Logits(model, ids);

        Assert.Equal(14, merged);
        double diff = MaxDiff(unmerged, mergedLogits);
        Assert.True(diff < 1e-5, $"merged vs unmerged max |diff| {diff:E2}");
        Assert.Equal(originalKeys, model.state_dict().Keys.ToList());
        Assert.Empty(LoraAdapter.Adapters(model));
        Assert.IsType<Linear>(model.Model.Layers[1].FeedForward["down_proj"]);
        Assert.IsType<Linear>(model.Model.Layers[0].SelfAttention["q_proj"]);
    }

    [Fact]
    public void Merge_adds_exactly_the_delta_to_the_base_weight()
    {
        using var model = Base();
        using var w = model.Model.Layers[0].SelfAttention["v_proj"].parameters().First().detach().clone();
        LoraAdapter.Apply(model, new LoraConfig { Rank = 2, Alpha = 3, UseRsLora = true, TargetModules = ["v_proj"] });
        Perturb(model);
        var layer = LoraAdapter.Adapters(model)[0].Layer;
        using var expected = w + layer.LoraB.detach().matmul(layer.LoraA.detach()) * (3 / Math.Sqrt(2));
        LoraAdapter.Merge(model);
        var mergedWeight = ((Linear)model.Model.Layers[0].SelfAttention["v_proj"]).weight;
        Assert.True(MaxDiff(expected, mergedWeight) < 1e-7);
    }

    [Fact]
    public void Adapter_state_dict_uses_pefts_saved_key_names()
    {
        using var model = Base();
        LoraAdapter.Apply(model, new LoraConfig { Rank = 4, TargetModules = ["q_proj", "v_proj", "down_proj"] });
        var tensors = LoraAdapter.StateDict(model);
        Assert.Equal(2 * 3 * 2, tensors.Count);
        Assert.Equal([4L, 32L], tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].shape);
        Assert.Equal([32L, 4L], tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"].shape);
        Assert.Equal([16L, 4L], tensors["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"].shape);
        Assert.Equal([4L, 48L], tensors["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"].shape);
        Assert.DoesNotContain(tensors.Keys, k => k.Contains(".default.", StringComparison.Ordinal));
    }

    [Fact]
    public void Save_then_load_onto_a_fresh_base_gives_identical_outputs()
    {
        var config = new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["q_proj", "k_proj", "up_proj"], UseRsLora = true };
        using var ids = Ids();
        string folder = Path.Combine(_temp.Path, "adapter");
        using (var trained = Base())
        {
            LoraAdapter.Apply(trained, config);
            Perturb(trained);
            using var expected = Logits(trained, ids);
            LoraAdapter.Save(trained, folder, config);

            using var fresh = Base();
            var loaded = LoraAdapter.Load(fresh, folder);
            using var actual = Logits(fresh, ids);
            Assert.True(expected.Equals(actual), $"max |diff| {MaxDiff(expected, actual):E2}");
            Assert.Equal(4, loaded.Rank);
            Assert.Equal(8, loaded.Alpha);
            Assert.True(loaded.UseRsLora);
            Assert.Equal(["q_proj", "k_proj", "up_proj"], loaded.ResolvedTargetModules());
            Assert.Equal(LoraAdapter.Report(trained), LoraAdapter.Report(fresh), new ReportComparer());
        }
        Assert.Equal(["adapter"], Directory.GetFileSystemEntries(_temp.Path).Select(Path.GetFileName));   // no staging folder left
        Assert.Equal(["adapter_config.json", "adapter_model.safetensors"], Directory.GetFiles(folder).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Adapter_config_json_has_pefts_layout()
    {
        using var model = Base();
        var config = new LoraConfig { Rank = 8, Alpha = 16, TargetModules = ["q_proj", "v_proj"], BaseModelNameOrPath = "models/tiny" };
        LoraAdapter.Apply(model, config);
        string folder = Path.Combine(_temp.Path, "adapter");
        LoraAdapter.Save(model, folder, config);
        string text = File.ReadAllText(Path.Combine(folder, "adapter_config.json"));
        using var doc = JsonDocument.Parse(text);
        var root = doc.RootElement;
        Assert.Equal("LORA", root.GetProperty("peft_type").GetString());
        Assert.Equal(8, root.GetProperty("r").GetInt32());
        Assert.Equal("16", root.GetProperty("lora_alpha").GetRawText());          // an integer, as PEFT's int field
        Assert.Equal(0.05, root.GetProperty("lora_dropout").GetDouble());
        Assert.Equal(["q_proj", "v_proj"], root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("none", root.GetProperty("bias").GetString());
        Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
        Assert.Equal("models/tiny", root.GetProperty("base_model_name_or_path").GetString());
        Assert.False(root.GetProperty("fan_in_fan_out").GetBoolean());
        Assert.False(root.GetProperty("use_rslora").GetBoolean());
        Assert.True(root.GetProperty("inference_mode").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("modules_to_save").ValueKind);
        var keys = root.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys);                   // sort_keys=True, as PEFT writes it
        Assert.StartsWith("{\n  \"alpha_pattern\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_replaces_an_existing_adapter_folder_whole()
    {
        using var model = Base();
        var config = new LoraConfig { TargetModules = ["o_proj"] };
        LoraAdapter.Apply(model, config);
        string folder = Path.Combine(_temp.Path, "adapter");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "stale.txt"), "from an earlier save");
        LoraAdapter.Save(model, folder, config);
        Assert.False(File.Exists(Path.Combine(folder, "stale.txt")));
        Assert.Single(Directory.GetDirectories(_temp.Path));
    }

    [Fact]
    public void Save_refuses_a_config_that_does_not_describe_the_adapters()
    {
        using var model = Base();
        LoraAdapter.Apply(model, new LoraConfig { Rank = 4 });
        var e = Assert.Throws<TailorException>(() => LoraAdapter.Save(model, Path.Combine(_temp.Path, "a"), new LoraConfig { Rank = 8 }));
        Assert.Contains("rank 4", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<TailorException>(() => LoraAdapter.Save(model, Path.Combine(_temp.Path, "a"), new LoraConfig { Rank = 4, TargetModules = ["q_proj", "v_proj", "k_proj"] }));
        Assert.Contains("k_proj", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [Fact]
    public void Apply_twice_is_refused_and_leaves_the_model_as_it_was()
    {
        using var model = Base();
        LoraAdapter.Apply(model, new LoraConfig());
        var keys = model.state_dict().Keys.ToList();
        var e = Assert.Throws<TailorException>(() => LoraAdapter.Apply(model, new LoraConfig { TargetModules = ["all-linear"] }));
        Assert.Contains("model.layers.0.self_attn.q_proj already has a LoRA adapter", e.Message, StringComparison.Ordinal);
        Assert.Equal(keys, model.state_dict().Keys.ToList());
    }

    [Theory]
    [InlineData(0, 16, 0.05, "q_proj", "Rank")]
    [InlineData(8, 0, 0.05, "q_proj", "Alpha")]
    [InlineData(8, 16, 1.0, "q_proj", "Dropout")]
    [InlineData(8, 16, 0.05, "lm_head", "'lm_head'")]
    [InlineData(8, 16, 0.05, "", "''")]
    public void Config_validation_names_the_field(int rank, double alpha, double dropout, string target, string expected)
    {
        var config = new LoraConfig { Rank = rank, Alpha = alpha, Dropout = dropout, TargetModules = [target] };
        var e = Assert.Throws<TailorException>(() => config.Validate());
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private sealed class ReportComparer : IEqualityComparer<LoraReport>
    {
        public bool Equals(LoraReport? x, LoraReport? y) =>
            x!.TrainableParameters == y!.TrainableParameters && x.TotalParameters == y.TotalParameters && x.AdaptedModules.SequenceEqual(y.AdaptedModules);

        public int GetHashCode(LoraReport obj) => obj.TotalParameters.GetHashCode();
    }
}
