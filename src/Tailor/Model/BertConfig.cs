using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tailor.Model;

/// <summary>
/// The Hugging Face <c>config.json</c> of a BERT-family encoder, read and written as is: property names are HF's,
/// unknown fields survive a round trip. Covers <c>BertModel</c>, <c>RobertaModel</c> and their
/// <c>*ForSequenceClassification</c> variants. RoBERTa differs from BERT only in its position ids (offset by
/// <c>pad_token_id + 1</c>, padding keeps position <c>pad_token_id</c>) and its classification head.
/// </summary>
public sealed class BertConfig
{
    /// <summary>HF architecture names this implementation runs.</summary>
    public static readonly IReadOnlyList<string> SupportedArchitectures =
        ["BertModel", "BertForSequenceClassification", "RobertaModel", "RobertaForSequenceClassification",
         "BertForMaskedLM", "BertForPreTraining", "RobertaForMaskedLM"];

    /// <summary>HF <c>architectures</c>.</summary>
    [JsonPropertyName("architectures")] public List<string> Architectures { get; set; } = ["BertModel"];

    /// <summary>HF <c>model_type</c>: "bert" or "roberta".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "bert";

    /// <summary>Rows of the word-embedding table.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; }

    /// <summary>Model width d.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; }

    /// <summary>Feed-forward inner width.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; set; }

    /// <summary>Number of encoder layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; }

    /// <summary>Attention heads; hidden_size must be a multiple.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; set; }

    /// <summary>Feed-forward activation: "gelu" (erf form) is what BERT and RoBERTa use.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; set; } = "gelu";

