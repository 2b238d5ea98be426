using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using Tailor.Torch;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Tailor.Model;

// BERT and RoBERTa encoders in one file, in reading order: embeddings, self-attention, the post-LayerNorm block, the
// stack, the pooler, the two sequence-classification heads. Component names are Hugging Face's, so a state_dict is an
// HF checkpoint with no key map:
//   embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.{weight,bias},
//   encoder.layer.N.attention.self.{query,key,value}.{weight,bias}, encoder.layer.N.attention.output.dense.*,
//   encoder.layer.N.attention.output.LayerNorm.*, encoder.layer.N.intermediate.dense.*, encoder.layer.N.output.dense.*,
//   encoder.layer.N.output.LayerNorm.*, pooler.dense.*; task models prefix these with "bert." or "roberta.".
// Shapes: B batch, T positions, C hidden, H heads, D head size, L labels. Masks are (B, T) with 1 for real tokens.
// Functions here create no dispose scope of their own: the caller's scope owns temporaries.

/// <summary>
/// Word + position + token-type embeddings, then LayerNorm and dropout. BERT's positions are 0..T-1; RoBERTa's count
/// non-padding tokens from <c>pad_token_id + 1</c> and padding keeps position <c>pad_token_id</c> (HF's
/// create_position_ids_from_input_ids).
/// </summary>
public sealed class BertEmbeddings : nn.Module
{
    [ComponentName(Name = "word_embeddings")] private readonly TokenEmbedding _wordEmbeddings;
    [ComponentName(Name = "position_embeddings")] private readonly TokenEmbedding _positionEmbeddings;
    [ComponentName(Name = "token_type_embeddings")] private readonly TokenEmbedding _tokenTypeEmbeddings;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm _layerNorm;
    [ComponentName(Name = "dropout")] private readonly Dropout _dropout;
    private readonly bool _roberta;
    private readonly long _pad;
    private readonly Scalar _padScalar, _oneLong;   // held, never temporaries: see Tailor.Torch.Scalars

    /// <summary>Creates zero tables; the model initialises or loads them.</summary>
    public BertEmbeddings(BertConfig c) : base(nameof(BertEmbeddings))
    {
        _wordEmbeddings = new TokenEmbedding(c.VocabSize, c.HiddenSize);
        _positionEmbeddings = new TokenEmbedding(c.MaxPositionEmbeddings, c.HiddenSize);
        _tokenTypeEmbeddings = new TokenEmbedding(c.TypeVocabSize, c.HiddenSize);
        _layerNorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        _dropout = nn.Dropout(c.HiddenDropoutProb);
        _roberta = c.IsRoberta;
        _pad = c.PadTokenId;
        _padScalar = ((long)c.PadTokenId).ToScalar();
        _oneLong = 1L.ToScalar();                                                     // integer tensors refuse a float alpha
        RegisterComponents();
    }

    /// <summary>The word table (V, C).</summary>
    public TokenEmbedding WordEmbeddings => _wordEmbeddings;

    /// <summary>ids (B, T) int64, token types (B, T) int64 or null (all 0) → (B, T, C).</summary>
    public Tensor Forward(Tensor ids, Tensor? tokenTypes)
    {
        long t = ids.shape[1];
        Tensor positions;
        if (_roberta)
        {
            var real = ids.ne(_padScalar).to_type(ScalarType.Int64);                  // (B, T) 1 for non-padding
            positions = real.cumsum(1).mul_(real).add_(_padScalar, _oneLong);      // (B, T) pad+1, pad+2, ...; pad → pad
        }
        else
        {
            positions = arange(t, dtype: ScalarType.Int64, device: ids.device).unsqueeze(0); // (1, T)
        }
        tokenTypes ??= zeros_like(ids);                                               // (B, T)
        var x = _wordEmbeddings.call(ids)                                          // (B, T, C)
            .add(_tokenTypeEmbeddings.call(tokenTypes), Scalars.One)
            .add(_positionEmbeddings.call(positions), Scalars.One);               // (1|B, T, C) broadcasts
        return _dropout.call(_layerNorm.call(x));                                     // (B, T, C)
    }

    internal long PadId => _pad;
}

