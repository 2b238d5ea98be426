using Tailor.Formats;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Tailor.Model;

// GPT-2 (Radford et al. 2019) in one file, in reading order: Conv1D, the gelu_new MLP, attention, the block, the stack,
// and the LM head. Component names are Hugging Face's GPT2LMHeadModel, so a state_dict is an HF checkpoint:
//   transformer.wte.weight (V, C), transformer.wpe.weight (P, C),
//   transformer.h.N.ln_1.{weight,bias}, transformer.h.N.attn.c_attn.{weight (C, 3C), bias (3C)},
//   transformer.h.N.attn.c_proj.{weight (C, C), bias}, transformer.h.N.ln_2.{weight,bias},
//   transformer.h.N.mlp.c_fc.{weight (C, ff), bias}, transformer.h.N.mlp.c_proj.{weight (ff, C), bias},
//   transformer.ln_f.{weight,bias}; lm_head.weight (V, C) only when tie_word_embeddings is false (never in released GPT-2).
// Differences from Llama: learned absolute positions (wpe) instead of RoPE, LayerNorm with bias instead of RMSNorm,
// fused q/k/v (c_attn) with biases everywhere, a plain 4·C GELU MLP, dropout in training, and Conv1D weights stored
// [in, out] (the transpose of nn.Linear's), which is how OpenAI's TensorFlow checkpoints were laid out.
// Shapes: B batch, T new positions, S positions attended to (cached + new), C n_embd, H n_head, D head size, V vocabulary,
// P n_positions. Functions create no dispose scope of their own: the caller's step scope owns temporaries.

/// <summary>
/// HF's <c>Conv1D</c>: a linear layer whose weight is stored (in, out), so y = x·W + b. Not a convolution despite the
/// name (it is one with kernel size 1). Kept in this layout so checkpoints load and save with no transposition.
/// </summary>
public sealed class Conv1D : nn.Module<Tensor, Tensor>
{
    // Not readonly: Module.to(dtype/device) replaces parameters through these fields.
    [ComponentName(Name = "weight")] private Parameter _weight;   // (in, out)
    [ComponentName(Name = "bias")] private Parameter _bias;       // (out)

    /// <summary>Creates the layer with zero weights (the model initialises them).</summary>
    public Conv1D(long inFeatures, long outFeatures) : base(nameof(Conv1D))
    {
        _weight = new Parameter(zeros(inFeatures, outFeatures));
        _bias = new Parameter(zeros(outFeatures));
        RegisterComponents();
    }

    /// <summary>Wraps existing parameters (LoRA hands a merged base back this way); the layer now owns them.</summary>
    internal Conv1D(Parameter weight, Parameter bias) : base(nameof(Conv1D))
    {
        _weight = weight;
        _bias = bias;
        RegisterComponents();
    }

    /// <summary>The weight (in, out); the module's own parameter.</summary>
    public Parameter Weight => _weight;

    /// <summary>The bias (out); the module's own parameter.</summary>
    public Parameter Bias => _bias;

    /// <summary>(…, in) → (…, out): x·W + b, computed as linear(x, Wᵀ, b) (a view, no copy).</summary>
    public override Tensor forward(Tensor x) => F.linear(x, _weight.t(), _bias);
}

