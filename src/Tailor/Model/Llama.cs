using Tailor.Formats;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Tailor.Model;

// A Llama-style decoder in one file, in reading order: RMSNorm, rotary embedding, attention, MLP, decoder layer, the
// stack, and the causal-LM head. Component names are Hugging Face's, so a state_dict is an HF checkpoint with no key map:
//   model.embed_tokens.weight, model.layers.N.self_attn.{q,k,v,o}_proj.{weight,bias}, model.layers.N.mlp.{gate,up,down}_proj.weight,
//   model.layers.N.{input,post_attention}_layernorm.weight, model.norm.weight, lm_head.weight (absent when tied).
// Shapes: B batch, T new positions, S positions attended to (cached + new), C hidden, H query heads, KV key/value heads,
// D head size, V vocabulary. Functions here create no dispose scope of their own: the caller's step scope owns temporaries.

/// <summary>Root-mean-square norm, computed in fp32 whatever the input dtype (as HF's LlamaRMSNorm).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter _weight;

    private readonly Scalar _eps;   // held, never a temporary: see Tailor.Torch.Scalars

    /// <summary>Creates the norm with unit weights.</summary>
    public RmsNorm(long size, double eps) : base(nameof(RmsNorm))
    {
        _weight = new Parameter(ones(size));
        _eps = eps.ToScalar();
        RegisterComponents();
    }

    /// <summary>(…, C) → (…, C) in the input's dtype.</summary>
    public override Tensor forward(Tensor x)
    {
        var x32 = x.to_type(ScalarType.Float32);                                    // (…, C) fp32
        var normed = x32 * (x32 * x32).mean([-1], keepdim: true).add_(_eps, Tailor.Torch.Scalars.One).rsqrt_(); // (…, C); x·x, not square(): see Scalars
        return _weight * normed.to_type(x.dtype);
    }
}

/// <summary>
/// Token embedding table (V, C). Written here rather than taken from TorchSharp because its Embedding hands out a new
/// native wrapper on every <c>weight</c> read, and the tied output head reads the weight on every forward.
/// </summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter _weight;

    /// <summary>Creates a zero table; the model initialises it.</summary>
    public TokenEmbedding(long vocab, long dim) : base(nameof(TokenEmbedding))
    {
        _weight = new Parameter(zeros(vocab, dim));
        RegisterComponents();
    }

    /// <summary>The table (V, C); the same object on every read.</summary>
    public Parameter Weight => _weight;

    /// <summary>ids (B, T) int64 → (B, T, C).</summary>
    public override Tensor forward(Tensor ids)
    {
        var rows = _weight.index_select(0, ids.reshape(-1));                          // (B·T, C)
        return rows.view([.. ids.shape, _weight.shape[1]]);                           // (B, T, C)
    }
}

/// <summary>
/// Rotary position embedding tables (rotate-half convention, as HF Llama/Qwen2): cos and sin of position × inv_freq,
/// duplicated over the two halves of the head. Registered as non-persistent buffers so they never reach a checkpoint.
/// </summary>
public sealed class RotaryEmbedding : nn.Module
{
    [ComponentName(Name = "cos")] private readonly Tensor _cos;   // (maxT, D)
    [ComponentName(Name = "sin")] private readonly Tensor _sin;   // (maxT, D)

    /// <summary>Builds tables for positions [0, maxPositions).</summary>
    public RotaryEmbedding(int headDim, int maxPositions, double theta) : base(nameof(RotaryEmbedding))
    {
        // inv_freq_i = theta^(-2i/D); computed in float64 and rounded once, for agreement with other implementations.
        using var exponents = arange(0, headDim, 2, dtype: ScalarType.Float64) / headDim;       // (D/2)
        using var invFreq = pow(theta, exponents).reciprocal();                                 // (D/2)
        using var positions = arange(0, maxPositions, dtype: ScalarType.Float64);               // (maxT)
        using var freqs = outer(positions, invFreq);                                            // (maxT, D/2)
        using var angles = cat([freqs, freqs], dim: -1);                                        // (maxT, D)
        _cos = angles.cos().to_type(ScalarType.Float32);
        _sin = angles.sin().to_type(ScalarType.Float32);
        register_buffer("cos", _cos, persistent: false);
        register_buffer("sin", _sin, persistent: false);
    }