/// <summary>Bidirectional multi-head self-attention (HF's <c>attention.self</c>): query, key, value projections.</summary>
public sealed class BertSelfAttention : nn.Module
{
    [ComponentName(Name = "query")] private nn.Module<Tensor, Tensor> _query;
    [ComponentName(Name = "key")] private nn.Module<Tensor, Tensor> _key;
    [ComponentName(Name = "value")] private nn.Module<Tensor, Tensor> _value;
    private readonly int _heads, _headDim;
    private readonly double _dropout;

    /// <summary>Creates the three biased projections.</summary>
    public BertSelfAttention(BertConfig c) : base(nameof(BertSelfAttention))
    {
        _heads = c.NumAttentionHeads;
        _headDim = c.HeadDim;
        _dropout = c.AttentionProbsDropoutProb;
        _query = nn.Linear(c.HiddenSize, c.HiddenSize);
        _key = nn.Linear(c.HiddenSize, c.HiddenSize);
        _value = nn.Linear(c.HiddenSize, c.HiddenSize);
        RegisterComponents();
    }

    /// <summary>The HF names of the projections, in module order.</summary>
    public static readonly IReadOnlyList<string> ProjectionNames = ["query", "key", "value"];

    /// <summary>The projection named <paramref name="name"/>.</summary>
    public nn.Module<Tensor, Tensor> this[string name] => name switch
    {
        "query" => _query, "key" => _key, "value" => _value,
        _ => throw new ArgumentException($"no projection '{name}' in attention.self", nameof(name)),
    };

    /// <summary>Replaces a projection in place (LoRA wraps the base layer and keeps its name).</summary>
    internal void Replace(string name, nn.Module<Tensor, Tensor> module)
    {
        switch (name)
        {
            case "query": _query = module; break;
            case "key": _key = module; break;
            case "value": _value = module; break;
            default: throw new ArgumentException($"no projection '{name}' in attention.self", nameof(name));
        }
        _internal_submodules[name] = module;
    }

    /// <summary>x (B, T, C), keep (B, 1, 1, T) bool → (B, T, C): softmax(q kᵀ/√D + mask) v per head.</summary>
    public Tensor Forward(Tensor x, Tensor keep)
    {
        long b = x.shape[0], t = x.shape[1];
        var q = _query.call(x).view(b, t, _heads, _headDim).transpose(1, 2);          // (B, H, T, D)
        var k = _key.call(x).view(b, t, _heads, _headDim).transpose(1, 2);            // (B, H, T, D)
        var v = _value.call(x).view(b, t, _heads, _headDim).transpose(1, 2);          // (B, H, T, D)
        var y = F.scaled_dot_product_attention(q, k, v, attn_mask: keep, p: training ? _dropout : 0.0); // (B, H, T, D)
        return y.transpose(1, 2).reshape(b, t, _heads * _headDim);                    // (B, T, C)
    }
}

/// <summary>A projection, dropout, then LayerNorm of (projection + residual): HF's BertSelfOutput and BertOutput.</summary>
public sealed class BertResidualOutput : nn.Module
{
    [ComponentName(Name = "dense")] private nn.Module<Tensor, Tensor> _dense;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm _layerNorm;
    [ComponentName(Name = "dropout")] private readonly Dropout _dropout;