/// <summary>GPT-2's MLP: c_proj(act(c_fc(x))), act being gelu_new (tanh-approximated GELU) in every released model.</summary>
public sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "c_fc")] private nn.Module<Tensor, Tensor> _cFc;
    [ComponentName(Name = "c_proj")] private nn.Module<Tensor, Tensor> _cProj;
    private readonly string _activation;
    private readonly double _dropout;

    // gelu_new(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Hendrycks & Gimpel; HF NewGELUActivation). Held, never temporaries.
    private static readonly Scalar Half = 0.5.ToScalar(), Cubic = 0.044715.ToScalar(), Root2OverPi = Math.Sqrt(2.0 / Math.PI).ToScalar();

    /// <summary>Creates c_fc (C → ff) and c_proj (ff → C).</summary>
    public Gpt2Mlp(Gpt2Config c) : base(nameof(Gpt2Mlp))
    {
        _cFc = new Conv1D(c.NEmbd, c.InnerSize);
        _cProj = new Conv1D(c.InnerSize, c.NEmbd);
        _activation = c.ActivationFunction;
        _dropout = c.ResidPdrop;
        RegisterComponents();
    }

    /// <summary>The HF names of the two projections, in module order.</summary>
    public static readonly IReadOnlyList<string> ProjectionNames = ["c_fc", "c_proj"];

    /// <summary>The projection named <paramref name="name"/> (c_fc, c_proj).</summary>
    public nn.Module<Tensor, Tensor> this[string name] => name switch
    {
        "c_fc" => _cFc, "c_proj" => _cProj,
        _ => throw new ArgumentException($"no projection '{name}' in mlp", nameof(name)),
    };

    /// <summary>Replaces a projection (LoRA wraps the base layer and keeps its name).</summary>
    internal void Replace(string name, nn.Module<Tensor, Tensor> module)
    {
        switch (name)
        {
            case "c_fc": _cFc = module; break;
            case "c_proj": _cProj = module; break;
            default: throw new ArgumentException($"no projection '{name}' in mlp", nameof(name));
        }
        _internal_submodules[name] = module;   // in place, keeping the state_dict order (see Attention.Replace in Llama.cs)
    }

    /// <summary>(B, T, C) → (B, T, C).</summary>
    public override Tensor forward(Tensor x)
    {
        var h = _cFc.call(x);                                                         // (B, T, ff)
        h = Activate(h, _activation);
        h = _cProj.call(h);                                                           // (B, T, C)
        return _dropout > 0 && training ? F.dropout(h, _dropout, training: true) : h;
    }

    /// <summary>The activation named by config.json's activation_function.</summary>
    internal static Tensor Activate(Tensor x, string name) => name switch
    {
        // Out of place throughout: autograd needs tanh's output and the products' inputs unchanged for the backward pass.
        "gelu_new" or "gelu_pytorch_tanh" => x.mul(Half).mul(x.mul(x).mul(x).mul(Cubic).add(x, Torch.Scalars.One).mul(Root2OverPi).tanh().add(Torch.Scalars.One, Torch.Scalars.One)),
        "gelu" => F.gelu(x),
        "relu" => F.relu(x),
        "silu" => F.silu(x),
        _ => throw new TailorException($"activation_function '{name}' is not implemented"),
    };
}

/// <summary>Multi-head causal self-attention with fused q/k/v (c_attn) and an optional preallocated KV cache.</summary>
public sealed class Gpt2Attention : nn.Module
{
    [ComponentName(Name = "c_attn")] private nn.Module<Tensor, Tensor> _cAttn;
    [ComponentName(Name = "c_proj")] private nn.Module<Tensor, Tensor> _cProj;
    private readonly int _heads, _headDim, _layer, _embd;
    private readonly double _attnDropout, _residDropout;
    private readonly Scalar? _queryScale;   // null when sdpa's own 1/√D is the scale wanted

    /// <summary>Creates c_attn (C → 3C) and c_proj (C → C) for block <paramref name="layer"/>.</summary>
    public Gpt2Attention(Gpt2Config c, int layer) : base(nameof(Gpt2Attention))
    {
        _heads = c.NHead;
        _headDim = c.HeadDim;
        _embd = c.NEmbd;
        _layer = layer;
        _attnDropout = c.AttnPdrop;
        _residDropout = c.ResidPdrop;
        _cAttn = new Conv1D(c.NEmbd, 3 * c.NEmbd);
        _cProj = new Conv1D(c.NEmbd, c.NEmbd);
        // HF scores are q·k / √D (scale_attn_weights), then / (layer + 1) (scale_attn_by_inverse_layer_idx). sdpa always
        // divides by √D, so any other scale is applied to q beforehand: q · (wanted · √D).
        double wanted = (c.ScaleAttnWeights ? 1 / Math.Sqrt(_headDim) : 1.0) / (c.ScaleAttnByInverseLayerIdx ? layer + 1 : 1);
        double factor = wanted * Math.Sqrt(_headDim);
        _queryScale = Math.Abs(factor - 1) < 1e-15 ? null : factor.ToScalar();
        RegisterComponents();
    }

    /// <summary>The HF names of the two projections, in module order.</summary>
    public static readonly IReadOnlyList<string> ProjectionNames = ["c_attn", "c_proj"];

    /// <summary>The projection named <paramref name="name"/> (c_attn, c_proj).</summary>
    public nn.Module<Tensor, Tensor> this[string name] => name switch
    {
        "c_attn" => _cAttn, "c_proj" => _cProj,
        _ => throw new ArgumentException($"no projection '{name}' in attn", nameof(name)),
    };

    /// <summary>Replaces a projection (LoRA wraps the base layer and keeps its name).</summary>
    internal void Replace(string name, nn.Module<Tensor, Tensor> module)
    {
        switch (name)
        {
            case "c_attn": _cAttn = module; break;
            case "c_proj": _cProj = module; break;
            default: throw new ArgumentException($"no projection '{name}' in attn", nameof(name));
        }
        _internal_submodules[name] = module;
    }