    /// <summary>Longest position the tables cover.</summary>
    public long MaxPositions => _cos.shape[0];

    /// <summary>
    /// Tables for the given positions, shaped to broadcast over (B, heads, T, D): (1, 1, T, D) for a contiguous
    /// range starting at <paramref name="start"/>, or (B, 1, T, D) for explicit per-row <paramref name="positions"/> (B, T).
    /// </summary>
    public (Tensor Cos, Tensor Sin) Select(long start, long length, Tensor? positions, ScalarType dtype)
    {
        if (positions is null)
        {
            var cos = _cos.narrow(0, start, length).unsqueeze(0).unsqueeze(0);               // (1, 1, T, D)
            var sin = _sin.narrow(0, start, length).unsqueeze(0).unsqueeze(0);
            return (cos.to_type(dtype), sin.to_type(dtype));
        }
        long b = positions.shape[0], t = positions.shape[1];
        using var flat = positions.reshape(-1);
        var c = _cos.index_select(0, flat).view(b, 1, t, -1);                                 // (B, 1, T, D)
        var s = _sin.index_select(0, flat).view(b, 1, t, -1);
        return (c.to_type(dtype), s.to_type(dtype));
    }

    /// <summary>x·cos + rotate_half(x)·sin, where rotate_half(x) = [-x₂, x₁] over the two halves of the last dim.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);                                                     // (B, h, T, D/2)
        var x2 = x.narrow(-1, half, half);
        var rotated = cat([x2.neg(), x1], dim: -1);                                         // (B, h, T, D)
        return x * cos + rotated * sin;
    }
}

/// <summary>Per-forward inputs every layer's attention shares.</summary>
internal readonly record struct AttentionContext(Tensor Cos, Tensor Sin, Tensor? Mask, bool Causal, KvCache? Cache, long Start);

/// <summary>Grouped-query self-attention with rotary embeddings and an optional preallocated KV cache.</summary>
public sealed class Attention : nn.Module
{
    [ComponentName(Name = "q_proj")] private nn.Module<Tensor, Tensor> _qProj;
    [ComponentName(Name = "k_proj")] private nn.Module<Tensor, Tensor> _kProj;
    [ComponentName(Name = "v_proj")] private nn.Module<Tensor, Tensor> _vProj;
    [ComponentName(Name = "o_proj")] private nn.Module<Tensor, Tensor> _oProj;
    private readonly int _heads, _kvHeads, _headDim, _layer;

    /// <summary>Creates the four projections; q/k/v biases follow the config (Qwen2 has them).</summary>
    public Attention(LlamaConfig c, int layer) : base(nameof(Attention))
    {
        _heads = c.NumAttentionHeads;
        _kvHeads = c.KeyValueHeads;
        _headDim = c.HeadDim;
        _layer = layer;
        _qProj = nn.Linear(c.HiddenSize, _heads * _headDim, hasBias: c.QkvBias);
        _kProj = nn.Linear(c.HiddenSize, _kvHeads * _headDim, hasBias: c.QkvBias);
        _vProj = nn.Linear(c.HiddenSize, _kvHeads * _headDim, hasBias: c.QkvBias);
        _oProj = nn.Linear(_heads * _headDim, c.HiddenSize, hasBias: c.OutputBias);
        RegisterComponents();
    }

    /// <summary>The HF names of the four projections, in module order.</summary>
    public static readonly IReadOnlyList<string> ProjectionNames = ["q_proj", "k_proj", "v_proj", "o_proj"];

    /// <summary>The projection named <paramref name="name"/> (q_proj, k_proj, v_proj, o_proj).</summary>
    public nn.Module<Tensor, Tensor> this[string name] => name switch
    {
        "q_proj" => _qProj, "k_proj" => _kProj, "v_proj" => _vProj, "o_proj" => _oProj,
        _ => throw new ArgumentException($"no projection '{name}' in self_attn", nameof(name)),
    };