    /// <summary>dense: <paramref name="inputSize"/> → hidden.</summary>
    public BertResidualOutput(BertConfig c, int inputSize) : base(nameof(BertResidualOutput))
    {
        _dense = nn.Linear(inputSize, c.HiddenSize);
        _layerNorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        _dropout = nn.Dropout(c.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>The projection (LoRA may wrap it).</summary>
    public nn.Module<Tensor, Tensor> Dense => _dense;

    internal void ReplaceDense(nn.Module<Tensor, Tensor> module)
    {
        _dense = module;
        _internal_submodules["dense"] = module;
    }

    /// <summary>x (B, T, in), residual (B, T, C) → LayerNorm(dropout(dense(x)) + residual) (B, T, C).</summary>
    public Tensor Forward(Tensor x, Tensor residual) =>
        _layerNorm.call(_dropout.call(_dense.call(x)).add(residual, Scalars.One));
}

/// <summary>HF's BertAttention: <c>self</c> (the heads) and <c>output</c> (projection, residual, LayerNorm).</summary>
public sealed class BertAttention : nn.Module
{
    [ComponentName(Name = "self")] private readonly BertSelfAttention _self;
    [ComponentName(Name = "output")] private readonly BertResidualOutput _output;

    /// <summary>Creates the block.</summary>
    public BertAttention(BertConfig c) : base(nameof(BertAttention))
    {
        _self = new BertSelfAttention(c);
        _output = new BertResidualOutput(c, c.HiddenSize);
        RegisterComponents();
    }

    /// <summary>The heads.</summary>
    public BertSelfAttention Self => _self;

    /// <summary>The output projection and norm.</summary>
    public BertResidualOutput Output => _output;

    /// <summary>x (B, T, C) → (B, T, C).</summary>
    public Tensor Forward(Tensor x, Tensor keep) => _output.Forward(_self.Forward(x, keep), x);
}

/// <summary>Post-LayerNorm encoder layer: h = LN(x + attn(x)); LN(h + W₂ gelu(W₁ h)).</summary>
public sealed class BertLayer : nn.Module
{
    [ComponentName(Name = "attention")] private readonly BertAttention _attention;
    [ComponentName(Name = "intermediate")] private readonly BertIntermediate _intermediate;
    [ComponentName(Name = "output")] private readonly BertResidualOutput _output;

    /// <summary>Creates one layer.</summary>
    public BertLayer(BertConfig c) : base(nameof(BertLayer))
    {
        _attention = new BertAttention(c);
        _intermediate = new BertIntermediate(c);
        _output = new BertResidualOutput(c, c.IntermediateSize);
        RegisterComponents();
    }

    /// <summary>The attention block.</summary>
    public BertAttention Attention => _attention;

    /// <summary>The feed-forward's first projection.</summary>
    public BertIntermediate Intermediate => _intermediate;

    /// <summary>The feed-forward's second projection and norm.</summary>
    public BertResidualOutput Output => _output;

    /// <summary>x (B, T, C), keep (B, 1, 1, T) → (B, T, C).</summary>
    public Tensor Forward(Tensor x, Tensor keep)
    {
        var h = _attention.Forward(x, keep);                                          // (B, T, C)
        return _output.Forward(_intermediate.Forward(h), h);                          // (B, T, C)
    }
}

/// <summary>HF's BertIntermediate: dense to the feed-forward width, then GELU (erf form).</summary>
public sealed class BertIntermediate : nn.Module
{
    [ComponentName(Name = "dense")] private nn.Module<Tensor, Tensor> _dense;

    /// <summary>dense: hidden → intermediate.</summary>
    public BertIntermediate(BertConfig c) : base(nameof(BertIntermediate))
    {
        _dense = nn.Linear(c.HiddenSize, c.IntermediateSize);
        RegisterComponents();
    }

    /// <summary>The projection (LoRA may wrap it).</summary>
    public nn.Module<Tensor, Tensor> Dense => _dense;

    internal void ReplaceDense(nn.Module<Tensor, Tensor> module)
    {
        _dense = module;
        _internal_submodules["dense"] = module;
    }

    /// <summary>(B, T, C) → (B, T, ff).</summary>
    public Tensor Forward(Tensor x) => F.gelu(_dense.call(x));
}

/// <summary>HF's BertEncoder: the layer stack under <c>encoder.layer</c>.</summary>
public sealed class BertEncoder : nn.Module
{
    [ComponentName(Name = "layer")] private readonly ModuleList<BertLayer> _layer;

    /// <summary>Creates <c>num_hidden_layers</c> layers.</summary>
    public BertEncoder(BertConfig c) : base(nameof(BertEncoder))
    {
        _layer = new ModuleList<BertLayer>([.. Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new BertLayer(c))]);
        RegisterComponents();
    }

    /// <summary>The layers.</summary>
    public IReadOnlyList<BertLayer> Layers => [.. _layer];

    /// <summary>(B, T, C) → (B, T, C).</summary>
    public Tensor Forward(Tensor x, Tensor keep)
    {
        foreach (var layer in _layer) x = layer.Forward(x, keep);
        return x;
    }
}

/// <summary>HF's BertPooler: tanh(dense(hidden state of the first token)).</summary>
public sealed class BertPooler : nn.Module
{
    [ComponentName(Name = "dense")] private readonly Linear _dense;

