using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Model;

/// <summary>
/// What the code that trains, decodes, serves and exports a causal language model needs from its HF config.json,
/// whatever the architecture calls the fields (Llama's <c>num_hidden_layers</c> is GPT-2's <c>n_layer</c>).
/// </summary>
public interface IDecoderConfig
{
    /// <summary>HF <c>architectures</c>.</summary>
    List<string> Architectures { get; }

    /// <summary>Rows of the embedding table and columns of the output head.</summary>
    int VocabSize { get; }

    /// <summary>Model width.</summary>
    int HiddenSize { get; }

    /// <summary>Longest sequence the model reads (Llama: max_position_embeddings; GPT-2: n_positions).</summary>
    int MaxPositionEmbeddings { get; }

    /// <summary>Number of decoder blocks.</summary>
    int NumHiddenLayers { get; }

    /// <summary>Key/value heads: the KV cache's second axis.</summary>
    int KeyValueHeads { get; }

    /// <summary>Per-head width: the KV cache's last axis.</summary>
    int HeadDim { get; }

    /// <summary>Whether the output head is the embedding matrix itself.</summary>
    bool TieWordEmbeddings { get; }

    /// <summary>Beginning-of-sequence token id, if any.</summary>
    int? BosTokenId { get; }

    /// <summary>End-of-sequence token id(s), if any.</summary>
    int[]? EosTokenId { get; }

    /// <summary>Padding token id, if any.</summary>
    int? PadTokenId { get; }

    /// <summary>Dtype the weights are saved in.</summary>
    string? TorchDtype { get; set; }

    /// <summary>The config as HF-style indented JSON.</summary>
    string ToJson();

    /// <summary>A deep copy.</summary>
    IDecoderConfig Clone();

    /// <summary>Parameter count implied by the shapes.</summary>
    long ParameterCount();
}

/// <summary>
/// A causal language model with Hugging Face parameter names: <see cref="LlamaForCausalLM"/> (Llama, Qwen2) or
/// <see cref="Gpt2LMHeadModel"/>. Training, decoding, serving, evaluation and LoRA go through this type.
/// </summary>
public abstract class CausalLM : nn.Module<Tensor, Tensor>
{
    /// <summary>Names the module (TorchSharp's module name).</summary>
    protected CausalLM(string name) : base(name) { }

    /// <summary>
    /// The HF config this model was built from, as the fields every architecture shares. (Not named Config: each model
    /// exposes its own typed Config, and TorchSharp's Module.to(dtype) reflects over members by name, so a covariant or
    /// hiding Config would appear twice.)
    /// </summary>
    public abstract IDecoderConfig DecoderConfig { get; }

    /// <summary>The output projection weight (V, C): lm_head's, or the embedding's when tied.</summary>
    public abstract Parameter OutputWeight { get; }

    /// <summary>Dtype of the weights.</summary>
    public ScalarType DType => OutputWeight.dtype;

    /// <summary>Device of the weights.</summary>
    public Device Device => OutputWeight.device;

    /// <summary>Training forward: ids (B, T) int64 → logits (B, T, V), causal attention from position 0.</summary>
    public override Tensor forward(Tensor ids) => Forward(ids);

    /// <summary>
    /// The general forward pass. <paramref name="positions"/> (B, T) int64 gives per-row positions (packing, left
    /// padding); default is Start + [0, T) with Start the cache's length (0 without a cache). <paramref name="mask"/>
    /// is a boolean (B or 1, 1, T, S) mask, true where a query may attend a key; default is causal. With a cache the
    /// new keys/values are appended and the cache advances by T. <paramref name="lastOnly"/> returns logits for the
    /// last position only, (B, 1, V). <paramref name="keep"/>, a (N) int64 index into the flattened B·T positions,
    /// returns logits for those positions only, (N, V), as Hugging Face's <c>logits_to_keep</c> does with a tensor:
    /// supervised training scores only its response tokens (a quarter of the instruct mixture's positions), and the
    /// output projection with its softmax is the costliest layer of a small model with a large vocabulary. The
    /// returned tensor belongs to the caller's dispose scope.
    /// </summary>
    public abstract Tensor Forward(Tensor ids, Tensor? positions = null, Tensor? mask = null, KvCache? cache = null, bool lastOnly = false, Tensor? keep = null);

