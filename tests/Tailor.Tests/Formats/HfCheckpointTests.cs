using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Tests.Formats;

[Collection("TorchSharp")]
public class HfCheckpointTests : IDisposable
{
    private const string Config = """{"architectures":["LlamaForCausalLM"],"hidden_size":4,"vocab_size":8}""";
    private static readonly HfSaveOptions Quick = new() { FlushToDisk = false };

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Dictionary<string, float[]> Snapshot(nn.Module model) =>
        model.state_dict().ToDictionary(p => p.Key, p => p.Value.to_type(ScalarType.Float32).contiguous().data<float>().ToArray());

    private static TinyLm Seeded(long seed, bool tied = false)
    {
        torch.manual_seed(seed);
        return new TinyLm(tied: tied);
    }

    [Fact]
    public void Save_then_LoadInto_restores_every_parameter()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm saved = Seeded(1);
        using TinyLm loaded = Seeded(2);
        string folder = _temp.File("ckpt");

        HfCheckpoint.Save(folder, saved, Config, Quick);
        HfCheckpoint.LoadInto(loaded, folder);

        Assert.Equal(Snapshot(saved), Snapshot(loaded));
        Assert.Equal(Config, File.ReadAllText(Path.Combine(folder, HfCheckpoint.ConfigFile)));
        Assert.Equal(new[] { "config.json", "model.safetensors" }, Directory.GetFiles(folder).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void LoadInto_converts_f32_weights_into_a_bf16_model()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm saved = Seeded(1);
        using TinyLm loaded = Seeded(2);
        loaded.to(ScalarType.BFloat16);
        string folder = _temp.File("ckpt");

        HfCheckpoint.Save(folder, saved, Config, Quick);
        HfCheckpoint.LoadInto(loaded, folder);

        foreach ((string name, Tensor parameter) in loaded.state_dict())
        {
            Assert.Equal(ScalarType.BFloat16, parameter.dtype);
            Assert.True(saved.state_dict()[name].to_type(ScalarType.BFloat16).Equals(parameter), $"{name} is not the bf16-rounded value");
        }
    }

    [Fact]
    public void Save_and_LoadInto_leave_no_live_tensors_behind()
    {
        using TinyLm saved = Seeded(1);
        using TinyLm loaded = Seeded(2);
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, saved, Config, Quick with { Dtype = ScalarType.BFloat16 }); // warm up
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        for (int i = 0; i < 3; i++)
        {
            HfCheckpoint.Save(folder, saved, Config, Quick with { Dtype = ScalarType.BFloat16 });
            HfCheckpoint.LoadInto(loaded, folder, mode: i % 2 == 0 ? SafetensorsReadMode.MemoryMapped : SafetensorsReadMode.Streamed);
        }

        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Save_writes_extra_files_and_lets_callers_add_their_own()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm model = Seeded(1);
        string folder = _temp.File("ckpt");

        HfCheckpoint.Save(folder, model, Config, Quick with
        {
            ExtraFiles = new Dictionary<string, string>
            {
                [HfCheckpoint.TokenizerConfigFile] = """{"bos_token":"<s>"}""",
                [HfCheckpoint.GenerationConfigFile] = """{"temperature":0.7}""",
            },
            WriteExtraFiles = staging => File.WriteAllText(Path.Combine(staging, HfCheckpoint.TokenizerFile), "{}"),
        });

        Assert.Equal(
            new[] { "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" },
            Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        Assert.Equal("""{"temperature":0.7}""", File.ReadAllText(Path.Combine(folder, HfCheckpoint.GenerationConfigFile)));
    }

    [Fact]
    public void Save_with_bf16_dtype_stores_bf16_and_LoadInto_converts_back_to_the_models_dtype()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm saved = Seeded(1);
        using TinyLm loaded = Seeded(2);
        string folder = _temp.File("ckpt");

        HfCheckpoint.Save(folder, saved, Config, Quick with { Dtype = ScalarType.BFloat16 });
        HfCheckpoint.LoadInto(loaded, folder);