    /// <summary>dense: hidden → hidden.</summary>
    public BertPooler(BertConfig c) : base(nameof(BertPooler))
    {
        _dense = nn.Linear(c.HiddenSize, c.HiddenSize);
        RegisterComponents();
    }

    /// <summary>(B, T, C) → (B, C).</summary>
    public Tensor Forward(Tensor hidden) => _dense.call(hidden.select(1, 0)).tanh();
}

/// <summary>
/// A BERT or RoBERTa encoder (HF's BertModel / RobertaModel): embeddings, post-LayerNorm layers, and the pooler when
/// <c>addPoolingLayer</c> (RoBERTa's classifier and sentence-transformers models may go without one).
/// </summary>
public sealed class BertModel : nn.Module
{
    [ComponentName(Name = "embeddings")] private readonly BertEmbeddings _embeddings;
    [ComponentName(Name = "encoder")] private readonly BertEncoder _encoder;
    [ComponentName(Name = "pooler")] private readonly BertPooler? _pooler;

    /// <summary>Creates the encoder described by <paramref name="config"/> with HF's initialisation (N(0, 0.02) weights, zero biases, unit norms).</summary>
    public BertModel(BertConfig config, bool addPoolingLayer = true, double initStd = 0.02) : base(nameof(BertModel))
    {
        config.Validate("config");
        Config = config;
        _embeddings = new BertEmbeddings(config);
        _encoder = new BertEncoder(config);
        _pooler = addPoolingLayer ? new BertPooler(config) : null;
        RegisterComponents();
        BertInit.Apply(this, initStd);
    }

    /// <summary>The HF config.</summary>
    public BertConfig Config { get; }

    /// <summary>The embeddings.</summary>
    public BertEmbeddings Embeddings => _embeddings;

    /// <summary>The layer stack.</summary>
    public BertEncoder Encoder => _encoder;

    /// <summary>Whether a pooler is present.</summary>
    public bool HasPooler => _pooler is not null;

    /// <summary>
    /// ids (B, T) int64, mask (B, T) (1 = token, 0 = padding; null = all tokens), token types (B, T) or null →
    /// last hidden state (B, T, C). Padding keys are masked out of every query's attention.
    /// </summary>
    public Tensor Forward(Tensor ids, Tensor? mask = null, Tensor? tokenTypes = null)
    {
        long t = ids.shape[1];
        if (t > Config.MaxTokens)
            throw new TailorException($"input of {t} tokens exceeds the {Config.MaxTokens} positions this encoder has; truncate it");
        var keep = mask is null
            ? ones(ids.shape[0], 1, 1, t, dtype: ScalarType.Bool, device: ids.device)  // (B, 1, 1, T)
            : mask.to_type(ScalarType.Bool).view(ids.shape[0], 1, 1, t);              // (B, 1, 1, T)
        var x = _embeddings.Forward(ids, tokenTypes);                                 // (B, T, C)
        return _encoder.Forward(x, keep);                                             // (B, T, C)
    }

    /// <summary>The pooler's output tanh(dense(h₀)) (B, C) for a last hidden state (B, T, C).</summary>
    public Tensor Pool(Tensor hidden) =>
        (_pooler ?? throw new InvalidOperationException("this encoder was built without a pooler")).Forward(hidden);
}

/// <summary>HF's BertForSequenceClassification: <c>bert</c> (with pooler), dropout, <c>classifier</c> (C → L).</summary>
public sealed class BertForSequenceClassification : nn.Module, ISequenceClassifier
{
    [ComponentName(Name = "bert")] private readonly BertModel _bert;
    [ComponentName(Name = "dropout")] private readonly Dropout _dropout;
    [ComponentName(Name = "classifier")] private readonly Linear _classifier;

    /// <summary>Creates the model; <c>id2label</c> gives the number of labels.</summary>
    public BertForSequenceClassification(BertConfig config, double initStd = 0.02) : base(nameof(BertForSequenceClassification))
    {
        _bert = new BertModel(config, addPoolingLayer: true, initStd);
        _dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        _classifier = nn.Linear(config.HiddenSize, config.Labels.Count);
        RegisterComponents();
        BertInit.Apply(_classifier, initStd);
    }

    /// <inheritdoc/>
    public BertModel Encoder => _bert;