    internal Tensor Forward(Tensor x, Tensor? mask, bool causal, KvCache? cache, long start)
    {
        long b = x.shape[0], t = x.shape[1];
        var qkv = _cAttn.call(x);                                                     // (B, T, 3C)
        var q = qkv.narrow(-1, 0, _embd).view(b, t, _heads, _headDim).transpose(1, 2);          // (B, H, T, D)
        var k = qkv.narrow(-1, _embd, _embd).view(b, t, _heads, _headDim).transpose(1, 2);      // (B, H, T, D)
        var v = qkv.narrow(-1, 2 * _embd, _embd).view(b, t, _heads, _headDim).transpose(1, 2);  // (B, H, T, D)
        if (_queryScale is not null) q = q.mul(_queryScale);
        if (cache is not null) (k, v) = cache.Update(_layer, start, k, v);          // (B, H, S, D)
        double p = training ? _attnDropout : 0;
        var y = F.scaled_dot_product_attention(q, k, v, attn_mask: mask, p: p, is_casual: causal); // (B, H, T, D)
        y = y.transpose(1, 2).reshape(b, t, _embd);                                   // (B, T, C)
        y = _cProj.call(y);                                                           // (B, T, C)
        return _residDropout > 0 && training ? F.dropout(y, _residDropout, training: true) : y;
    }
}

/// <summary>Pre-LayerNorm block: x + attn(ln_1(x)), then h + mlp(ln_2(h)).</summary>
public sealed class Gpt2Block : nn.Module
{
    [ComponentName(Name = "ln_1")] private readonly LayerNorm _ln1;
    [ComponentName(Name = "attn")] private readonly Gpt2Attention _attn;
    [ComponentName(Name = "ln_2")] private readonly LayerNorm _ln2;
    [ComponentName(Name = "mlp")] private readonly Gpt2Mlp _mlp;

    /// <summary>Creates block <paramref name="index"/>.</summary>
    public Gpt2Block(Gpt2Config c, int index) : base(nameof(Gpt2Block))
    {
        _ln1 = nn.LayerNorm(c.NEmbd, c.LayerNormEpsilon);
        _attn = new Gpt2Attention(c, index);
        _ln2 = nn.LayerNorm(c.NEmbd, c.LayerNormEpsilon);
        _mlp = new Gpt2Mlp(c);
        RegisterComponents();
    }

    /// <summary>The attention block.</summary>
    public Gpt2Attention Attention => _attn;

    /// <summary>The feed-forward block.</summary>
    public Gpt2Mlp Mlp => _mlp;

    internal Tensor Forward(Tensor x, Tensor? mask, bool causal, KvCache? cache, long start)
    {
        var h = x + _attn.Forward(_ln1.call(x), mask, causal, cache, start);         // (B, T, C)
        return h + _mlp.call(_ln2.call(h));                                           // (B, T, C)
    }
}

/// <summary>The stack HF calls <c>transformer</c>: token and position embeddings, blocks, final LayerNorm.</summary>
public sealed class Gpt2Model : nn.Module
{
    [ComponentName(Name = "wte")] private readonly TokenEmbedding _wte;
    [ComponentName(Name = "wpe")] private readonly TokenEmbedding _wpe;
    [ComponentName(Name = "h")] private readonly ModuleList<Gpt2Block> _h;
    [ComponentName(Name = "ln_f")] private readonly LayerNorm _lnF;
    private readonly double _dropout;

    /// <summary>Creates the stack described by <paramref name="c"/>.</summary>
    public Gpt2Model(Gpt2Config c) : base(nameof(Gpt2Model))
    {
        _wte = new TokenEmbedding(c.VocabSize, c.NEmbd);
        _wpe = new TokenEmbedding(c.NPositions, c.NEmbd);
        _h = new ModuleList<Gpt2Block>([.. Enumerable.Range(0, c.NLayer).Select(i => new Gpt2Block(c, i))]);
        _lnF = nn.LayerNorm(c.NEmbd, c.LayerNormEpsilon);
        _dropout = c.EmbdPdrop;
        RegisterComponents();
    }

    /// <summary>The token embedding (also the output head when tied).</summary>
    public TokenEmbedding Wte => _wte;

    /// <summary>The learned position embedding.</summary>
    public TokenEmbedding Wpe => _wpe;

    /// <summary>The blocks.</summary>
    public IReadOnlyList<Gpt2Block> Blocks => [.. _h];

    internal Tensor Forward(Tensor ids, Tensor positions, Tensor? mask, bool causal, KvCache? cache, long start)
    {
        var x = _wte.call(ids) + _wpe.call(positions);                                // (B, T, C) + (B or 1, T, C)
        if (_dropout > 0 && training) x = F.dropout(x, _dropout, training: true);
        foreach (var block in _h) x = block.Forward(x, mask, causal, cache, start);
        return _lnF.call(x);                                                          // (B, T, C)
    }
}

