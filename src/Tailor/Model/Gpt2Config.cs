using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tailor.Model;

/// <summary>
/// The Hugging Face <c>config.json</c> of a <c>GPT2LMHeadModel</c>, read and written as is: property names are HF's
/// (<c>n_embd</c>, <c>n_layer</c>, ...), unknown fields survive a round trip. Defaults are HF's <c>GPT2Config</c>
/// defaults, which are the shapes of the 124M openai-community/gpt2.
/// </summary>
public sealed class Gpt2Config : IDecoderConfig
{
    /// <summary>The HF architecture name this implementation runs.</summary>
    public const string Architecture = "GPT2LMHeadModel";

    /// <summary>HF <c>architectures</c>.</summary>
    [JsonPropertyName("architectures")] public List<string> Architectures { get; set; } = [Architecture];

    /// <summary>HF <c>model_type</c>: "gpt2".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "gpt2";

    /// <summary>Rows of wte and columns of the output head (GPT-2: 50257).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 50257;

    /// <summary>Rows of wpe: the longest sequence the model can read.</summary>
    [JsonPropertyName("n_positions")] public int NPositions { get; set; } = 1024;

    /// <summary>Old name of the context length, written by early configs next to n_positions; must equal it when present.</summary>
    [JsonPropertyName("n_ctx")] public int? NCtx { get; set; }

    /// <summary>Model width d.</summary>
    [JsonPropertyName("n_embd")] public int NEmbd { get; set; } = 768;

    /// <summary>Number of blocks.</summary>
    [JsonPropertyName("n_layer")] public int NLayer { get; set; } = 12;

    /// <summary>Attention heads (GPT-2 has no grouped-query attention).</summary>
    [JsonPropertyName("n_head")] public int NHead { get; set; } = 12;

    /// <summary>MLP inner width; null means 4·n_embd.</summary>
    [JsonPropertyName("n_inner")] public int? NInner { get; set; }

