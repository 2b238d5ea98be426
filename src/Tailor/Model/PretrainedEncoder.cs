using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Formats;
using Tailor.Text;
using Tailor.Torch;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Tailor.Model;

/// <summary>
/// How a sentence-transformers model turns hidden states into one vector: <c>1_Pooling/config.json</c>'s mode (mean
/// over real tokens, the [CLS] token, or the max), whether <c>modules.json</c> ends in a Normalize module, and
/// <c>sentence_bert_config.json</c>'s max_seq_length. A plain HF folder gets sentence-transformers' own defaults for
/// a bare transformer: mean pooling, no normalisation, the model's full length.
/// </summary>
public sealed record EncoderPooling(string Mode, bool Normalize, int? MaxSeqLength)
{
    /// <summary>Pooling modes Tailor implements.</summary>
    public static readonly IReadOnlyList<string> Modes = ["mean", "cls", "max"];

    /// <summary>Reads the sentence-transformers files of <paramref name="folder"/>, or the defaults when there are none.</summary>
    public static EncoderPooling Read(string folder)
    {
        string mode = "mean";
        bool normalize = false;
        int? maxSeq = null;
        string modules = Path.Combine(folder, "modules.json");
        if (File.Exists(modules))
        {
            var list = ParseJson(modules) as JsonArray ?? throw new TailorException($"{modules}: must be a JSON array of modules.");
            foreach (var m in list.OfType<JsonObject>())
            {
                string type = (string?)m["type"] ?? "";
                string path = (string?)m["path"] ?? "";
                if (type.EndsWith(".Normalize", StringComparison.Ordinal)) normalize = true;
                if (type.EndsWith(".Pooling", StringComparison.Ordinal))
                {
                    string file = Path.Combine(folder, path, "config.json");
                    if (!File.Exists(file)) throw new TailorException($"{modules}: names a Pooling module at '{path}' but {file} does not exist.");
                    var p = ParseJson(file) as JsonObject ?? throw new TailorException($"{file}: must be a JSON object.");
                    bool Flag(string key) => p[key] is JsonValue v && v.TryGetValue(out bool b) && b;
                    mode = Flag("pooling_mode_cls_token") ? "cls" : Flag("pooling_mode_max_tokens") ? "max"
                        : Flag("pooling_mode_mean_tokens") ? "mean"
                        : throw new TailorException($"{file}: no pooling mode Tailor implements is set (pooling_mode_mean_tokens, pooling_mode_cls_token or pooling_mode_max_tokens).");
                }
            }
        }
        string st = Path.Combine(folder, "sentence_bert_config.json");
        if (File.Exists(st) && ParseJson(st) is JsonObject o && o["max_seq_length"] is JsonValue len && len.TryGetValue(out int n) && n > 0)
            maxSeq = n;
        return new EncoderPooling(mode, normalize, maxSeq);
    }

    private static JsonNode? ParseJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new TailorException($"{path}: not valid JSON (line {e.LineNumber + 1}): {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>
    /// Pools hidden (B, T, C) over mask (B, T) into (B, C): mean over real tokens, the first token, or the max over real
    /// tokens; L2-normalised when <paramref name="normalize"/>. Temporaries belong to the caller's scope.
    /// </summary>
    public static Tensor Pool(Tensor hidden, Tensor mask, string mode, bool normalize)
    {
        var m = mask.to_type(hidden.dtype).unsqueeze(-1);                              // (B, T, 1)
        Tensor pooled = mode switch
        {
            "cls" => hidden.select(1, 0),                                              // (B, C)
            "max" => hidden.masked_fill(m.eq(Scalars.Zero), Scalars.MinusLarge).amax([1]), // (B, C)
            "mean" => (hidden * m).sum(1) / m.sum(1).clamp_min(Scalars.Tiny),          // (B, C)
            _ => throw new TailorException($"pooling '{mode}' is not one of {string.Join(", ", Modes)}."),
        };
        return normalize ? F.normalize(pooled, p: 2, dim: 1) : pooled;
    }
}

/// <summary>
/// A BERT-family encoder folder loaded for use: config, tokenizer, weights, and the sentence-transformers pooling.
/// A <c>*ForSequenceClassification</c> folder also has its classifier. Owns the modules.
/// </summary>
public sealed class PretrainedEncoder : IDisposable
{
    private PretrainedEncoder(string folder, BertConfig config, EncoderTokenizer tokenizer, nn.Module module, EncoderPooling pooling)
    {
        Folder = folder;
        Config = config;
        Tokenizer = tokenizer;
        Module = module;
        Pooling = pooling;
    }

    /// <summary>The folder it was loaded from.</summary>
    public string Folder { get; }

    /// <summary>The HF config.</summary>
    public BertConfig Config { get; }

    /// <summary>The tokenizer.</summary>
    public EncoderTokenizer Tokenizer { get; }

    /// <summary>The network: a <see cref="BertModel"/>, or a classifier (<see cref="ISequenceClassifier"/>).</summary>
    public nn.Module Module { get; }

    /// <summary>The encoder (the classifier's base model for a classifier folder).</summary>
    public BertModel Encoder => Module as BertModel ?? ((ISequenceClassifier)Module).Encoder;