        SafetensorsHeader header = Safetensors.ReadHeader(Path.Combine(folder, HfCheckpoint.WeightsFile));
        Assert.All(header.Tensors, t => Assert.Equal("BF16", t.Dtype));
        foreach ((string name, Tensor parameter) in loaded.state_dict())
        {
            Assert.Equal(ScalarType.Float32, parameter.dtype);
            Tensor rounded = saved.state_dict()[name].to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
            Assert.True(rounded.Equals(parameter), $"{name} is not the bf16-rounded value");
        }
    }

    [Fact]
    public void Save_replaces_an_existing_checkpoint_and_leaves_no_temporary_folders()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm first = Seeded(1);
        using TinyLm second = Seeded(2);
        using TinyLm loaded = Seeded(3);
        string folder = _temp.File("ckpt");

        HfCheckpoint.Save(folder, first, Config, Quick with { ExtraFiles = new Dictionary<string, string> { ["old.txt"] = "old" } });
        HfCheckpoint.Save(folder, second, Config, Quick);
        HfCheckpoint.LoadInto(loaded, folder);

        Assert.Equal(Snapshot(second), Snapshot(loaded));
        Assert.False(File.Exists(Path.Combine(folder, "old.txt")), "files of the replaced checkpoint must not survive");
        Assert.Equal(new[] { folder }, Directory.GetDirectories(_temp.Path));
    }

    [Fact]
    public void Failed_save_leaves_the_previous_checkpoint_untouched()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm first = Seeded(1);
        using TinyLm second = Seeded(2);
        using TinyLm loaded = Seeded(3);
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, first, Config, Quick);
        byte[] before = File.ReadAllBytes(Path.Combine(folder, HfCheckpoint.WeightsFile));

        Assert.Throws<IOException>(() => HfCheckpoint.Save(folder, second, Config, Quick with
        {
            WriteExtraFiles = _ => throw new IOException("disk full (simulated)"),
        }));

        Assert.Equal(before, File.ReadAllBytes(Path.Combine(folder, HfCheckpoint.WeightsFile)));
        Assert.Equal(new[] { folder }, Directory.GetDirectories(_temp.Path));
        HfCheckpoint.LoadInto(loaded, folder);
        Assert.Equal(Snapshot(first), Snapshot(loaded));
    }

    [Fact]
    public void Save_refuses_invalid_config_json_and_reserved_extra_files()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm model = Seeded(1);
        string folder = _temp.File("ckpt");

        Assert.Throws<ArgumentException>(() => HfCheckpoint.Save(folder, model, "{broken", Quick));
        Assert.Throws<ArgumentException>(() => HfCheckpoint.Save(folder, model, "[]", Quick));
        Assert.Throws<ArgumentException>(() => HfCheckpoint.Save(folder, model, Config, Quick with { ExtraFiles = new Dictionary<string, string> { ["config.json"] = "{}" } }));
        Assert.Throws<ArgumentException>(() => HfCheckpoint.Save(folder, model, Config, Quick with { ExtraFiles = new Dictionary<string, string> { ["../escape.json"] = "{}" } }));
        Assert.False(Directory.Exists(folder));
        Assert.Empty(Directory.GetDirectories(_temp.Path));
    }

    [Fact]
    public void A_crash_between_the_two_renames_is_recovered_and_only_leftovers_named_by_Save_are_deleted()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm first = Seeded(1);
        using TinyLm second = Seeded(2);
        using TinyLm loaded = Seeded(3);
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, first, Config, Quick);
        // The state a kill between the renames leaves: the live checkpoint renamed away, a finished staging folder beside
        // it, and an older save's half-written staging folder. Plus folders of the user's whose names only look alike.
        string replaced = _temp.File($".ckpt.replaced-{Guid.NewGuid():N}");
        Directory.Move(folder, replaced);
        string staging = _temp.File($".ckpt.saving-{Guid.NewGuid():N}");
        HfCheckpoint.Save(_temp.File("elsewhere"), second, Config, Quick);
        Directory.Move(_temp.File("elsewhere"), staging);
        Directory.CreateDirectory(_temp.File($".ckpt.saving-{Guid.NewGuid():N}"));
        string[] users = [_temp.File(".ckpt.replaced-backup"), _temp.File(".ckpt.saving-0123"), _temp.File(".other.saving-" + new string('a', 32))];
        foreach (string d in users) Directory.CreateDirectory(d);

        var actions = HfCheckpoint.RecoverInterruptedSave(folder);

        Assert.Contains(actions, a => a.StartsWith("recovered", StringComparison.Ordinal) && a.Contains(Path.GetFileName(replaced), StringComparison.Ordinal));
        HfCheckpoint.LoadInto(loaded, folder);
        Assert.Equal(Snapshot(first), Snapshot(loaded));                                  // the complete, previous checkpoint
        Assert.Equal(users.Append(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal), Directory.GetDirectories(_temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(HfCheckpoint.RecoverInterruptedSave(folder));

        // With the checkpoint in place, a save clears leftovers of earlier crashes (the old checkpoint after the swap).
        string superseded = _temp.File($".ckpt.replaced-{Guid.NewGuid():N}");
        Directory.CreateDirectory(superseded);
        HfCheckpoint.Save(folder, second, Config, Quick);
        Assert.Equal(users.Append(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal), Directory.GetDirectories(_temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Missing_folder_after_an_interrupted_swap_points_at_the_replaced_checkpoint()
    {
        string folder = _temp.File("ckpt");
        Directory.CreateDirectory(_temp.File(".ckpt.replaced-0123"));

        var e = Assert.Throws<DirectoryNotFoundException>(() => HfCheckpoint.LoadInto(new TinyLm(), folder));

        Assert.Contains(".ckpt.replaced-0123", e.Message, StringComparison.Ordinal);
        Assert.Contains("Rename it", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tied_model_saves_only_the_embedding_and_loads_it_into_both()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm saved = Seeded(1, tied: true);
        using TinyLm loaded = Seeded(2, tied: true);
        string folder = _temp.File("ckpt");

        HfCheckpoint.Save(folder, saved.state_dict(), Config, Quick with { TiedEmbeddings = true });
        HfCheckpoint.LoadInto(loaded, folder, tiedEmbeddings: true);

        SafetensorsHeader header = Safetensors.ReadHeader(Path.Combine(folder, HfCheckpoint.WeightsFile));
        Assert.False(header.Contains(HfCheckpoint.LmHeadWeight));
        Assert.True(saved.EmbeddingWeight.Equals(loaded.EmbeddingWeight));
        Assert.True(loaded.HeadWeight.Equals(loaded.EmbeddingWeight));
    }

    [Fact]
    public void Tied_save_of_a_state_dict_listing_both_keys_drops_the_head()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm tied = Seeded(1, tied: true);
        var both = new Dictionary<string, Tensor>(tied.state_dict()) { [HfCheckpoint.LmHeadWeight] = tied.HeadWeight };
        string folder = _temp.File("ckpt");

        HfCheckpoint.Save(folder, both, Config, Quick with { TiedEmbeddings = true });

        Assert.False(Safetensors.ReadHeader(Path.Combine(folder, HfCheckpoint.WeightsFile)).Contains(HfCheckpoint.LmHeadWeight));
    }

    [Fact]
    public void Tied_save_refuses_a_head_that_differs_from_the_embedding()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm untied = Seeded(1);

        var e = Assert.Throws<ArgumentException>(() => HfCheckpoint.Save(_temp.File("ckpt"), untied, Config, Quick with { TiedEmbeddings = true }));
        Assert.Contains("differs", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoint_without_lm_head_is_refused_for_an_untied_model()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm tied = Seeded(1, tied: true);
        using TinyLm untied = Seeded(2);
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, tied, Config, Quick with { TiedEmbeddings = true });
        Dictionary<string, float[]> before = Snapshot(untied);

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(untied, folder));

        Assert.Equal(HfCheckpoint.LmHeadWeight, e.TensorName);
        Assert.Equal(Path.Combine(folder, HfCheckpoint.WeightsFile), e.FilePath);
        Assert.Equal(before, Snapshot(untied));
    }

    [Fact]
    public void Tied_load_into_a_model_whose_head_is_not_tied_is_refused()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm tied = Seeded(1, tied: true);
        using TinyLm untied = Seeded(2);
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, tied, Config, Quick with { TiedEmbeddings = true });

        var e = Assert.Throws<ArgumentException>(() => HfCheckpoint.LoadInto(untied, folder, tiedEmbeddings: true));
        Assert.Contains("does not share storage", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tied_load_ignores_an_lm_head_the_checkpoint_carries_anyway()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm saved = Seeded(1); // untied: the file has both tensors
        using TinyLm loaded = Seeded(2, tied: true);
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, saved, Config, Quick);

        HfCheckpoint.LoadInto(loaded, folder, tiedEmbeddings: true);

        Assert.True(saved.EmbeddingWeight.Equals(loaded.EmbeddingWeight));
        Assert.True(loaded.HeadWeight.Equals(loaded.EmbeddingWeight));
    }

    [Fact]
    public void Shape_mismatch_names_file_and_tensor_and_leaves_the_model_untouched()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm saved = Seeded(1);
        torch.manual_seed(2);
        using var wider = new TinyLm(vocab: 8, dim: 6);
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, saved, Config, Quick);
        Dictionary<string, float[]> before = Snapshot(wider);

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(wider, folder));

        Assert.Equal(Path.Combine(folder, HfCheckpoint.WeightsFile), e.FilePath);
        Assert.Equal("model.embed_tokens.weight", e.TensorName);
        Assert.Contains("shape [8, 4] in the file but the model expects [8, 6]", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(wider));
    }

    [Fact]
    public void Extra_tensor_in_the_checkpoint_is_refused()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm model = Seeded(1);
        var tensors = new Dictionary<string, Tensor>(model.state_dict()) { ["model.layers.0.unknown.weight"] = torch.zeros(2) };
        string folder = _temp.File("ckpt");
        HfCheckpoint.Save(folder, tensors, Config, Quick);

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(model, folder));
        Assert.Equal("model.layers.0.unknown.weight", e.TensorName);
    }

    [Fact]
    public void Folder_without_weights_is_refused()
    {
        string folder = _temp.File("ckpt");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, HfCheckpoint.ConfigFile), Config);

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(new TinyLm(), folder));
        Assert.Contains("neither model.safetensors nor model.safetensors.index.json", e.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------ sharded checkpoints (fixture written by the Python tool)

    [Theory]
    [InlineData(SafetensorsReadMode.MemoryMapped)]
    [InlineData(SafetensorsReadMode.Streamed)]
    public void LoadInto_reads_the_python_sharded_checkpoint_and_converts_dtypes(SafetensorsReadMode mode)
    {
        using DisposeScope scope = torch.NewDisposeScope();
        using TinyLm model = Seeded(1);

        HfCheckpoint.LoadInto(model, FormatFixtures.PathOf("sharded"), mode: mode);

        Dictionary<string, Tensor> parameters = model.state_dict();
        foreach (string shard in new[] { "sharded/model-00001-of-00002.safetensors", "sharded/model-00002-of-00002.safetensors" })
        {
            foreach (JsonProperty tensor in FormatFixtures.Expected(shard).GetProperty("tensors").EnumerateObject())
            {
                Tensor parameter = parameters[tensor.Name];
                Assert.Equal(ScalarType.Float32, parameter.dtype);
                // bf16 and f16 values are exact in f32, so the converted parameter must hold them exactly.
                var asStored = JsonSerializer.SerializeToElement(new
                {
                    dtype = "F32",
                    shape = tensor.Value.GetProperty("shape"),
                    values = tensor.Value.GetProperty("values"),
                });
                FormatFixtures.AssertMatches($"{shard}:{tensor.Name}", asStored, parameter);
            }
        }
    }

    [Fact]
    public void SafetensorsIndex_reads_the_map_and_total_size()
    {
        SafetensorsIndex index = SafetensorsIndex.Read(FormatFixtures.PathOf("sharded/model.safetensors.index.json"));

        Assert.Equal(4, index.WeightMap.Count);
        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], index.ShardFiles);
        Assert.Equal("model-00002-of-00002.safetensors", index.WeightMap["lm_head.weight"]);
        Assert.Equal(8 * 4 * 4 + 4 * 2 + 4 * 4 * 2 + 8 * 4 * 4, index.TotalSize);
    }

    [Fact]
    public void LoadTensors_reads_all_shards_with_their_file_dtypes()
    {
        using DisposeScope scope = torch.NewDisposeScope();
        Dictionary<string, Tensor> tensors = HfCheckpoint.LoadTensors(FormatFixtures.PathOf("sharded"));

        Assert.Equal(["lm_head.weight", "model.embed_tokens.weight", "model.proj.bias", "model.proj.weight"], tensors.Keys.Order());
        Assert.Equal(ScalarType.BFloat16, tensors["model.proj.weight"].dtype);
        Assert.Equal(ScalarType.Float16, tensors["model.proj.bias"].dtype);
    }

    private string CopyShardedFixture()
    {
        string folder = _temp.File("sharded");
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.GetFiles(FormatFixtures.PathOf("sharded")))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        return folder;
    }

    private static void EditIndex(string folder, Action<JsonObject> edit)
    {
        string path = Path.Combine(folder, SafetensorsIndex.FileName);
        JsonObject index = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(index["weight_map"]!.AsObject());
        File.WriteAllText(path, index.ToJsonString());
    }

    [Fact]
    public void Missing_shard_is_named_with_a_tensor_it_should_hold()
    {
        string folder = CopyShardedFixture();
        File.Delete(Path.Combine(folder, "model-00002-of-00002.safetensors"));

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(new TinyLm(), folder));

        Assert.Equal(Path.Combine(folder, SafetensorsIndex.FileName), e.FilePath);
        Assert.Equal("lm_head.weight", e.TensorName);
        Assert.Contains("'model-00002-of-00002.safetensors', which does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tensor_listed_in_the_index_but_absent_from_its_shard_is_refused()
    {
        string folder = CopyShardedFixture();
        EditIndex(folder, map => map["model.ghost.weight"] = "model-00001-of-00002.safetensors");

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(new TinyLm(), folder));

        Assert.Equal("model.ghost.weight", e.TensorName);
        Assert.Equal(Path.Combine(folder, "model-00001-of-00002.safetensors"), e.FilePath);
        Assert.Contains("the shard does not hold it", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tensor_in_a_shard_but_not_in_the_index_is_refused()
    {
        string folder = CopyShardedFixture();
        EditIndex(folder, map => map.Remove("model.proj.bias"));

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(new TinyLm(), folder));

        Assert.Equal("model.proj.bias", e.TensorName);
        Assert.Contains("does not list it", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tensor_mapped_to_the_wrong_shard_is_refused()
    {
        string folder = CopyShardedFixture();
        EditIndex(folder, map => map["model.proj.bias"] = "model-00002-of-00002.safetensors");

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadInto(new TinyLm(), folder));
        Assert.Equal("model.proj.bias", e.TensorName);
    }

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    public void Shard_names_that_leave_the_folder_are_refused(string shard)
    {
        string folder = CopyShardedFixture();
        EditIndex(folder, map => map["model.proj.bias"] = shard);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsIndex.Read(Path.Combine(folder, SafetensorsIndex.FileName)));
        Assert.Contains("not a plain file name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Index_without_weight_map_is_refused()
    {
        string folder = CopyShardedFixture();
        File.WriteAllText(Path.Combine(folder, SafetensorsIndex.FileName), """{"metadata":{}}""");

        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.LoadTensors(folder));
        Assert.Contains("no \"weight_map\"", e.Message, StringComparison.Ordinal);
    }
}
