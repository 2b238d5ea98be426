using Tailor.Formats;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Text;
using static TorchSharp.torch;

namespace Tailor.Recipes;

/// <summary>What an export wrote.</summary>
/// <param name="Path">The file (GGUF) or folder (HF) written.</param>
/// <param name="Format">"gguf" or "hf".</param>
/// <param name="Dtype">The weight dtype written: f32, f16, bf16 or q8_0.</param>
/// <param name="Architecture">The architecture written: GGUF's "llama", "qwen2" or "gpt2"; for HF, config.json's architectures[0].</param>
/// <param name="Tensors">Number of tensors written.</param>
/// <param name="Bytes">Size of the output on disk.</param>
/// <param name="MergedAdapterLayers">LoRA layers merged into the weights (0 without an adapter).</param>
public sealed record ExportResult(string Path, string Format, string Dtype, string Architecture, int Tensors, long Bytes, int MergedAdapterLayers);

/// <summary>
/// The export recipe: a Hugging Face model folder (optionally with a PEFT LoRA adapter merged in) written as a GGUF file
/// that llama.cpp runs, or as a Hugging Face folder again.
/// </summary>
/// <remarks>
/// <para><b>GGUF.</b> Llama models are written as llama.cpp's <c>llama</c> architecture and Qwen2 models (q/k/v biases)
/// as its <c>qwen2</c> architecture, with tensor names as llama.cpp's <c>convert_hf_to_gguf.py</c> gives them
/// (<c>token_embd</c>, <c>blk.N.attn_q</c> ... <c>output_norm</c>; no <c>output</c> when embeddings are tied). For
/// <c>llama</c>, the rows of q_proj and k_proj (and their biases) are permuted per head from Hugging Face's rotate-half
/// RoPE layout to the interleaved-pairs layout llama.cpp's <c>llama</c> graph rotates; <c>qwen2</c> uses NeoX (rotate-half)
/// RoPE in llama.cpp, so its weights are written unpermuted. Norm weights and biases stay f32; 2-D weights are f32, f16 or
/// Q8_0 (a weight whose rows are not a multiple of 32 values falls back to f16, as llama.cpp's converter does).</para>
/// <para>The tokenizer goes in as llama.cpp's <c>gpt2</c> (byte-level BPE) model with pre-tokenizer <c>gpt-2</c>, whose
/// regex is the GPT-2 regex Tailor's tokenizers use; special added tokens are <c>control</c> tokens, other added tokens
/// <c>user_defined</c>, ids the tokenizer lacks <c>[PADn]</c> (<c>unused</c>). A tokenizer without a BOS token gets its
/// EOS as BOS (as GPT-2's does), with add_bos false, so llama.cpp never inserts it. Tokenizers with another
/// pre-tokenizer (Llama 3, Qwen) or a normalizer are refused rather than written with a pre-tokenizer that splits
/// differently.</para>
/// <para><b>GPT-2</b> is written as llama.cpp's <c>gpt2</c> architecture, as <c>convert_hf_to_gguf.py</c>'s GPT2Model does:
/// <c>token_embd</c>, <c>position_embd</c>, per block <c>attn_norm</c>, <c>attn_qkv</c>, <c>attn_output</c>,
/// <c>ffn_norm</c>, <c>ffn_up</c>, <c>ffn_down</c> (each with its bias), <c>output_norm</c>, and <c>output</c> (a copy
/// of <c>token_embd</c> when tied, as the converter writes it). Conv1D weights are (in, out), so they are transposed to
/// the (out, in) order every other weight has; the causal-mask buffers old checkpoints carry are not model weights.
/// The GPT-2 tokenizer goes in as above (<c>gpt2</c> model, <c>gpt-2</c> pre-tokenizer).</para>
/// </remarks>
public static class Export
{
    /// <summary>The GGUF weight types <c>tailor export</c> offers.</summary>
    public static readonly IReadOnlyList<string> GgufDtypes = ["f32", "f16", "q8_0"];

    /// <summary>The HF weight dtypes <c>tailor export</c> offers.</summary>
    public static readonly IReadOnlyList<string> HfDtypes = ["f32", "f16", "bf16"];