    /// <summary>The classifier, when the folder is a *ForSequenceClassification one.</summary>
    public ISequenceClassifier? Classifier => Module as ISequenceClassifier;

    /// <summary>Pooling and normalisation for sentence embeddings.</summary>
    public EncoderPooling Pooling { get; }

    /// <summary>Longest input in tokens: the tokenizer's max_seq_length when set, never more than the position table.</summary>
    public int MaxTokens => Math.Min(Pooling.MaxSeqLength ?? int.MaxValue, Config.MaxTokens);

    /// <summary>Width of a sentence embedding.</summary>
    public int Dimension => Config.HiddenSize;

    /// <summary>
    /// Loads <paramref name="folder"/>. With <paramref name="asClassifierFor"/> (label names), a base encoder gets a
    /// fresh classification head for those labels (the fine-tuning start); otherwise the folder's architecture decides.
    /// </summary>
    public static PretrainedEncoder Load(string folder, IReadOnlyList<string>? asClassifierFor = null)
    {
        if (!Directory.Exists(folder))
            throw new TailorException($"{folder}: no such model folder. Give a Hugging Face encoder folder (config.json, model.safetensors, tokenizer.json or vocab.txt), or a name: {string.Join(", ", PretrainedEncoders.Names)}.");
        var config = BertConfig.FromPretrained(folder);
        var tokenizer = EncoderTokenizer.Load(folder);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new TailorException($"{folder}: the tokenizer has {tokenizer.VocabSize} tokens but config.json's vocab_size is {config.VocabSize}; they belong to different models.");
        if (asClassifierFor is not null)
        {
            config = config.Clone();
            config.Architectures = [config.IsRoberta ? "RobertaForSequenceClassification" : "BertForSequenceClassification"];
            config.Id2Label = asClassifierFor.Select((l, i) => (l, i)).ToDictionary(p => p.i.ToString(System.Globalization.CultureInfo.InvariantCulture), p => p.l);
            config.Label2Id = asClassifierFor.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i);
            config.ProblemType = "single_label_classification";
            config.Validate(Path.Combine(folder, "config.json"));
        }
        nn.Module module = config.IsClassifier
            ? ISequenceClassifier.Create(config)
            : new BertModel(config, addPoolingLayer: EncoderWeights.HasPooler(folder, config));
        try
        {
            EncoderWeights.LoadInto(module, folder, config, freshHead: asClassifierFor is not null);
            module.eval();
            return new PretrainedEncoder(folder, config, tokenizer, module, EncoderPooling.Read(folder));
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>Tokenizes and pads a batch: ids (B, T) int64, mask (B, T) int64, token types (B, T) int64.</summary>
    public (Tensor Ids, Tensor Mask, Tensor Types) Batch(IReadOnlyList<string> texts, int? maxTokens = null)
    {
        var encoded = texts.Select(t => Tokenizer.Encode(t, maxTokens ?? MaxTokens)).ToList();
        int t = encoded.Max(e => e.Ids.Length);
        var ids = new long[texts.Count * t];
        var mask = new long[texts.Count * t];
        var types = new long[texts.Count * t];
        Array.Fill(ids, Tokenizer.PadId);
        for (int b = 0; b < encoded.Count; b++)
        {
            for (int i = 0; i < encoded[b].Ids.Length; i++)
            {
                ids[b * t + i] = encoded[b].Ids[i];
                mask[b * t + i] = 1;
                types[b * t + i] = encoded[b].TypeIds[i];
            }
        }
        var device = Encoder.Embeddings.WordEmbeddings.Weight.device;
        return (tensor(ids, [texts.Count, t]).to(device), tensor(mask, [texts.Count, t]).to(device), tensor(types, [texts.Count, t]).to(device));
    }

    /// <summary>
    /// Sentence embeddings, one float[Dimension] per text, in order. <paramref name="pooling"/> and
    /// <paramref name="normalize"/> override the folder's sentence-transformers settings when given.
    /// </summary>
    public float[][] Embed(IReadOnlyList<string> texts, string? pooling = null, bool? normalize = null, int batchSize = 32)
    {
        string mode = pooling ?? Pooling.Mode;
        if (!EncoderPooling.Modes.Contains(mode)) throw new TailorException($"pooling '{mode}' is not one of {string.Join(", ", EncoderPooling.Modes)}.");
        var result = new float[texts.Count][];
        using var inference = inference_mode();
        for (int start = 0; start < texts.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var chunk = texts.Skip(start).Take(batchSize).ToList();
            var (ids, mask, types) = Batch(chunk);
            var hidden = Encoder.Forward(ids, mask, types);                                // (B, T, C)
            var pooled = EncoderPooling.Pool(hidden, mask, mode, normalize ?? Pooling.Normalize).to_type(ScalarType.Float32).cpu(); // (B, C)
            var flat = pooled.data<float>().ToArray();
            for (int b = 0; b < chunk.Count; b++) result[start + b] = flat.AsSpan(b * Dimension, Dimension).ToArray();
        }
        return result;
    }

    /// <summary>Class probabilities (softmax of the logits) for each text; needs a classifier folder.</summary>
    public float[][] Classify(IReadOnlyList<string> texts, int batchSize = 32)
    {
        var classifier = Classifier ?? throw new TailorException($"{Folder}: {Config.Architectures.FirstOrDefault()} has no classification head; fine-tune it with `tailor finetune --task ...` first.");
        int labels = Config.Labels.Count;
        var result = new float[texts.Count][];
        using var inference = inference_mode();
        for (int start = 0; start < texts.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var chunk = texts.Skip(start).Take(batchSize).ToList();
            var (ids, mask, types) = Batch(chunk);
            var probs = classifier.Logits(ids, mask, types).softmax(-1).to_type(ScalarType.Float32).cpu(); // (B, L)
            var flat = probs.data<float>().ToArray();
            for (int b = 0; b < chunk.Count; b++) result[start + b] = flat.AsSpan(b * labels, labels).ToArray();
        }
        return result;
    }

    /// <summary>Frees the weights.</summary>
    public void Dispose() => Module.Dispose();
}

/// <summary>
/// Loads HF encoder weights into a <see cref="BertModel"/> or a sequence classifier, with HF's key tolerance: the base
/// model's keys may or may not carry the "bert."/"roberta." prefix; pre-training heads (cls.*, lm_head.*) and the old
/// position_ids buffer are skipped; a missing pooler or classifier head is left at its fresh initialisation only where
/// HF would do the same (a base checkpoint loaded as a classifier). Everything else must match name and shape.
/// </summary>
public static class EncoderWeights
{
    /// <summary>Whether the folder's checkpoint has pooler weights (sentence-transformers models may drop them).</summary>
    public static bool HasPooler(string folder, BertConfig config)
    {
        using var weights = CheckpointWeights.Open(folder, SafetensorsReadMode.Streamed);
        return weights.Tensors.Any(t => t.Info.Name is "pooler.dense.weight" || t.Info.Name == $"{config.BasePrefix}.pooler.dense.weight");
    }

