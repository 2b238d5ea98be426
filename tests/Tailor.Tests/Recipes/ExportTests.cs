using System.Text.Json.Nodes;
using Tailor.Formats;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Tests.Cli;
using Tailor.Tests.Formats;
using static TorchSharp.torch;

namespace Tailor.Tests.Recipes;

/// <summary>
/// The export recipe read back with Tailor's own GGUF reader and HF loader: metadata, tensor names and layouts, the
/// RoPE permutation, Q8_0 storage, LoRA merging, and the errors for bad input. llama.cpp's view of the same files is in
/// <see cref="GgufLlamaCppTests"/>.
/// </summary>
[Collection("TorchSharp")]
public sealed class ExportTests : IDisposable
{
    private static readonly string Shipped = GgufExports.ShippedModel;
    private readonly TempFolder _temp = new();

    public ExportTests() => set_num_threads(1);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Gguf_export_of_the_shipped_model_has_llama_metadata_tokenizer_and_tensor_table()
    {
        string path = _temp.File("small.gguf");
        var result = Export.Run(Shipped, null, "gguf", path, null);
        Assert.Equal(("gguf", "f32", "llama", 56), (result.Format, result.Dtype, result.Architecture, result.Tensors));

        var file = Gguf.Read(path);
        Assert.Equal(3u, file.Version);
        Assert.Equal("llama", file.Get<string>("general.architecture"));
        Assert.Equal("tailor-base-small", file.Get<string>("general.name"));
        Assert.Equal(0u, file.Get<uint>("general.file_type"));
        Assert.Equal(32u, file.Get<uint>("general.alignment"));
        Assert.Equal(512u, file.Get<uint>("llama.context_length"));
        Assert.Equal(256u, file.Get<uint>("llama.embedding_length"));
        Assert.Equal(6u, file.Get<uint>("llama.block_count"));
        Assert.Equal(704u, file.Get<uint>("llama.feed_forward_length"));
        Assert.Equal(8u, file.Get<uint>("llama.attention.head_count"));
        Assert.Equal(8u, file.Get<uint>("llama.attention.head_count_kv"));
        Assert.Equal(1e-5f, file.Get<float>("llama.attention.layer_norm_rms_epsilon"));
        Assert.Equal(10000f, file.Get<float>("llama.rope.freq_base"));
        Assert.Equal(32u, file.Get<uint>("llama.rope.dimension_count"));
        Assert.Equal(8192u, file.Get<uint>("llama.vocab_size"));

        Assert.Equal("gpt2", file.Get<string>("tokenizer.ggml.model"));
        Assert.Equal("gpt-2", file.Get<string>("tokenizer.ggml.pre"));
        string[] tokens = file.Get<string[]>("tokenizer.ggml.tokens");
        int[] types = file.Get<int[]>("tokenizer.ggml.token_type");
        Assert.Equal(8192, tokens.Length);
        Assert.Equal("<|endoftext|>", tokens[8188]);
        Assert.Equal("<|pad|>", tokens[8191]);
        Assert.Equal([1, 1, 3, 3, 3, 3], types[8186..]);                                           // normal, then control
        Assert.Equal(7932, file.Get<string[]>("tokenizer.ggml.merges").Length);
        Assert.Equal(8188u, file.Get<uint>("tokenizer.ggml.eos_token_id"));
        Assert.Equal(8188u, file.Get<uint>("tokenizer.ggml.bos_token_id"));
        Assert.Equal(8191u, file.Get<uint>("tokenizer.ggml.padding_token_id"));
        Assert.False(file.Get<bool>("tokenizer.ggml.add_bos_token"));

        Assert.DoesNotContain(file.Tensors, t => t.Name == "output.weight");                      // tied embeddings
        Assert.Equal([256L, 8192], file.Tensor("token_embd.weight").Dimensions);
        Assert.Equal([256L, 704], file.Tensor("blk.5.ffn_gate.weight").Dimensions);
        Assert.Equal([704L, 256], file.Tensor("blk.5.ffn_down.weight").Dimensions);
        Assert.All(file.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
    }

    [Fact]
    public void Gguf_q_and_k_rows_are_permuted_per_head_and_every_other_weight_is_copied_as_is()
    {
        string path = _temp.File("small.gguf");
        Export.Run(Shipped, null, "gguf", path, "f32");
        var file = Gguf.Read(path);
        var hf = HfCheckpoint.LoadTensors(Shipped);
        try
        {
            Assert.Equal(Floats(GgufNames.PermuteRotaryRows(hf["model.layers.2.self_attn.q_proj.weight"], 8)), file.ReadFloats("blk.2.attn_q.weight"));
            Assert.Equal(Floats(GgufNames.PermuteRotaryRows(hf["model.layers.2.self_attn.k_proj.weight"], 8)), file.ReadFloats("blk.2.attn_k.weight"));
            Assert.NotEqual(Floats(hf["model.layers.2.self_attn.q_proj.weight"]), file.ReadFloats("blk.2.attn_q.weight"));
            Assert.Equal(Floats(hf["model.layers.2.self_attn.v_proj.weight"]), file.ReadFloats("blk.2.attn_v.weight"));
            Assert.Equal(Floats(hf["model.layers.2.self_attn.o_proj.weight"]), file.ReadFloats("blk.2.attn_output.weight"));
            Assert.Equal(Floats(hf["model.layers.2.post_attention_layernorm.weight"]), file.ReadFloats("blk.2.ffn_norm.weight"));
            Assert.Equal(Floats(hf["model.embed_tokens.weight"]), file.ReadFloats("token_embd.weight"));
        }
        finally
        {
            foreach (var t in hf.Values) t.Dispose();
        }
    }

    [Fact]
    public void A_chat_template_goes_into_the_gguf_metadata_only_when_the_tokenizer_has_one()
    {
        using var model = PretrainedModel.Load(Shipped);
        var (without, _) = Export.BuildGguf(model.Model, model.Tokenizer, "m", GgmlType.F32);
        Assert.DoesNotContain(without, kv => kv.Key == "tokenizer.chat_template");
        const string template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
        model.Tokenizer.ChatTemplate = template;
        var (with, _) = Export.BuildGguf(model.Model, model.Tokenizer, "m", GgmlType.F32);
        Assert.Equal(template, with.Single(kv => kv.Key == "tokenizer.chat_template").Value);
    }

    [Fact]
    public void The_rotary_permutation_interleaves_the_two_halves_of_each_head()
    {
        // 2 heads of size 4, one column: head rows [a0 a1 | b0 b1] become [a0 b0 a1 b1].
        using var w = arange(8, dtype: ScalarType.Float32).reshape(8, 1);
        Assert.Equal([0f, 2, 1, 3, 4, 6, 5, 7], Floats(GgufNames.PermuteRotaryRows(w, 2)));
        using var bias = arange(8, dtype: ScalarType.Float32);
        Assert.Equal([0f, 2, 1, 3, 4, 6, 5, 7], Floats(GgufNames.PermuteRotaryRows(bias, 2)));
    }

    [Fact]
    public void Q8_0_export_stores_matrices_in_blocks_and_keeps_norms_in_f32()
    {
        string path = _temp.File("small-q8.gguf");
        Export.Run(Shipped, null, "gguf", path, "q8_0");
        var file = Gguf.Read(path);
        Assert.Equal(7u, file.Get<uint>("general.file_type"));
        Assert.Equal(GgmlType.Q8_0, file.Tensor("token_embd.weight").Type);
        Assert.Equal(GgmlType.Q8_0, file.Tensor("blk.0.ffn_down.weight").Type);
        Assert.Equal(GgmlType.F32, file.Tensor("blk.0.attn_norm.weight").Type);
        Assert.Equal(GgmlType.F32, file.Tensor("output_norm.weight").Type);

        var hf = HfCheckpoint.LoadTensors(Shipped);
        try
        {
            float[] original = Floats(hf["model.layers.0.mlp.down_proj.weight"]);
            float[] stored = file.ReadFloats("blk.0.ffn_down.weight");
            // Rounding q costs at most d/2; the f16 scale is off by at most d·2⁻¹¹, times |q| ≤ 127: 0.562·d in all.
            for (int b = 0; b < original.Length / 32; b++)
            {
                float amax = original.AsSpan(b * 32, 32).ToArray().Max(MathF.Abs);
                for (int j = b * 32; j < b * 32 + 32; j++)
                    Assert.True(Math.Abs(stored[j] - original[j]) <= amax / 127 * 0.563 + 1e-7, $"value {j}: {stored[j]} vs {original[j]}");
            }
        }
        finally
        {
            foreach (var t in hf.Values) t.Dispose();
        }
    }

    [Fact]
    public void A_lora_adapter_is_merged_into_both_gguf_and_hf_exports()
    {
        string folder = _temp.File("tiny"), adapter = _temp.File("adapter");
        GgufExports.SaveTinyModel(folder, qwen: false);
        float[] mergedLogits, mergedV;
        using var ids = tensor(new long[] { 5, 17, 300, 8000, 42, 7 }, [1, 6]);
        using (var model = PretrainedModel.Load(folder))
        {
            var config = new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0, TargetModules = ["q_proj", "v_proj", "down_proj"] };
            LoraAdapter.Apply(model.Model, config);
            using (no_grad())
            {
                random.manual_seed(9);
                foreach (var (_, layer) in LoraAdapter.Adapters(model.Model)) layer.LoraB.normal_(0, 0.2);   // B = 0 would merge to nothing
            }
            LoraAdapter.Save(model.Model, adapter, config);
            LoraAdapter.Merge(model.Model);
            using var _ = inference_mode();
            mergedLogits = Floats(model.Model.Forward(ids));
            mergedV = Floats(model.Model.state_dict()["model.layers.1.self_attn.v_proj.weight"]);
        }

        string hfOut = _temp.File("merged-hf");
        var hf = Export.Run(folder, adapter, "hf", hfOut, null);
        Assert.Equal((6, "f32"), (hf.MergedAdapterLayers, hf.Dtype));
        using (var reloaded = PretrainedModel.Load(hfOut))
        using (inference_mode())
        {
            float[] logits = Floats(reloaded.Model.Forward(ids));
            Assert.Equal(mergedLogits.Length, logits.Length);
            for (int i = 0; i < logits.Length; i++) Assert.True(Math.Abs(logits[i] - mergedLogits[i]) < 1e-5, $"logit {i}: {logits[i]} vs {mergedLogits[i]}");
            using var plain = PretrainedModel.Load(folder);
            Assert.NotEqual(Floats(plain.Model.Forward(ids)), logits);                                 // the adapter did something
        }

        string gguf = _temp.File("merged.gguf");
        Export.Run(folder, adapter, "gguf", gguf, null);
        Assert.Equal(mergedV, Gguf.Read(gguf).ReadFloats("blk.1.attn_v.weight"));
    }

