using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tailor.Model;

/// <summary>
/// The Hugging Face <c>config.json</c> of a Llama-style decoder, read and written as is: property names are HF's,
/// unknown fields survive a round trip. Covers <c>LlamaForCausalLM</c> and <c>Qwen2ForCausalLM</c> (q/k/v bias).
/// </summary>
public sealed class LlamaConfig : IDecoderConfig
{
    /// <summary>The HF architecture names this implementation runs.</summary>
    public static readonly IReadOnlyList<string> SupportedArchitectures = ["LlamaForCausalLM", "Qwen2ForCausalLM"];

    /// <summary>HF <c>architectures</c>; the first entry decides Llama or Qwen2 behaviour.</summary>
    [JsonPropertyName("architectures")] public List<string> Architectures { get; set; } = ["LlamaForCausalLM"];

    /// <summary>HF <c>model_type</c>: "llama" or "qwen2".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "llama";

    /// <summary>Rows of the embedding table and columns of the output head.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; }

    /// <summary>Model width d.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; }

    /// <summary>SwiGLU inner width.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; set; }

    /// <summary>Number of decoder layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; }

    /// <summary>Query heads.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; set; }

    /// <summary>Key/value heads (grouped-query attention when fewer than query heads). Absent means equal to query heads.</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; set; }

    /// <summary>Per-head width. Absent means hidden_size / num_attention_heads.</summary>
    [JsonPropertyName("head_dim")] public int? HeadDimension { get; set; }

    /// <summary>Longest sequence the rotary tables and the KV cache are built for.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; set; } = 2048;