    /// <summary>Dropout after embeddings, attention output and feed-forward output (training only).</summary>
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; set; } = 0.1;

    /// <summary>Dropout on attention probabilities (training only).</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; set; } = 0.1;

    /// <summary>Rows of the learned position table (RoBERTa's includes the pad_token_id + 1 offset).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; set; } = 512;

    /// <summary>Rows of the token-type (segment) table: 2 for BERT, 1 for RoBERTa.</summary>
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; set; } = 2;

    /// <summary>Epsilon of every LayerNorm (1e-12 in BERT, 1e-5 in RoBERTa).</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; set; } = 1e-12;

    /// <summary>Padding token id (0 in BERT's vocabulary, 1 in RoBERTa's); RoBERTa's position offset derives from it.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; set; }

    /// <summary>BOS id (RoBERTa's &lt;s&gt;), informational.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; set; }

    /// <summary>EOS id (RoBERTa's &lt;/s&gt;), informational.</summary>
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; set; }

    /// <summary>Only "absolute" (learned positions) is implemented.</summary>
    [JsonPropertyName("position_embedding_type")] public string? PositionEmbeddingType { get; set; } = "absolute";

    /// <summary>Dropout before the classifier; null means hidden_dropout_prob (HF's rule).</summary>
    [JsonPropertyName("classifier_dropout")] public double? ClassifierDropout { get; set; }

    /// <summary>Class index → label name of a sequence classifier (HF writes the keys as strings).</summary>
    [JsonPropertyName("id2label")] public Dictionary<string, string>? Id2Label { get; set; }

    /// <summary>Label name → class index.</summary>
    [JsonPropertyName("label2id")] public Dictionary<string, int>? Label2Id { get; set; }

    /// <summary>HF problem_type of a classifier ("single_label_classification").</summary>
    [JsonPropertyName("problem_type")] public string? ProblemType { get; set; }

    /// <summary>Dtype the weights were saved in.</summary>
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; set; } = "float32";

    /// <summary>Fields this class does not model, kept so a round trip loses nothing.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>Whether the family is RoBERTa (position offset, classification head with dense + out_proj).</summary>
    [JsonIgnore] public bool IsRoberta => ModelType == "roberta";

    /// <summary>Whether architectures[0] is a sequence classifier.</summary>
    [JsonIgnore] public bool IsClassifier => Architectures.FirstOrDefault()?.EndsWith("ForSequenceClassification", StringComparison.Ordinal) == true;

    /// <summary>Per-head width.</summary>
    [JsonIgnore] public int HeadDim => NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0;

    /// <summary>Label names in class-index order (LABEL_0 ... when the config has none).</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Labels => Id2Label is null
        ? []
        : [.. Id2Label.OrderBy(kv => int.Parse(kv.Key, System.Globalization.CultureInfo.InvariantCulture)).Select(kv => kv.Value)];

    /// <summary>Name of the base-model component inside a task model: "bert" or "roberta" (HF's base_model_prefix).</summary>
    [JsonIgnore] public string BasePrefix => IsRoberta ? "roberta" : "bert";

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

    /// <summary>Whether a folder's config.json names a BERT-family model (model_type bert or roberta); false when absent or unreadable.</summary>
    public static bool IsEncoderFolder(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String
                && t.GetString() is "bert" or "roberta";
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Reads <c>config.json</c> from a model folder (or the file itself) and validates it.</summary>
    public static BertConfig FromPretrained(string folderOrFile)
    {
        var (json, path) = ConfigJson.Read(folderOrFile, "An encoder folder");
        return Parse(json, path);
    }

    /// <summary>Parses and validates config JSON; <paramref name="source"/> names the file in error messages.</summary>
    public static BertConfig Parse(string json, string source = "config.json")
    {
        var config = ConfigJson.Deserialize<BertConfig>(json, source, ReadOptions);
        config.Validate(source);
        return config;
    }

    /// <summary>The config as HF-style indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);

    /// <summary>A deep copy (through JSON).</summary>
    public BertConfig Clone() => Parse(ToJson(), "config");

    /// <summary>Checks every field a forward pass depends on; throws a <see cref="TailorException"/> naming the field.</summary>
    public void Validate(string source = "config.json")
    {
        string arch = Architectures.FirstOrDefault() ?? "";
        if (!SupportedArchitectures.Contains(arch))
            Fail($"architectures[0] is '{arch}'; Tailor's encoders run {string.Join(", ", SupportedArchitectures)}");
        if (ModelType is not ("bert" or "roberta")) Fail($"model_type is '{ModelType}'; expected \"bert\" or \"roberta\"");
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        Positive(TypeVocabSize, "type_vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            Fail($"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (HiddenAct != "gelu") Fail($"hidden_act is '{HiddenAct}'; only \"gelu\" (the erf form BERT and RoBERTa use) is implemented");
        if (PositionEmbeddingType is not (null or "absolute"))
            Fail($"position_embedding_type is '{PositionEmbeddingType}'; only \"absolute\" is implemented");
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps)) Fail($"layer_norm_eps {LayerNormEps} must be a small positive number");
        foreach (var (name, p) in new[] { ("hidden_dropout_prob", HiddenDropoutProb), ("attention_probs_dropout_prob", AttentionProbsDropoutProb), ("classifier_dropout", ClassifierDropout ?? 0) })
            if (!(p >= 0 && p < 1)) Fail($"{name} {p} must be in [0, 1)");
        if (PadTokenId < 0 || PadTokenId >= VocabSize) Fail($"pad_token_id {PadTokenId} is outside the vocabulary [0, {VocabSize})");
        if (IsRoberta && PadTokenId + 2 > MaxPositionEmbeddings)
            Fail($"max_position_embeddings {MaxPositionEmbeddings} leaves no room for RoBERTa's position offset pad_token_id + 1 = {PadTokenId + 1}");
        if (TorchDtype is not (null or "float32" or "bfloat16" or "float16"))
            Fail($"torch_dtype is '{TorchDtype}'; expected float32, bfloat16 or float16");
        if (Id2Label is not null)
        {
            for (int i = 0; i < Id2Label.Count; i++)
                if (!Id2Label.ContainsKey(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    Fail($"id2label has {Id2Label.Count} entries but no key \"{i}\"; keys must be 0..{Id2Label.Count - 1}");
        }
        if (IsClassifier && (Id2Label is null || Id2Label.Count < 2))
            Fail($"{arch} needs id2label with at least two classes");

        void Positive(int value, string field)
        {
            if (value <= 0) Fail($"{field} is {value}; it must be a positive integer");
        }

        void Fail(string what) => throw new TailorException($"{source}: {what}.");
    }

    /// <summary>Longest input (in tokens, specials included) the position table allows.</summary>
    [JsonIgnore] public int MaxTokens => IsRoberta ? MaxPositionEmbeddings - PadTokenId - 1 : MaxPositionEmbeddings;
}