    /// <summary>Replaces a projection (LoRA wraps the base layer and keeps its name).</summary>
    internal void Replace(string name, nn.Module<Tensor, Tensor> module)
    {
        switch (name)
        {
            case "q_proj": _qProj = module; break;
            case "k_proj": _kProj = module; break;
            case "v_proj": _vProj = module; break;
            case "o_proj": _oProj = module; break;
            default: throw new ArgumentException($"no projection '{name}' in self_attn", nameof(name));
        }
        // In place: register_module refuses a taken name, and remove-then-add would move the key to the end of the
        // state_dict. The new module registered its own components when it was built.
        _internal_submodules[name] = module;
    }

    internal Tensor Forward(Tensor x, in AttentionContext ctx)
    {
        long b = x.shape[0], t = x.shape[1];
        int groups = _heads / _kvHeads;
        var q = _qProj.call(x).view(b, t, _heads, _headDim).transpose(1, 2);       // (B, H, T, D)
        var k = _kProj.call(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);     // (B, KV, T, D)
        var v = _vProj.call(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);     // (B, KV, T, D)
        q = RotaryEmbedding.Apply(q, ctx.Cos, ctx.Sin);
        k = RotaryEmbedding.Apply(k, ctx.Cos, ctx.Sin);
        if (ctx.Cache is not null) (k, v) = ctx.Cache.Update(_layer, ctx.Start, k, v); // (B, KV, S, D)

        Tensor y;
        if (t == 1 && groups > 1)
        {
            // One new position attends to every cached one: no causal structure, so the query heads of a group can
            // share their key/value head by folding the group into the "time" axis. No copy of K/V.
            var qg = q.reshape(b, _kvHeads, groups, _headDim);                        // (B, KV, G, D)
            y = F.scaled_dot_product_attention(qg, k, v, attn_mask: ctx.Mask);        // (B, KV, G, D)
            y = y.reshape(b, _heads, 1, _headDim);                                    // (B, H, 1, D)
        }
        else
        {
            if (groups > 1)
            {
                long s = k.shape[2];
                k = k.unsqueeze(2).expand(b, _kvHeads, groups, s, _headDim).reshape(b, _heads, s, _headDim); // (B, H, S, D)
                v = v.unsqueeze(2).expand(b, _kvHeads, groups, s, _headDim).reshape(b, _heads, s, _headDim);
            }
            y = F.scaled_dot_product_attention(q, k, v, attn_mask: ctx.Mask, is_casual: ctx.Causal); // (B, H, T, D)
        }
        y = y.transpose(1, 2).reshape(b, t, _heads * _headDim);                      // (B, T, H·D)
        return _oProj.call(y);                                                        // (B, T, C)
    }
}

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) · up(x)).</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "gate_proj")] private nn.Module<Tensor, Tensor> _gateProj;
    [ComponentName(Name = "up_proj")] private nn.Module<Tensor, Tensor> _upProj;
    [ComponentName(Name = "down_proj")] private nn.Module<Tensor, Tensor> _downProj;

    /// <summary>Creates the three bias-free projections.</summary>
    public Mlp(LlamaConfig c) : base(nameof(Mlp))
    {
        _gateProj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: false);
        _upProj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: false);
        _downProj = nn.Linear(c.IntermediateSize, c.HiddenSize, hasBias: false);
        RegisterComponents();
    }

    /// <summary>The HF names of the three projections, in module order.</summary>
    public static readonly IReadOnlyList<string> ProjectionNames = ["gate_proj", "up_proj", "down_proj"];

    /// <summary>The projection named <paramref name="name"/> (gate_proj, up_proj, down_proj).</summary>
    public nn.Module<Tensor, Tensor> this[string name] => name switch
    {
        "gate_proj" => _gateProj, "up_proj" => _upProj, "down_proj" => _downProj,
        _ => throw new ArgumentException($"no projection '{name}' in mlp", nameof(name)),
    };

    /// <summary>Replaces a projection (LoRA wraps the base layer and keeps its name).</summary>
    internal void Replace(string name, nn.Module<Tensor, Tensor> module)
    {
        switch (name)
        {
            case "gate_proj": _gateProj = module; break;
            case "up_proj": _upProj = module; break;
            case "down_proj": _downProj = module; break;
            default: throw new ArgumentException($"no projection '{name}' in mlp", nameof(name));
        }
        // In place: register_module refuses a taken name, and remove-then-add would move the key to the end of the
        // state_dict. The new module registered its own components when it was built.
        _internal_submodules[name] = module;
    }

    /// <summary>(B, T, C) → (B, T, C).</summary>
    public override Tensor forward(Tensor x) =>
        _downProj.call(F.silu(_gateProj.call(x)) * _upProj.call(x));                 // (B, T, ff) → (B, T, C)
}