    /// <inheritdoc/>
    public BertConfig Config => _bert.Config;

    /// <inheritdoc/>
    public Tensor Logits(Tensor ids, Tensor? mask = null, Tensor? tokenTypes = null)
    {
        var hidden = _bert.Forward(ids, mask, tokenTypes);                            // (B, T, C)
        return _classifier.call(_dropout.call(_bert.Pool(hidden)));                   // (B, L)
    }
}

/// <summary>HF's RobertaClassificationHead: first token → dropout → dense → tanh → dropout → out_proj.</summary>
public sealed class RobertaClassificationHead : nn.Module
{
    [ComponentName(Name = "dense")] private readonly Linear _dense;
    [ComponentName(Name = "dropout")] private readonly Dropout _dropout;
    [ComponentName(Name = "out_proj")] private readonly Linear _outProj;

    /// <summary>dense: C → C, out_proj: C → L.</summary>
    public RobertaClassificationHead(BertConfig c) : base(nameof(RobertaClassificationHead))
    {
        _dense = nn.Linear(c.HiddenSize, c.HiddenSize);
        _dropout = nn.Dropout(c.ClassifierDropout ?? c.HiddenDropoutProb);
        _outProj = nn.Linear(c.HiddenSize, c.Labels.Count);
        RegisterComponents();
    }

    /// <summary>(B, T, C) → (B, L).</summary>
    public Tensor Forward(Tensor hidden)
    {
        var x = _dropout.call(hidden.select(1, 0));                                   // (B, C)
        x = _dropout.call(_dense.call(x).tanh());                                     // (B, C)
        return _outProj.call(x);                                                      // (B, L)
    }
}

/// <summary>HF's RobertaForSequenceClassification: <c>roberta</c> (no pooler) and <c>classifier</c> (a two-layer head).</summary>
public sealed class RobertaForSequenceClassification : nn.Module, ISequenceClassifier
{
    [ComponentName(Name = "roberta")] private readonly BertModel _roberta;
    [ComponentName(Name = "classifier")] private readonly RobertaClassificationHead _classifier;

    /// <summary>Creates the model; <c>id2label</c> gives the number of labels.</summary>
    public RobertaForSequenceClassification(BertConfig config, double initStd = 0.02) : base(nameof(RobertaForSequenceClassification))
    {
        _roberta = new BertModel(config, addPoolingLayer: false, initStd);
        _classifier = new RobertaClassificationHead(config);
        RegisterComponents();
        BertInit.Apply(_classifier, initStd);
    }

    /// <inheritdoc/>
    public BertModel Encoder => _roberta;

    /// <inheritdoc/>
    public BertConfig Config => _roberta.Config;

    /// <inheritdoc/>
    public Tensor Logits(Tensor ids, Tensor? mask = null, Tensor? tokenTypes = null) =>
        _classifier.Forward(_roberta.Forward(ids, mask, tokenTypes));                 // (B, L)
}

/// <summary>A BERT-family sequence classifier: an encoder and a head from hidden states to label logits.</summary>
public interface ISequenceClassifier
{
    /// <summary>The encoder (HF's base model).</summary>
    BertModel Encoder { get; }

    /// <summary>The HF config, with id2label.</summary>
    BertConfig Config { get; }

    /// <summary>ids (B, T) int64, mask (B, T), token types (B, T) or null → logits (B, L), in the caller's dispose scope.</summary>
    Tensor Logits(Tensor ids, Tensor? mask = null, Tensor? tokenTypes = null);

    /// <summary>Builds the classifier for <paramref name="config"/>'s family (BERT or RoBERTa head).</summary>
    static nn.Module Create(BertConfig config, double initStd = 0.02) => config.IsRoberta
        ? new RobertaForSequenceClassification(config, initStd)
        : new BertForSequenceClassification(config, initStd);
}

/// <summary>HF's BERT initialisation: Linear and embedding weights N(0, std), biases 0, LayerNorm weight 1.</summary>
internal static class BertInit
{
    public static void Apply(nn.Module module, double std)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)) nn.init.ones_(p);
            else if (name.EndsWith(".bias", StringComparison.Ordinal) || name == "bias") nn.init.zeros_(p);
            else nn.init.normal_(p, 0, std);
        }
    }
}