    /// <summary>Epsilon inside RMSNorm's square root.</summary>
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; set; } = 1e-5;

    /// <summary>RoPE base θ.</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; set; } = 10000.0;

    /// <summary>RoPE scaling (Llama 3.1 "llama3", YaRN, ...). Not implemented: must be null.</summary>
    [JsonPropertyName("rope_scaling")] public JsonElement? RopeScaling { get; set; }

    /// <summary>Whether lm_head reuses the embedding matrix (one shared parameter; no lm_head.weight in the checkpoint).</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; set; }

    /// <summary>Llama's switch for biases on q/k/v/o. Qwen2 always has q/k/v bias and no o bias.</summary>
    [JsonPropertyName("attention_bias")] public bool? AttentionBias { get; set; }

    /// <summary>Biases on the MLP projections. Not implemented: must be false or absent.</summary>
    [JsonPropertyName("mlp_bias")] public bool? MlpBias { get; set; }

    /// <summary>Activation of the gated MLP: must be "silu".</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; set; } = "silu";

    /// <summary>Qwen2 sliding-window attention switch. Not implemented: must be false or absent.</summary>
    [JsonPropertyName("use_sliding_window")] public bool? UseSlidingWindow { get; set; }

    /// <summary>Dtype the weights were saved in ("float32", "bfloat16", "float16").</summary>
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; set; } = "float32";

    /// <summary>Beginning-of-sequence token id, if the tokenizer has one.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; set; }

    /// <summary>End-of-sequence token id(s); HF allows a number or a list.</summary>
    [JsonPropertyName("eos_token_id"), JsonConverter(typeof(IntOrArrayConverter))] public int[]? EosTokenId { get; set; }

    /// <summary>Padding token id; never equal to EOS in Tailor's own models, so the model learns to stop.</summary>
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; set; }

    /// <summary>Fields this class does not model, kept so a round trip loses nothing.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>Key/value heads, resolved.</summary>
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;

    /// <summary>Per-head width, resolved.</summary>
    [JsonIgnore] public int HeadDim => HeadDimension ?? (NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0);

    /// <summary>Whether q/k/v carry biases (Qwen2 always; Llama when attention_bias is true).</summary>
    [JsonIgnore] public bool QkvBias => IsQwen2 || AttentionBias == true;

    /// <summary>Whether o_proj carries a bias (Llama with attention_bias only).</summary>
    [JsonIgnore] public bool OutputBias => !IsQwen2 && AttentionBias == true;

    /// <summary>Whether this is a Qwen2 config.</summary>
    [JsonIgnore] public bool IsQwen2 => ModelType == "qwen2" || Architectures.FirstOrDefault() == "Qwen2ForCausalLM";

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly JsonSerializerOptions ReadOptions = new()
    {
        AllowTrailingCommas = false,
        ReadCommentHandling = JsonCommentHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>A fresh config with the given shapes (Llama architecture).</summary>
    public static LlamaConfig Create(int vocab, int hidden, int intermediate, int layers, int heads, int? kvHeads = null,
        int maxPositions = 1024, bool tied = true) => new()
    {
        VocabSize = vocab, HiddenSize = hidden, IntermediateSize = intermediate, NumHiddenLayers = layers,
        NumAttentionHeads = heads, NumKeyValueHeads = kvHeads ?? heads, HeadDimension = hidden / heads,
        MaxPositionEmbeddings = maxPositions, TieWordEmbeddings = tied,
    };

    /// <summary>
    /// A named preset. <c>tiny</c> (&lt; 1M parameters, for tests), <c>small</c> (~6M: d 256, 6 layers, 8 heads, ff 704)
    /// and <c>base</c> (~17M: d 384, 8 layers, 6 heads, ff 1024 — the largest that pre-trains on a few million tokens within
    /// about two hours on a 2-core AVX2 CPU). The vocabulary comes from the tokenizer.
    /// </summary>
    public static LlamaConfig Preset(string name, int vocabSize) => name switch
    {
        "tiny" => Create(vocabSize, 64, 176, 2, 4, kvHeads: 2, maxPositions: 256),
        "small" => Create(vocabSize, 256, 704, 6, 8, maxPositions: 512),
        "base" => Create(vocabSize, 384, 1024, 8, 6, maxPositions: 1024),
        _ => throw new TailorException($"Unknown model preset '{name}'. Use one of: tiny, small, base."),
    };

    /// <summary>Reads <c>config.json</c> from a model folder (or the file itself) and validates it.</summary>
    public static LlamaConfig FromPretrained(string folderOrFile)
    {
        var (json, path) = ConfigJson.Read(folderOrFile, "A model folder");
        return Parse(json, path);
    }

    /// <summary>Parses and validates config JSON; <paramref name="source"/> names the file in error messages.</summary>
    public static LlamaConfig Parse(string json, string source = "config.json")
    {
        var config = ConfigJson.Deserialize<LlamaConfig>(json, source, ReadOptions);
        config.Validate(source);
        return config;
    }

    /// <summary>The config as HF-style indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);

    /// <summary>A deep copy (through JSON).</summary>
    public LlamaConfig Clone() => Parse(ToJson(), "config");

    IDecoderConfig IDecoderConfig.Clone() => Clone();

    /// <summary>Checks every field a forward pass depends on; throws a <see cref="TailorException"/> naming the field.</summary>
    public void Validate(string source = "config.json")
    {
        string arch = Architectures.FirstOrDefault() ?? "";
        if (!SupportedArchitectures.Contains(arch))
            Fail($"architectures[0] is '{arch}'; Tailor runs {string.Join(" and ", SupportedArchitectures)}");
        if (ModelType is not ("llama" or "qwen2")) Fail($"model_type is '{ModelType}'; expected \"llama\" or \"qwen2\"");
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(KeyValueHeads, "num_key_value_heads");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        // Upper bounds, checked before anything is allocated: a size past them is a typo or a hostile file, and would
        // otherwise end in a native abort (or a machine swapping) instead of an error naming the field.
        AtMost(VocabSize, "vocab_size", MaxVocabSize, "64 times the largest published vocabulary");
        AtMost(HiddenSize, "hidden_size", MaxWidth, "4 times the widest published Llama");
        AtMost(IntermediateSize, "intermediate_size", MaxIntermediate, "about 5 times the widest published Llama MLP");
        AtMost(NumHiddenLayers, "num_hidden_layers", MaxLayers, "8 times the deepest published Llama");
        AtMost(NumAttentionHeads, "num_attention_heads", MaxHeads, "8 times the most heads published");
        AtMost(KeyValueHeads, "num_key_value_heads", MaxHeads, "8 times the most heads published");
        if (HeadDimension is int hd) AtMost(hd, "head_dim", MaxHeadDim, "4 times the widest published head");
        AtMost(MaxPositionEmbeddings, "max_position_embeddings", MaxPositions, "beyond the longest published context");
        if (HeadDimension is null && HiddenSize % NumAttentionHeads != 0)
            Fail($"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}; set head_dim or fix the sizes");
        Positive(HeadDim, "head_dim");
        if (HeadDim % 2 != 0) Fail($"head_dim {HeadDim} is odd; rotary embeddings need an even head size");
        if (NumAttentionHeads % KeyValueHeads != 0)
            Fail($"num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {KeyValueHeads}");
        if (!(RmsNormEps > 0) || double.IsInfinity(RmsNormEps)) Fail($"rms_norm_eps {RmsNormEps} must be a small positive number");
        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta)) Fail($"rope_theta {RopeTheta} must be positive");
        if (HiddenAct != "silu") Fail($"hidden_act is '{HiddenAct}'; only \"silu\" (SwiGLU) is implemented");
        if (RopeScaling is { ValueKind: not JsonValueKind.Null })
            Fail("rope_scaling is set; scaled RoPE (Llama 3.1, YaRN) is not implemented. Remove it only if the model was trained without it");
        if (MlpBias == true) Fail("mlp_bias is true; MLP biases are not implemented");
        if (UseSlidingWindow == true) Fail("use_sliding_window is true; sliding-window attention is not implemented");
        if (TorchDtype is not (null or "float32" or "bfloat16" or "float16"))
            Fail($"torch_dtype is '{TorchDtype}'; expected float32, bfloat16 or float16");
        foreach (var (name, id) in new[] { ("bos_token_id", BosTokenId), ("pad_token_id", PadTokenId) })
            if (id is int v && (v < 0 || v >= VocabSize)) Fail($"{name} {v} is outside the vocabulary [0, {VocabSize})");
        foreach (int v in EosTokenId ?? [])
            if (v < 0 || v >= VocabSize) Fail($"eos_token_id {v} is outside the vocabulary [0, {VocabSize})");

        void Positive(int value, string field)
        {
            if (value <= 0) Fail($"{field} is {value}; it must be a positive integer");
        }

        void AtMost(int value, string field, int max, string why)
        {
            if (value > max) Fail($"{field} is {value}; Tailor builds models with {field} up to {max} ({why}), so this is a typo or not a model Tailor can run");
        }

        void Fail(string what) => throw new TailorException($"{source}: {what}.");
    }

    /// <summary>Largest vocab_size accepted: 16 Mi, 64 times the largest published vocabulary (Gemma's 262,144).</summary>
    public const int MaxVocabSize = 1 << 24;

    /// <summary>Largest hidden_size accepted: 65,536, 4 times the widest published Llama (405B: 16,384).</summary>
    public const int MaxWidth = 1 << 16;

    /// <summary>Largest intermediate_size accepted: 262,144, about 5 times the widest published Llama MLP (53,248).</summary>
    public const int MaxIntermediate = 1 << 18;

    /// <summary>Largest num_hidden_layers accepted: 1,024, 8 times the deepest published Llama (126).</summary>
    public const int MaxLayers = 1 << 10;

    /// <summary>Largest num_attention_heads / num_key_value_heads accepted: 1,024, 8 times the most published (128).</summary>
    public const int MaxHeads = 1 << 10;

    /// <summary>Largest head_dim accepted: 1,024, 4 times the widest published head (256).</summary>
    public const int MaxHeadDim = 1 << 10;

    /// <summary>
    /// Largest max_position_embeddings accepted: 16 Mi positions, beyond the longest published context (10 Mi). The
    /// rotary tables are built for every position, so the memory check (<see cref="BuildBytes"/>) usually bites first.
    /// </summary>
    public const int MaxPositions = 1 << 24;

    /// <summary>
    /// Bytes that building the model takes at its peak: float32 weights (every model is initialised in float32) plus
    /// the rotary tables, computed in float64 for every position (about 32 bytes per position and head dimension).
    /// </summary>
    public long BuildBytes() => ParameterCount() * sizeof(float) + (long)MaxPositionEmbeddings * HeadDim * 32;

    /// <summary>
    /// Throws a <see cref="TailorException"/> naming the sizes when building this model would take more than the
    /// machine's memory (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>: physical memory, or the container's
    /// limit), so that an impossible config is an error before anything is allocated rather than a native abort.
    /// </summary>
    public void CheckFitsInMemory(string source = "config.json")
    {
        long need = BuildBytes(), have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (have > 0 && need > have)
            throw new TailorException($"{source}: building this model needs about {need / (double)(1L << 30):F1} GiB ({ParameterCount() / 1e6:F0}M parameters in float32 "
                + $"from hidden_size {HiddenSize}, intermediate_size {IntermediateSize}, num_hidden_layers {NumHiddenLayers}, vocab_size {VocabSize}; rotary tables for "
                + $"max_position_embeddings {MaxPositionEmbeddings}), more than this machine's {have / (double)(1L << 30):F1} GiB of memory. Check those fields.");
    }

    /// <summary>Parameter count implied by the shapes (embeddings counted once when tied).</summary>
    public long ParameterCount()
    {
        long d = HiddenSize, hd = HeadDim, q = NumAttentionHeads * hd, kv = KeyValueHeads * hd;
        long attention = d * q + 2 * d * kv + q * d + (QkvBias ? q + 2 * kv : 0) + (OutputBias ? d : 0);
        long mlp = 3 * d * IntermediateSize;
        long layer = attention + mlp + 2 * d;
        long embeddings = (long)VocabSize * d * (TieWordEmbeddings ? 1 : 2);
        return NumHiddenLayers * layer + d + embeddings;
    }


    /// <summary>HF writes eos_token_id as a number or a list of numbers.</summary>
    internal sealed class IntOrArrayConverter : JsonConverter<int[]?>
    {
        public override int[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null) return null;
            if (reader.TokenType == JsonTokenType.Number) return [reader.GetInt32()];
            if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected a number or a list of numbers");
            var list = new List<int>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number) throw new JsonException("expected a list of numbers");
                list.Add(reader.GetInt32());
            }
            return [.. list];
        }

        public override void Write(Utf8JsonWriter writer, int[]? value, JsonSerializerOptions options)
        {
            if (value is null) writer.WriteNullValue();
            else if (value.Length == 1) writer.WriteNumberValue(value[0]);
            else
            {
                writer.WriteStartArray();
                foreach (int v in value) writer.WriteNumberValue(v);
                writer.WriteEndArray();
            }
        }
    }
}