    /// <summary>The hidden states (B, T, C) narrowed as <see cref="Forward"/> asks: the last position, or the kept ones (N, C).</summary>
    protected static Tensor SelectForHead(Tensor hidden, bool lastOnly, Tensor? keep)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        if (lastOnly && keep is not null) throw new ArgumentException("give lastOnly or keep, not both", nameof(keep));
        if (lastOnly) return hidden.narrow(1, hidden.shape[1] - 1, 1);                             // (B, 1, C)
        return keep is null ? hidden : hidden.reshape(-1, hidden.shape[^1]).index_select(0, keep);  // (N, C)
    }

    /// <summary>
    /// Loads an HF checkpoint folder's weights into this model in place, strictly (names and shapes checked before
    /// anything is copied), with whatever key conventions the architecture's checkpoints use.
    /// </summary>
    public abstract void LoadWeights(string folder);

    /// <summary>Boolean (1, 1, T, start+T) mask: query i (at absolute position start+i) may see keys 0..start+i.</summary>
    public static Tensor CausalMask(long t, long start, Device device)
    {
        using Scalar from = start.ToScalar(), to = (start + t).ToScalar(), zero = 0L.ToScalar();   // held across the calls: see Tailor.Torch.Scalars
        var q = arange(from, to, device: device).unsqueeze(1);                      // (T, 1)
        var k = arange(zero, to, device: device).unsqueeze(0);                      // (1, S)
        return k.le(q).unsqueeze(0).unsqueeze(0);                                   // (1, 1, T, S)
    }
}

/// <summary>Reads any supported config.json and builds the matching model.</summary>
public static class CausalLMs
{
    /// <summary>Architectures Tailor runs as causal language models.</summary>
    public static readonly IReadOnlyList<string> SupportedArchitectures = [.. LlamaConfig.SupportedArchitectures, Gpt2Config.Architecture];

    /// <summary>
    /// Reads config.json of <paramref name="folderOrFile"/> as the config type its <c>model_type</c> (or, failing that,
    /// <c>architectures[0]</c>) names: "gpt2" → <see cref="Gpt2Config"/>, otherwise <see cref="LlamaConfig"/>.
    /// </summary>
    public static IDecoderConfig ReadConfig(string folderOrFile)
    {
        string path = Directory.Exists(folderOrFile) ? Path.Combine(folderOrFile, "config.json") : folderOrFile;
        if (!File.Exists(path))
            throw new TailorException($"{path}: not found. A model folder needs a Hugging Face config.json.");
        string json = File.ReadAllText(path);
        return IsGpt2(json) ? Gpt2Config.Parse(json, path) : LlamaConfig.Parse(json, path);
    }

    /// <summary>A model for <paramref name="config"/> with HF's initialisation (std 0 gives zero weights, for loading).</summary>
    public static CausalLM Create(IDecoderConfig config, double? initStd = null) => config switch
    {
        Gpt2Config g => new Gpt2LMHeadModel(g, initStd),
        LlamaConfig l => new LlamaForCausalLM(l, initStd ?? 0.02),
        _ => throw new ArgumentException($"no model for config type {config.GetType().Name}", nameof(config)),
    };

    private static bool IsGpt2(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return false;
            if (doc.RootElement.TryGetProperty("model_type", out var type) && type.ValueKind == JsonValueKind.String)
                return type.GetString() == "gpt2";
            return doc.RootElement.TryGetProperty("architectures", out var arch) && arch.ValueKind == JsonValueKind.Array
                && arch.GetArrayLength() > 0 && arch[0].ValueKind == JsonValueKind.String && arch[0].GetString() == Gpt2Config.Architecture;
        }
        catch (JsonException)
        {
            return false;   // the config type's own parser reports the syntax error with its line
        }
    }
}