/// <summary>Pre-norm decoder layer: x + attn(norm(x)), then h + mlp(norm(h)).</summary>
public sealed class DecoderLayer : nn.Module
{
    [ComponentName(Name = "self_attn")] private readonly Attention _selfAttn;
    [ComponentName(Name = "mlp")] private readonly Mlp _mlp;
    [ComponentName(Name = "input_layernorm")] private readonly RmsNorm _inputLayernorm;
    [ComponentName(Name = "post_attention_layernorm")] private readonly RmsNorm _postAttentionLayernorm;

    /// <summary>Creates layer <paramref name="index"/>.</summary>
    public DecoderLayer(LlamaConfig c, int index) : base(nameof(DecoderLayer))
    {
        _selfAttn = new Attention(c, index);
        _mlp = new Mlp(c);
        _inputLayernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        _postAttentionLayernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }

    /// <summary>The attention block.</summary>
    public Attention SelfAttention => _selfAttn;

    /// <summary>The feed-forward block.</summary>
    public Mlp FeedForward => _mlp;

    internal Tensor Forward(Tensor x, in AttentionContext ctx)
    {
        var h = x + _selfAttn.Forward(_inputLayernorm.call(x), ctx);                 // (B, T, C)
        return h + _mlp.call(_postAttentionLayernorm.call(h));                        // (B, T, C)
    }
}

/// <summary>The decoder stack HF calls <c>model</c>: embeddings, layers, final norm.</summary>
public sealed class LlamaModel : nn.Module
{
    [ComponentName(Name = "embed_tokens")] private readonly TokenEmbedding _embedTokens;
    [ComponentName(Name = "layers")] private readonly ModuleList<DecoderLayer> _layers;
    [ComponentName(Name = "norm")] private readonly RmsNorm _norm;
    [ComponentName(Name = "rotary_emb")] private readonly RotaryEmbedding _rotary;

    /// <summary>Creates the stack described by <paramref name="c"/>.</summary>
    public LlamaModel(LlamaConfig c) : base(nameof(LlamaModel))
    {
        _embedTokens = new TokenEmbedding(c.VocabSize, c.HiddenSize);
        _layers = new ModuleList<DecoderLayer>([.. Enumerable.Range(0, c.NumHiddenLayers).Select(i => new DecoderLayer(c, i))]);
        _norm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        _rotary = new RotaryEmbedding(c.HeadDim, c.MaxPositionEmbeddings, c.RopeTheta);
        RegisterComponents();
    }

    /// <summary>The token embedding (also the output head when embeddings are tied).</summary>
    public TokenEmbedding EmbedTokens => _embedTokens;

    /// <summary>The decoder layers.</summary>
    public IReadOnlyList<DecoderLayer> Layers => [.. _layers];

    internal RotaryEmbedding Rotary => _rotary;

    internal Tensor Forward(Tensor ids, in AttentionContext ctx)
    {
        var x = _embedTokens.call(ids);                                               // (B, T, C)
        foreach (var layer in _layers) x = layer.Forward(x, ctx);
        return _norm.call(x);                                                         // (B, T, C)
    }
}