/// <summary>
/// GPT-2 as HF's <c>GPT2LMHeadModel</c>: <c>transformer</c> + an output head that is wte itself (one shared parameter,
/// no copy) unless <c>tie_word_embeddings</c> is false. Loads checkpoints with or without the <c>transformer.</c> prefix
/// (openai-community/gpt2's own files have none) and saves with it, as transformers does.
/// </summary>
public sealed class Gpt2LMHeadModel : CausalLM
{
    [ComponentName(Name = "transformer")] private readonly Gpt2Model _transformer;
    [ComponentName(Name = "lm_head")] private readonly Linear? _lmHead;

    /// <summary>
    /// Creates the model with HF's initialisation: N(0, initializer_range) for weights (or <paramref name="initStd"/>),
    /// zero biases, unit LayerNorms, and c_proj weights scaled by 1/√(2·n_layer) (GPT-2's residual scaling).
    /// </summary>
    public Gpt2LMHeadModel(Gpt2Config config, double? initStd = null) : base(nameof(Gpt2LMHeadModel))
    {
        config.Validate("config");
        Config = config;
        _transformer = new Gpt2Model(config);
        _lmHead = config.TieWordEmbeddings ? null : nn.Linear(config.NEmbd, config.VocabSize, hasBias: false);
        RegisterComponents();
        double std = initStd ?? config.InitializerRange;
        using (no_grad())
        {
            foreach (var (name, p) in named_parameters())
            {
                bool norm = name.Contains(".ln_", StringComparison.Ordinal);
                if (norm && name.EndsWith(".weight", StringComparison.Ordinal)) nn.init.ones_(p);
                else if (name.EndsWith(".bias", StringComparison.Ordinal)) nn.init.zeros_(p);
                else if (name.EndsWith("c_proj.weight", StringComparison.Ordinal)) nn.init.normal_(p, 0, std / Math.Sqrt(2.0 * config.NLayer));
                else nn.init.normal_(p, 0, std);
            }
        }
    }

    /// <summary>The HF config this model was built from.</summary>
    public Gpt2Config Config { get; }

    /// <inheritdoc/>
    public override IDecoderConfig DecoderConfig => Config;

    /// <summary>The stack.</summary>
    public Gpt2Model Transformer => _transformer;

    /// <summary>The output projection weight (V, C): lm_head's, or wte's when tied.</summary>
    public override Parameter OutputWeight => _lmHead?.weight ?? _transformer.Wte.Weight;

    /// <summary>
    /// The general forward pass (see <see cref="CausalLM.Forward"/>); <paramref name="positions"/> index wpe.
    /// </summary>
    public override Tensor Forward(Tensor ids, Tensor? positions = null, Tensor? mask = null, KvCache? cache = null, bool lastOnly = false, Tensor? keep = null)
    {
        long t = ids.shape[1];
        long start = cache?.Length ?? 0;
        if (start + t > Config.NPositions)
            throw new TailorException($"sequence of {start + t} positions exceeds n_positions {Config.NPositions}; shorten the input");
        if (positions is null)
        {
            using Scalar from = start.ToScalar(), to = (start + t).ToScalar();      // held across the call: see Tailor.Torch.Scalars
            positions = arange(from, to, device: ids.device).unsqueeze(0);            // (1, T)
        }
        // As in LlamaForCausalLM: sdpa's causal flag aligns top-left, right only without a cached prefix or for one query.
        bool causal = mask is null && (start == 0 || t == 1) && t > 1;
        if (mask is null && start > 0 && t > 1) mask = CausalMask(t, start, ids.device);
        var hidden = _transformer.Forward(ids, positions, mask, causal, cache, start); // (B, T, C)
        cache?.Advance(t);
        hidden = SelectForHead(hidden, lastOnly, keep);
        return _lmHead is not null ? _lmHead.call(hidden) : F.linear(hidden, _transformer.Wte.Weight); // (B, T|1, V) or (N, V)
    }

    /// <summary>
    /// Loads an HF GPT-2 folder: names with or without <c>transformer.</c>; the causal-mask buffers older checkpoints
    /// saved (<c>h.N.attn.bias</c>, <c>h.N.attn.masked_bias</c>) and a tied model's <c>lm_head.weight</c> are skipped.
    /// </summary>
    public override void LoadWeights(string folder) => HfCheckpoint.LoadIntoMapped(this, folder, CheckpointKey);

    /// <summary>The model's state-dict key for a tensor name in a GPT-2 checkpoint, or null for one it does not keep.</summary>
    public string? CheckpointKey(string name)
    {
        if (name == HfCheckpoint.LmHeadWeight) return Config.TieWordEmbeddings ? null : name;
        string key = name.StartsWith("transformer.", StringComparison.Ordinal) ? name : "transformer." + name;
        if (key.EndsWith(".attn.bias", StringComparison.Ordinal) || key.EndsWith(".attn.masked_bias", StringComparison.Ordinal)) return null;
        return key;
    }
}