    [Theory]
    [InlineData("hf", "q8_0", "q8_0 is a GGUF block type")]
    [InlineData("gguf", "bf16", "'bf16' is not a gguf dtype; use one of f32, f16, q8_0")]
    [InlineData("gguf", "int4", "'int4' is not a gguf dtype")]
    [InlineData("onnx", null, "export writes gguf or hf")]
    public void Bad_formats_and_dtypes_are_refused_with_what_to_use(string format, string? dtype, string message)
    {
        var e = Assert.Throws<TailorException>(() => Export.Run(Shipped, null, format, _temp.File("out"), dtype));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Missing_models_folders_as_files_and_files_as_folders_are_refused()
    {
        Assert.Contains("no such model folder", Assert.ThrowsAny<Exception>(() => Export.Run(_temp.File("nope"), null, "gguf", _temp.File("o.gguf"), null)).Message);
        Directory.CreateDirectory(_temp.File("dir.gguf"));
        Assert.Contains("is a folder; a GGUF export is one file", Assert.Throws<TailorException>(() => Export.Run(Shipped, null, "gguf", _temp.File("dir.gguf"), null)).Message);
        File.WriteAllText(_temp.File("afile"), "x");
        Assert.Contains("is a file; an HF export is a folder", Assert.Throws<TailorException>(() => Export.Run(Shipped, null, "hf", _temp.File("afile"), null)).Message);
        Directory.CreateDirectory(_temp.File("notes"));
        File.WriteAllText(_temp.File("notes/todo.txt"), "keep me");
        Assert.Contains("is not a model folder", Assert.Throws<TailorException>(() => Export.Run(Shipped, null, "hf", _temp.File("notes"), null)).Message);
        Assert.Equal("keep me", File.ReadAllText(_temp.File("notes/todo.txt")));
    }

    [Fact]
    public void Export_never_replaces_a_folder_or_file_holding_what_it_did_not_write()
    {
        // The probe: a copy of a model folder plus a training run's checkpoint/ and the user's notes.
        string run = _temp.File("run");
        Directory.CreateDirectory(run);
        foreach (string file in Directory.GetFiles(Shipped)) File.Copy(file, Path.Combine(run, Path.GetFileName(file)));
        Directory.CreateDirectory(Path.Combine(run, "checkpoint"));
        File.WriteAllText(Path.Combine(run, "NOTES.txt"), "keep");
        var before = Directory.GetFileSystemEntries(run).Select(Path.GetFileName).Order().ToList();
        var e = Assert.Throws<TailorException>(() => Export.Run(Shipped, null, "hf", run, null));
        Assert.Contains("NOTES.txt", e.Message);
        Assert.Contains("checkpoint/", e.Message);
        Assert.Contains("README.md", e.Message);                                    // the shipped folder's card is not an export's either
        Assert.Contains("new or empty folder", e.Message);
        Assert.Equal(before, Directory.GetFileSystemEntries(run).Select(Path.GetFileName).Order().ToList());
        Assert.Equal("keep", File.ReadAllText(Path.Combine(run, "NOTES.txt")));

        // A previous HF export is replaced; a file that is not a GGUF is not.
        string hf = _temp.File("hf");
        Export.Run(Shipped, null, "hf", hf, "bf16");
        var exported = Directory.GetFileSystemEntries(hf).Select(Path.GetFileName).Order().ToList();
        Assert.Equal("bf16", Export.Run(Shipped, null, "hf", hf, "bf16").Dtype);
        Assert.Equal(exported, Directory.GetFileSystemEntries(hf).Select(Path.GetFileName).Order().ToList());
        string notes = _temp.File("notes.gguf");
        File.WriteAllText(notes, "my notes");
        Assert.Contains("not a GGUF file", Assert.Throws<TailorException>(() => Export.Run(Shipped, null, "gguf", notes, null)).Message);
        Assert.Equal("my notes", File.ReadAllText(notes));
    }

    [Fact]
    public void A_corrupt_adapter_names_its_file_and_leaves_the_previous_export_untouched()
    {
        string folder = _temp.File("tiny"), adapter = _temp.File("adapter"), output = _temp.File("out.gguf");
        GgufExports.SaveTinyModel(folder, qwen: false);
        using (var model = PretrainedModel.Load(folder))
        {
            var config = new LoraConfig { Rank = 2, Alpha = 4, Dropout = 0 };
            LoraAdapter.Apply(model.Model, config);
            LoraAdapter.Save(model.Model, adapter, config);
        }
        string weights = Path.Combine(adapter, LoraAdapter.AdapterWeightsFile);
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        File.WriteAllText(output, "GGUF previous export");

        var e = Assert.ThrowsAny<TailorException>(() => Export.Run(folder, adapter, "gguf", output, null));
        Assert.Contains(LoraAdapter.AdapterWeightsFile, e.Message);
        Assert.Equal("GGUF previous export", File.ReadAllText(output));
        Assert.Equal(["adapter", "out.gguf", "tiny"], Directory.GetFileSystemEntries(_temp.Path).Select(Path.GetFileName).Order()); // no temporaries
    }

    [Fact]
    public void Gguf_export_refuses_a_tokenizer_that_llama_cpp_would_pre_tokenize_differently()
    {
        string folder = _temp.File("prefix-space");
        Directory.CreateDirectory(folder);
        foreach (string f in Directory.GetFiles(Shipped)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer.json")))!;
        json["pre_tokenizer"]!["add_prefix_space"] = true;
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString());
        var e = Assert.Throws<TailorException>(() => Export.Run(folder, null, "gguf", _temp.File("x.gguf"), null));
        Assert.Contains("pre-tokenizer is not GPT-2's ByteLevel split", e.Message);
        Assert.False(File.Exists(_temp.File("x.gguf")));
    }

    [Fact]
    public void The_cli_exports_and_reports_bad_options_on_one_line()
    {
        string path = _temp.File("cli.gguf");
        var (exit, stdout, stderr) = CliRunner.Run("export", "--model", Shipped, "--format", "gguf", "--output", path, "--dtype", "f16", "--threads", "1");
        Assert.True(exit == 0, stderr);
        Assert.Contains("gguf llama, f16, 56 tensors", stdout);
        Assert.Equal(1u, Gguf.Read(path).Get<uint>("general.file_type"));

        (exit, _, stderr) = CliRunner.Run("export", "--model", Shipped, "--format", "hf", "--output", _temp.File("h"), "--dtype", "q8_0");
        Assert.Equal(1, exit);
        Assert.Contains("q8_0 is a GGUF block type", stderr);
        Assert.Single(stderr.Trim().Split('\n'));

        (exit, _, stderr) = CliRunner.Run("export", "--model", Shipped, "--output", path);
        Assert.Equal(2, exit);
        Assert.Contains("--format gguf or --format hf", stderr);

        (exit, stdout, _) = CliRunner.Run("export", "--help");
        Assert.Equal(0, exit);
        foreach (string option in new[] { "--model", "--adapter", "--format", "--output", "--dtype" }) Assert.Contains(option, stdout);
        (_, stdout, _) = CliRunner.Run("--help");
        Assert.Contains("export", stdout);
    }

    private static float[] Floats(Tensor t) => t.detach().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
}