    /// <summary>
    /// Loads <paramref name="modelFolder"/> (and merges <paramref name="adapterFolder"/> when given) and writes it in
    /// <paramref name="format"/> ("gguf" or "hf") to <paramref name="output"/>. <paramref name="dtype"/> null means f32 for
    /// GGUF (exact for f32 and bf16 sources) and the source's own torch_dtype for HF.
    /// </summary>
    /// <exception cref="TailorException">Bad format, dtype, model, adapter or output path; the message says which and what to do.</exception>
    public static ExportResult Run(string modelFolder, string? adapterFolder, string format, string output, string? dtype, Action<string>? log = null)
    {
        log ??= _ => { };
        if (format is not ("gguf" or "hf"))
            throw new TailorException($"--format '{format}': export writes gguf or hf.");
        var allowed = format == "gguf" ? GgufDtypes : HfDtypes;
        if (dtype is not null && !allowed.Contains(dtype))
            throw new TailorException(format == "hf" && dtype == "q8_0"
                ? "--dtype q8_0 is a GGUF block type; a Hugging Face folder stores f32, f16 or bf16."
                : $"--dtype '{dtype}' is not a {format} dtype; use one of {string.Join(", ", allowed)}.");
        CheckOutput(modelFolder, output, format);

        using var model = adapterFolder is null ? PretrainedModel.Load(modelFolder) : AdapterEmbeddings.LoadBase(modelFolder, adapterFolder);
        int merged = 0;
        if (adapterFolder is not null)
        {
            LoraAdapter.Load(model.Model, adapterFolder);
            merged = LoraAdapter.Merge(model.Model);
            log($"merged the LoRA adapter of {adapterFolder} into {merged} projections");
        }

        if (format == "gguf")
        {
            var type = (dtype ?? "f32") switch { "f16" => GgmlType.F16, "q8_0" => GgmlType.Q8_0, _ => GgmlType.F32 };
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelFolder)));
            var (metadata, tensors) = BuildGguf(model.Model, model.Tokenizer, name, type);
            Gguf.Write(output, metadata, tensors);
            return new ExportResult(output, "gguf", dtype ?? "f32", (string)metadata.First(kv => kv.Key == "general.architecture").Value,
                tensors.Count, new FileInfo(output).Length, merged);
        }

        string hfDtype = dtype ?? (model.Model.DecoderConfig.TorchDtype switch { "bfloat16" => "bf16", "float16" => "f16", _ => "f32" });
        var scalar = hfDtype switch { "bf16" => ScalarType.BFloat16, "f16" => ScalarType.Float16, _ => ScalarType.Float32 };
        ModelFolder.Save(output, model.Model, model.Tokenizer, scalar);
        long bytes = Directory.EnumerateFiles(output).Sum(f => new FileInfo(f).Length);
        return new ExportResult(output, "hf", hfDtype, model.Model.DecoderConfig.Architectures[0], model.Model.state_dict().Count, bytes, merged);
    }

    /// <summary>
    /// The GGUF metadata and tensors of a model and its tokenizer (see the class remarks for the mapping).
    /// <paramref name="weightType"/> is the type of 2-D weights: F32, F16 or Q8_0.
    /// </summary>
    /// <exception cref="TailorException">The tokenizer's pre-tokenization has no llama.cpp equivalent, or the config
    /// uses a feature llama.cpp's llama/qwen2 graphs lack.</exception>
    public static (List<KeyValuePair<string, object>> Metadata, List<GgufTensor> Tensors) BuildGguf(
        CausalLM model, TextTokenizer tokenizer, string name, GgmlType weightType)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (weightType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0))
            throw new TailorException($"GGUF weight type {weightType}: export writes F32, F16 or Q8_0.");
        if (!tokenizer.UsesGpt2PreTokenization)
            throw new TailorException("tokenizer.json: the pre-tokenizer is not GPT-2's ByteLevel split (or a normalizer / ignore_merges is set), so llama.cpp's 'gpt-2' pre-tokenizer would split text differently. GGUF export supports Tailor-trained (GPT-2 style) tokenizers; export this model as HF instead.");
        if (model is Gpt2LMHeadModel gpt2) return BuildGpt2Gguf(gpt2, tokenizer, name, weightType);
        var c = ((LlamaForCausalLM)model).Config;
        bool qwen2 = c.IsQwen2;
        if (!qwen2 && c.OutputBias)
            throw new TailorException("config.json: attention_bias is true; llama.cpp's llama graph has q/k/v/o biases only as an untested extension. Export this model as HF instead.");

        string arch = qwen2 ? "qwen2" : "llama";
        var fileType = weightType switch { GgmlType.F16 => 1u, GgmlType.Q8_0 => 7u, _ => 0u };
        var metadata = new List<KeyValuePair<string, object>>
        {
            new("general.architecture", arch),
            new("general.name", name),
            new("general.file_type", fileType),
            new("general.quantization_version", 2u),
            new("general.alignment", (uint)Gguf.DefaultAlignment),
            new($"{arch}.context_length", (uint)c.MaxPositionEmbeddings),
            new($"{arch}.embedding_length", (uint)c.HiddenSize),
            new($"{arch}.block_count", (uint)c.NumHiddenLayers),
            new($"{arch}.feed_forward_length", (uint)c.IntermediateSize),
            new($"{arch}.attention.head_count", (uint)c.NumAttentionHeads),
            new($"{arch}.attention.head_count_kv", (uint)c.KeyValueHeads),
            new($"{arch}.attention.key_length", (uint)c.HeadDim),
            new($"{arch}.attention.value_length", (uint)c.HeadDim),
            new($"{arch}.attention.layer_norm_rms_epsilon", (float)c.RmsNormEps),
            new($"{arch}.rope.freq_base", (float)c.RopeTheta),
            new($"{arch}.rope.dimension_count", (uint)c.HeadDim),
            new($"{arch}.vocab_size", (uint)c.VocabSize),
        };
        AddTokenizer(metadata, tokenizer, c.VocabSize);

        var tensors = new List<GgufTensor>();
        using (no_grad())
        {
            foreach (var (key, parameter) in model.state_dict())
            {
                using var scope = NewDisposeScope();
                string ggufName = GgufNames.TensorName(key);
                var w = parameter.detach().to_type(ScalarType.Float32);
                if (!qwen2 && (key.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal) || key.EndsWith(".self_attn.q_proj.bias", StringComparison.Ordinal)))
                    w = GgufNames.PermuteRotaryRows(w, c.NumAttentionHeads);
                else if (!qwen2 && (key.EndsWith(".self_attn.k_proj.weight", StringComparison.Ordinal) || key.EndsWith(".self_attn.k_proj.bias", StringComparison.Ordinal)))
                    w = GgufNames.PermuteRotaryRows(w, c.KeyValueHeads);
                float[] values = w.contiguous().data<float>().ToArray();
                long[] dims = [.. Enumerable.Reverse(w.shape)];                                   // ggml order: row length first
                var type = w.dim() == 1 ? GgmlType.F32
                    : weightType == GgmlType.Q8_0 && dims[0] % Gguf.Q8BlockSize != 0 ? GgmlType.F16
                    : weightType;
                tensors.Add(new GgufTensor(ggufName, dims, type, Gguf.Encode(values, type)));
            }
        }
        return (metadata, tensors);
    }

    /// <summary>GPT-2 as llama.cpp's <c>gpt2</c> architecture (see the class remarks).</summary>
    private static (List<KeyValuePair<string, object>> Metadata, List<GgufTensor> Tensors) BuildGpt2Gguf(
        Gpt2LMHeadModel model, TextTokenizer tokenizer, string name, GgmlType weightType)
    {
        var c = model.Config;
        // llama.cpp's gpt2 graph: pre-LayerNorm, fused qkv with biases, GELU (tanh), 1/√D attention, learned positions.
        if (c.ActivationFunction is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new TailorException($"config.json: activation_function is '{c.ActivationFunction}'; llama.cpp's gpt2 graph computes tanh-approximated GELU only. Export this model as HF instead.");
        if (!c.ScaleAttnWeights || c.ScaleAttnByInverseLayerIdx)
            throw new TailorException("config.json: scale_attn_weights false or scale_attn_by_inverse_layer_idx true changes the attention scale, which llama.cpp's gpt2 graph fixes at 1/sqrt(head_dim). Export this model as HF instead.");
        const string arch = "gpt2";
        var fileType = weightType switch { GgmlType.F16 => 1u, GgmlType.Q8_0 => 7u, _ => 0u };
        var metadata = new List<KeyValuePair<string, object>>
        {
            new("general.architecture", arch),
            new("general.name", name),
            new("general.file_type", fileType),
            new("general.quantization_version", 2u),
            new("general.alignment", (uint)Gguf.DefaultAlignment),
            new($"{arch}.context_length", (uint)c.NPositions),
            new($"{arch}.embedding_length", (uint)c.NEmbd),
            new($"{arch}.block_count", (uint)c.NLayer),
            new($"{arch}.feed_forward_length", (uint)c.InnerSize),
            new($"{arch}.attention.head_count", (uint)c.NHead),
            new($"{arch}.attention.layer_norm_epsilon", (float)c.LayerNormEpsilon),
            new($"{arch}.vocab_size", (uint)c.VocabSize),
        };
        AddTokenizer(metadata, tokenizer, c.VocabSize);

        var tensors = new List<GgufTensor>();
        using (no_grad())
        {
            foreach (var (key, parameter) in model.state_dict())
            {
                using var scope = NewDisposeScope();
                string ggufName = GgufNames.Gpt2TensorName(key);
                var w = parameter.detach().to_type(ScalarType.Float32);
                if (w.dim() == 2 && key.StartsWith("transformer.h.", StringComparison.Ordinal)) w = w.t();   // Conv1D (in, out) → (out, in)
                Add(ggufName, w);
                if (key == "transformer.wte.weight" && c.TieWordEmbeddings) Add("output.weight", w);
            }
        }
        return (metadata, tensors);

        void Add(string ggufName, Tensor w)
        {
            float[] values = w.contiguous().data<float>().ToArray();
            long[] dims = [.. Enumerable.Reverse(w.shape)];                                       // ggml order: row length first
            // Norms, biases and the position table stay f32 (llama.cpp's converter keeps position_embd in f32 too).
            var type = w.dim() == 1 || ggufName == "position_embd.weight" ? GgmlType.F32
                : weightType == GgmlType.Q8_0 && dims[0] % Gguf.Q8BlockSize != 0 ? GgmlType.F16
                : weightType;
            tensors.Add(new GgufTensor(ggufName, dims, type, Gguf.Encode(values, type)));
        }
    }

    private static void AddTokenizer(List<KeyValuePair<string, object>> metadata, TextTokenizer tokenizer, int vocabSize)
    {
        const int Normal = 1, Control = 3, UserDefined = 4, Unused = 5;
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            var added = tokenizer.AddedTokenOf(id);
            string? token = tokenizer.IdToToken(id);
            tokens[id] = token ?? $"[PAD{id}]";
            types[id] = added is not null ? (added.Special ? Control : UserDefined) : token is not null ? Normal : Unused;
        }
        metadata.Add(new("tokenizer.ggml.model", "gpt2"));
        metadata.Add(new("tokenizer.ggml.pre", "gpt-2"));
        metadata.Add(new("tokenizer.ggml.tokens", tokens));
        metadata.Add(new("tokenizer.ggml.token_type", types));
        metadata.Add(new("tokenizer.ggml.merges", tokenizer.Merges.Select(m => $"{m.Left} {m.Right}").ToArray()));
        if ((tokenizer.BosId ?? tokenizer.EosId) is int bos) metadata.Add(new("tokenizer.ggml.bos_token_id", (uint)bos));
        if (tokenizer.EosId is int eos) metadata.Add(new("tokenizer.ggml.eos_token_id", (uint)eos));
        if (tokenizer.PadId is int pad) metadata.Add(new("tokenizer.ggml.padding_token_id", (uint)pad));
        metadata.Add(new("tokenizer.ggml.add_bos_token", false));
        metadata.Add(new("tokenizer.ggml.add_eos_token", false));
        if (tokenizer.ChatTemplate is { } template) metadata.Add(new("tokenizer.chat_template", template));
    }

    private static void CheckOutput(string modelFolder, string output, string format)
    {
        if (string.IsNullOrWhiteSpace(output)) throw new TailorException("--output is empty; give the file (gguf) or folder (hf) to write.");
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(output));
        if (full == Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelFolder)))
            throw new TailorException($"{output}: the output is the model folder itself; write the export somewhere else.");
        if (format == "gguf" && Directory.Exists(full))
            throw new TailorException($"{output} is a folder; a GGUF export is one file. Give a file path such as {Path.Combine(output, "model.gguf")}.");
        if (format == "hf" && File.Exists(full))
            throw new TailorException($"{output} is a file; an HF export is a folder. Give a folder path.");
        // The HF save swaps whole folders, so it may replace only a previous HF export: a folder holding nothing but the
        // files an export writes. Anything else in it (a training run's checkpoint/, a README, the user's notes) would be
        // deleted with it.
        if (format == "hf" && Directory.Exists(full))
        {
            var foreign = Directory.EnumerateFileSystemEntries(full)
                .Where(e => !(File.Exists(e) && HfExportFiles.Contains(Path.GetFileName(e))))
                .Select(e => Path.GetFileName(e) + (Directory.Exists(e) ? "/" : "")).Order(StringComparer.Ordinal).ToList();
            if (foreign.Count > 0)
            {
                string what = File.Exists(Path.Combine(full, HfCheckpoint.ConfigFile)) ? "is a model folder but not an HF export" : "is not a model folder (no config.json)";
                throw new TailorException($"{output} {what}: it holds {string.Join(", ", foreign.Take(5))}{(foreign.Count > 5 ? $" and {foreign.Count - 5} more" : "")}, "
                    + $"which export did not write and would delete, since it replaces the whole folder. Give a new or empty folder (such as {Path.TrimEndingDirectorySeparator(output)}-hf).");
            }
        }
        // A GGUF export replaces the file at the path: only a GGUF file (a previous export) may be there.
        if (format == "gguf" && File.Exists(full) && !IsGguf(full))
            throw new TailorException($"{output} exists and is not a GGUF file; export would replace it. Give another path, or move the file away first.");
    }

    /// <summary>The files an HF export writes (ModelFolder.Save: weights, config, generation config, tokenizer files).</summary>
    private static readonly HashSet<string> HfExportFiles = new(StringComparer.Ordinal)
    {
        HfCheckpoint.ConfigFile, HfCheckpoint.WeightsFile, HfCheckpoint.GenerationConfigFile, HfCheckpoint.TokenizerFile, HfCheckpoint.TokenizerConfigFile,
    };

    private static bool IsGguf(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
    }
}