/// <summary>
/// A Llama/Qwen2 causal language model: <c>model</c> + <c>lm_head</c> (or the embedding matrix itself when
/// <c>tie_word_embeddings</c> is set: one shared parameter, no copy). <c>forward</c> maps ids (B, T) int64 to
/// logits (B, T, V) for training; <see cref="Forward"/> adds positions, masks and a KV cache for packing and decoding.
/// </summary>
public sealed class LlamaForCausalLM : CausalLM
{
    [ComponentName(Name = "model")] private readonly LlamaModel _model;
    [ComponentName(Name = "lm_head")] private readonly Linear? _lmHead;

    /// <summary>Creates the model with HF's initialisation: N(0, <paramref name="initStd"/>) for weights, zero biases, unit norms.</summary>
    public LlamaForCausalLM(LlamaConfig config, double initStd = 0.02) : base(nameof(LlamaForCausalLM))
    {
        config.Validate("config");
        config.CheckFitsInMemory("config");
        Config = config;
        _model = new LlamaModel(config);
        _lmHead = config.TieWordEmbeddings ? null : nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        using (no_grad())
        {
            foreach (var (name, p) in named_parameters())
            {
                if (name.EndsWith("norm.weight", StringComparison.Ordinal)) nn.init.ones_(p);
                else if (name.EndsWith(".bias", StringComparison.Ordinal)) nn.init.zeros_(p);
                else nn.init.normal_(p, 0, initStd);
            }
        }
    }

    /// <summary>The HF config this model was built from.</summary>
    public LlamaConfig Config { get; }

    /// <inheritdoc/>
    public override IDecoderConfig DecoderConfig => Config;

    /// <summary>The decoder stack.</summary>
    public LlamaModel Model => _model;

    /// <summary>The output projection weight (V, C): lm_head's, or the embedding's when tied.</summary>
    public override Parameter OutputWeight => _lmHead?.weight ?? _model.EmbedTokens.Weight;

    /// <summary>
    /// The general forward pass (see <see cref="CausalLM.Forward"/>); <paramref name="positions"/> are the RoPE positions.
    /// </summary>
    public override Tensor Forward(Tensor ids, Tensor? positions = null, Tensor? mask = null, KvCache? cache = null, bool lastOnly = false, Tensor? keep = null)
    {
        long t = ids.shape[1];
        long start = cache?.Length ?? 0;
        if (start + t > _model.Rotary.MaxPositions)
            throw new TailorException(
                $"sequence of {start + t} positions exceeds max_position_embeddings {_model.Rotary.MaxPositions}; shorten the input");
        var (cos, sin) = _model.Rotary.Select(start, t, positions, DType);
        // sdpa's causal flag aligns top-left, which is right only when queries and keys start together (no cached
        // prefix) — or when a single query sees everything. A chunk after a cached prefix needs an explicit mask.
        bool causal = mask is null && (start == 0 || t == 1) && t > 1;
        if (mask is null && start > 0 && t > 1) mask = CausalMask(t, start, ids.device);
        var ctx = new AttentionContext(cos, sin, mask, causal, cache, start);
        var hidden = _model.Forward(ids, ctx);                                        // (B, T, C)
        cache?.Advance(t);
        hidden = SelectForHead(hidden, lastOnly, keep);
        return _lmHead is not null ? _lmHead.call(hidden) : F.linear(hidden, _model.EmbedTokens.Weight); // (B, T|1, V) or (N, V)
    }

    /// <summary>Loads HF Llama/Qwen2 weights (model.*, lm_head.weight unless tied).</summary>
    public override void LoadWeights(string folder) => HfCheckpoint.LoadInto(this, folder, Config.TieWordEmbeddings);

    /// <summary>Builds a model from an HF folder's config.json (weights are loaded separately).</summary>
    public static LlamaForCausalLM FromConfig(LlamaConfig config, long seed = 1337)
    {
        random.manual_seed(seed);
        return new LlamaForCausalLM(config);
    }
}
