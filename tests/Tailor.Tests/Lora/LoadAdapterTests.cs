using Tailor.Formats;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Tests.Formats;
using static TorchSharp.torch;

namespace Tailor.Tests.Lora;

/// <summary>
/// Loading PEFT adapters: against an independent PyTorch implementation (Fixtures/lora/make_lora_fixtures.py, torch
/// 1.13: the adapter files are written in PEFT's layout and the logits come from the llama fixture's forward with the
/// LoRA delta merged in float64, cross-checked against the unmerged path), and every way an adapter folder can be wrong.
/// </summary>
[Collection("TorchSharp")]
public sealed class LoadAdapterTests : IDisposable
{
    // The fixture README shows each plausible LoRA mistake (scaling rule, a module left out, ...) moves these logits by
    // 1.0e-2 to 5.4e-1, at least 100x this tolerance.
    private const double Tolerance = 1e-4;
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static LlamaForCausalLM LoadBase(string name)
    {
        string folder = Path.Combine(Fixtures, "llama", name);
        var config = LlamaConfig.FromPretrained(folder);
        var model = new LlamaForCausalLM(config);
        HfCheckpoint.LoadInto(model, folder, config.TieWordEmbeddings);
        model.eval();
        return model;
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff < Tolerance, $"{what}: max |diff| {diff:E2} exceeds {Tolerance:E0}");
    }

    [Theory]
    [InlineData("tiny-llama", 4, 8, false, 2 * 4 * ((64 + 64) + (64 + 32) + (160 + 64)))]   // q, v, down
    [InlineData("tiny-qwen2", 2, 4, true, 2 * 2 * ((64 + 64) + (64 + 16) + (64 + 16) + (64 + 64) + 3 * (64 + 160)))] // all seven
    public void A_peft_adapter_reproduces_the_reference_logits_unmerged_and_merged(string name, int rank, double alpha, bool rsLora, long adapterParameters)
    {
        using var model = LoadBase(name);
        var config = LoraAdapter.Load(model, Path.Combine(Fixtures, "lora", $"{name}-adapter"));
        Assert.Equal(rank, config.Rank);
        Assert.Equal(alpha, config.Alpha);
        Assert.Equal(rsLora, config.UseRsLora);
        Assert.Equal(name, config.BaseModelNameOrPath);
        Assert.Equal(adapterParameters, LoraAdapter.Report(model).TrainableParameters);

        var reference = Safetensors.Load(Path.Combine(Fixtures, "lora", $"{name}-adapter-reference.safetensors"));
        using (var _ = no_grad())
        {
            using var logits = model.call(reference["input_ids"]);
            AssertClose(reference["logits"], logits, $"{name} with adapter");
            LoraAdapter.Merge(model);
            using var merged = model.call(reference["input_ids"]);
            AssertClose(reference["logits"], merged, $"{name} merged");
        }
        foreach (var t in reference.Values) t.Dispose();
    }

    /// <summary>Copies the tiny-llama adapter fixture into a temp folder for a test to damage.</summary>
    private string CopyAdapter()
    {
        string source = Path.Combine(Fixtures, "lora", "tiny-llama-adapter");
        string target = Path.Combine(_temp.Path, "adapter");
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(source))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }

    private static void EditConfig(string folder, string from, string to)
    {
        string path = Path.Combine(folder, LoraAdapter.AdapterConfigFile);
        string text = File.ReadAllText(path);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(path, text.Replace(from, to, StringComparison.Ordinal));
    }

    private static void EditTensors(string folder, Action<Dictionary<string, Tensor>> edit)
    {
        string path = Path.Combine(folder, LoraAdapter.AdapterWeightsFile);
        var tensors = Safetensors.Load(path, new SafetensorsReadOptions { Mode = SafetensorsReadMode.Streamed });
        edit(tensors);
        Safetensors.Save(path, tensors);
        foreach (var t in tensors.Values) t.Dispose();
    }

    /// <summary>Loading must fail with a TailorException whose message has every fragment, and leave the model untouched.</summary>
    private static void AssertLoadFails(string folder, params string[] fragments)
    {
        using var model = LoadBase("tiny-llama");
        var keys = model.state_dict().Keys.ToList();
        var e = Assert.ThrowsAny<TailorException>(() => LoraAdapter.Load(model, folder));
        foreach (string fragment in fragments)
            Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
        Assert.Equal(keys, model.state_dict().Keys.ToList());
        Assert.Empty(LoraAdapter.Adapters(model));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Missing_folder_or_files_are_named()
    {
        AssertLoadFails(Path.Combine(_temp.Path, "nowhere"), "nowhere", "no such adapter folder");
        string folder = CopyAdapter();
        File.Delete(Path.Combine(folder, "adapter_model.safetensors"));
        AssertLoadFails(folder, Path.Combine(folder, "adapter_model.safetensors"), "file not found");
        File.Delete(Path.Combine(folder, "adapter_config.json"));
        AssertLoadFails(folder, Path.Combine(folder, "adapter_config.json"), "file not found");
    }

    [Fact]
    public void Malformed_json_names_the_file()
    {
        string folder = CopyAdapter();
        File.WriteAllText(Path.Combine(folder, "adapter_config.json"), "{ \"peft_type\": \"LORA\", ");
        AssertLoadFails(folder, "adapter_config.json", "not valid JSON");
    }

    [Theory]
    [InlineData("\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"", "'peft_type'")]
    [InlineData("\"use_dora\": false", "\"use_dora\": true", "'use_dora'")]
    [InlineData("\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true", "'fan_in_fan_out'")]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 8}", "'rank_pattern'")]
    [InlineData("\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]", "'modules_to_save'")]
    [InlineData("\"r\": 4", "\"r\": \"four\"", "'r'")]
    [InlineData("\"target_modules\": [", "\"target_modules\": \".*proj\", \"unused\": [", "regular expression")]
    [InlineData("\"down_proj\",", "\"lm_head\",", "'lm_head'")]
    public void Unsupported_or_wrong_config_fields_are_named(string from, string to, string fragment)
    {
        string folder = CopyAdapter();
        EditConfig(folder, from, to);
        AssertLoadFails(folder, "adapter_config.json", fragment);
    }

    [Fact]
    public void A_config_read_back_equals_the_config_saved()
    {
        var config = new LoraConfig { Rank = 16, Alpha = 7.5, Dropout = 0.1, TargetModules = ["up_proj", "gate_proj"], UseRsLora = true, BaseModelNameOrPath = "base" };
        var read = LoraConfig.FromAdapterConfigJson(config.ToAdapterConfigJson());
        Assert.Equal(config with { TargetModules = ["gate_proj", "up_proj"] }, read);   // written in module order
        Assert.Equal(config, config with { TargetModules = ["up_proj", "gate_proj"] });
    }

    [Theory]
    [InlineData("base_model.model..lora_A.weight")]
    [InlineData("base_model.model.lora_A.weight")]
    [InlineData("base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight")]
    public void Degenerate_tensor_names_are_refused_cleanly(string name)
    {
        string folder = CopyAdapter();
        EditTensors(folder, t => t[name] = zeros(4, 64));
        AssertLoadFails(folder, name);
    }

    [Fact]
    public void A_rank_other_than_the_configs_r_is_named_with_the_tensor()
    {
        string folder = CopyAdapter();
        EditConfig(folder, "\"r\": 4", "\"r\": 8");
        AssertLoadFails(folder, "adapter_model.safetensors", "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", "rank 4", "r = 8");
    }

    [Fact]
    public void A_tensor_for_a_module_the_model_lacks_is_named()
    {
        string folder = CopyAdapter();
        EditTensors(folder, t => t["base_model.model.model.layers.5.self_attn.q_proj.lora_A.weight"] = zeros(4, 64));
        AssertLoadFails(folder, "base_model.model.model.layers.5.self_attn.q_proj.lora_A.weight", "no projection 'model.layers.5.self_attn.q_proj'");
    }

    [Fact]
    public void A_tensor_outside_target_modules_is_named()
    {
        string folder = CopyAdapter();
        EditConfig(folder, "\"down_proj\",", "");
        AssertLoadFails(folder, "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", "not in target_modules");
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        string folder = CopyAdapter();
        EditTensors(folder, t =>
        {
            t.Remove("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", out var removed);
            removed!.Dispose();
        });
        AssertLoadFails(folder, "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", "missing");
    }

    [Fact]
    public void A_shape_mismatch_is_named_with_both_shapes()
    {
        string folder = CopyAdapter();
        EditTensors(folder, t =>
        {
            t["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"].Dispose();
            t["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"] = zeros(32, 4);
        });
        AssertLoadFails(folder, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "[32, 4]", "[64, 4]");
    }

    [Fact]
    public void A_tensor_with_a_non_peft_name_is_named()
    {
        string folder = CopyAdapter();
        EditTensors(folder, t => t["model.layers.0.self_attn.q_proj.lora_A.default.weight"] = zeros(4, 64));
        AssertLoadFails(folder, "model.layers.0.self_attn.q_proj.lora_A.default.weight", "not a LoRA adapter tensor name");
    }
}