    /// <summary>MLP activation: "gelu_new" (tanh approximation, GPT-2's), "gelu_pytorch_tanh" (the same), "gelu", "relu", "silu".</summary>
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; set; } = "gelu_new";

    /// <summary>Dropout after c_proj of attention and MLP (training only).</summary>
    [JsonPropertyName("resid_pdrop")] public double ResidPdrop { get; set; } = 0.1;

    /// <summary>Dropout after the token + position embedding (training only).</summary>
    [JsonPropertyName("embd_pdrop")] public double EmbdPdrop { get; set; } = 0.1;

    /// <summary>Dropout on the attention probabilities (training only).</summary>
    [JsonPropertyName("attn_pdrop")] public double AttnPdrop { get; set; } = 0.1;

    /// <summary>Epsilon inside each LayerNorm's square root.</summary>
    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEpsilon { get; set; } = 1e-5;

    /// <summary>Standard deviation of the initial weights (HF's _init_weights).</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; set; } = 0.02;

    /// <summary>Divide attention scores by √head_dim (true in every released GPT-2).</summary>
    [JsonPropertyName("scale_attn_weights")] public bool ScaleAttnWeights { get; set; } = true;

    /// <summary>Also divide attention scores of block i by i + 1 (Mistral's stability trick; off in GPT-2).</summary>
    [JsonPropertyName("scale_attn_by_inverse_layer_idx")] public bool ScaleAttnByInverseLayerIdx { get; set; }

    /// <summary>Compute q·k in fp32 (HF's mixed-precision switch). Tailor's CPU attention already runs in the weights' dtype
    /// with fp32 accumulation, so this changes nothing in float32; accepted and kept.</summary>
    [JsonPropertyName("reorder_and_upcast_attn")] public bool ReorderAndUpcastAttn { get; set; }

    /// <summary>Whether the output head is wte itself (always so in released GPT-2 checkpoints).</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; set; } = true;

    /// <summary>Dtype the weights were saved in ("float32", "bfloat16", "float16").</summary>
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; set; } = "float32";

    /// <summary>&lt;|endoftext|&gt; (50256) in GPT-2.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; set; }

    /// <summary>&lt;|endoftext|&gt; (50256) in GPT-2.</summary>
    [JsonPropertyName("eos_token_id"), JsonConverter(typeof(LlamaConfig.IntOrArrayConverter))] public int[]? EosTokenId { get; set; }

    /// <summary>GPT-2 has none; fine-tuning pads with a masked id.</summary>
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; set; }

    /// <summary>Fields this class does not model (task_specific_params, summary_*, ...), kept so a round trip loses nothing.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>MLP inner width, resolved.</summary>
    [JsonIgnore] public int InnerSize => NInner ?? 4 * NEmbd;

    /// <summary>Per-head width.</summary>
    [JsonIgnore] public int HeadDim => NHead > 0 ? NEmbd / NHead : 0;

    [JsonIgnore] int IDecoderConfig.MaxPositionEmbeddings => NPositions;
    [JsonIgnore] int IDecoderConfig.NumHiddenLayers => NLayer;
    [JsonIgnore] int IDecoderConfig.KeyValueHeads => NHead;
    [JsonIgnore] int IDecoderConfig.HiddenSize => NEmbd;

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

    /// <summary>A fresh config with the given shapes and GPT-2's &lt;|endoftext|&gt; conventions when <paramref name="endOfText"/> is given.</summary>
    public static Gpt2Config Create(int vocab, int embd, int layers, int heads, int positions, int? endOfText = null) => new()
    {
        VocabSize = vocab, NEmbd = embd, NLayer = layers, NHead = heads, NPositions = positions,
        BosTokenId = endOfText, EosTokenId = endOfText is int e ? [e] : null,
    };

    /// <summary>Reads <c>config.json</c> from a model folder (or the file itself) and validates it.</summary>
    public static Gpt2Config FromPretrained(string folderOrFile)
    {
        var (json, path) = ConfigJson.Read(folderOrFile, "A model folder");
        return Parse(json, path);
    }

    /// <summary>Parses and validates config JSON; <paramref name="source"/> names the file in error messages.</summary>
    public static Gpt2Config Parse(string json, string source = "config.json")
    {
        var config = ConfigJson.Deserialize<Gpt2Config>(json, source, ReadOptions);
        config.Validate(source);
        return config;
    }

    /// <summary>The config as HF-style indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);

    /// <summary>A deep copy (through JSON).</summary>
    public Gpt2Config Clone() => Parse(ToJson(), "config");

    IDecoderConfig IDecoderConfig.Clone() => Clone();

    /// <summary>Checks every field a forward pass depends on; throws a <see cref="TailorException"/> naming the field.</summary>
    public void Validate(string source = "config.json")
    {
        string arch = Architectures.FirstOrDefault() ?? "";
        if (arch != Architecture) Fail($"architectures[0] is '{arch}'; this config type runs {Architecture}");
        if (ModelType != "gpt2") Fail($"model_type is '{ModelType}'; expected \"gpt2\"");
        Positive(VocabSize, "vocab_size");
        Positive(NPositions, "n_positions");
        Positive(NEmbd, "n_embd");
        Positive(NLayer, "n_layer");
        Positive(NHead, "n_head");
        if (NInner is int inner) Positive(inner, "n_inner");
        if (NCtx is int ctx && ctx != NPositions)
            Fail($"n_ctx {ctx} differs from n_positions {NPositions}; they are two names of the context length, so set them equal");
        if (NEmbd % NHead != 0) Fail($"n_embd {NEmbd} is not divisible by n_head {NHead}");
        if (ActivationFunction is not ("gelu_new" or "gelu_pytorch_tanh" or "gelu" or "relu" or "silu"))
            Fail($"activation_function is '{ActivationFunction}'; Tailor implements gelu_new, gelu_pytorch_tanh, gelu, relu and silu");
        foreach (var (field, p) in new[] { ("resid_pdrop", ResidPdrop), ("embd_pdrop", EmbdPdrop), ("attn_pdrop", AttnPdrop) })
            if (!(p >= 0 && p < 1)) Fail($"{field} {p} must be in [0, 1)");
        if (!(LayerNormEpsilon > 0) || double.IsInfinity(LayerNormEpsilon)) Fail($"layer_norm_epsilon {LayerNormEpsilon} must be a small positive number");
        if (!(InitializerRange >= 0) || double.IsInfinity(InitializerRange)) Fail($"initializer_range {InitializerRange} must be a non-negative number");
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

        void Fail(string what) => throw new TailorException($"{source}: {what}.");
    }

    /// <summary>Parameter count implied by the shapes (wte counted once when tied).</summary>
    public long ParameterCount()
    {
        long d = NEmbd, ff = InnerSize;
        long attention = d * 3 * d + 3 * d + d * d + d;
        long mlp = d * ff + ff + ff * d + d;
        long layer = attention + mlp + 4 * d;
        long embeddings = (long)VocabSize * d * (TieWordEmbeddings ? 1 : 2) + (long)NPositions * d;
        return NLayer * layer + 2 * d + embeddings;
    }
}