    /// <summary>Every tensor of the folder's checkpoint as its header describes it (for `tailor info`), sorted by name.</summary>
    public static IReadOnlyList<TensorSummary> Describe(string folder)
    {
        using var weights = CheckpointWeights.Open(folder, SafetensorsReadMode.Streamed);
        return [.. weights.Tensors
            .Select(t => new TensorSummary(t.Info.Name, t.Info.Dtype, t.Info.Shape, t.Info.Shape.Aggregate(1L, (a, b) => a * b)))
            .OrderBy(t => t.Name, StringComparer.Ordinal)];
    }

    /// <summary>Copies the checkpoint of <paramref name="folder"/> into <paramref name="module"/>; returns the names left freshly initialised.</summary>
    public static IReadOnlyList<string> LoadInto(nn.Module module, string folder, BertConfig config, bool freshHead)
    {
        string prefix = config.BasePrefix + ".";
        bool prefixed = module is ISequenceClassifier;
        var expected = module.state_dict();
        var loaded = HfCheckpoint.LoadTensors(folder);
        try
        {
            var assigned = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (name, t) in loaded)
            {
                if (name.StartsWith("cls.", StringComparison.Ordinal) || name.StartsWith("lm_head.", StringComparison.Ordinal)
                    || name.EndsWith("embeddings.position_ids", StringComparison.Ordinal))
                    continue;
                bool isBase = name.StartsWith(prefix, StringComparison.Ordinal)
                    || name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal)
                    || name.StartsWith("pooler.", StringComparison.Ordinal);
                string bare = name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
                string target = isBase ? (prefixed ? prefix + bare : bare) : name;
                if (!isBase && (!prefixed || freshHead)) continue;                      // a head the target does not use
                if (!expected.TryGetValue(target, out var parameter))
                {
                    if (bare.StartsWith("pooler.", StringComparison.Ordinal)) continue;   // RoBERTa classifiers have no pooler
                    throw new CheckpointFormatException(folder, name, $"has no place in {config.Architectures[0]}; the checkpoint belongs to another architecture.");
                }
                if (!t.shape.SequenceEqual(parameter.shape))
                    throw new CheckpointFormatException(folder, name, $"has shape [{string.Join(", ", t.shape)}] but {config.Architectures[0]} with this config.json needs [{string.Join(", ", parameter.shape)}]; config.json and the weights belong to different models.");
                assigned[target] = t;
            }
            var fresh = new List<string>();
            foreach (var name in expected.Keys)
            {
                if (assigned.ContainsKey(name)) continue;
                string bare = name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
                if (bare.StartsWith("pooler.", StringComparison.Ordinal) || (freshHead && name.StartsWith("classifier.", StringComparison.Ordinal)))
                {
                    fresh.Add(name);
                    continue;
                }
                throw new CheckpointFormatException(folder, name, $"is missing (with or without the '{prefix}' prefix); the checkpoint is incomplete or not a {config.Architectures[0]}.");
            }
            using (no_grad())
            {
                foreach (var (name, t) in assigned) expected[name].copy_(t);
            }
            return fresh;
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }
}
