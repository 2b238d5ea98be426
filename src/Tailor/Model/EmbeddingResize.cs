using Tailor.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Model;

/// <summary>
/// transformers' <c>resize_token_embeddings</c> with its default <c>mean_resizing</c>, for a <see cref="CausalLM"/>:
/// a copy of the model whose input embedding and output head (the same parameter when tied) have more rows. Rows of the
/// old ids are copied bit for bit; every new row is drawn from N(μ, 1e-9·Σ), μ and Σ the mean and covariance of the old
/// rows (Hewitt, "Initializing new word embeddings for pretrained language models", 2021), or is μ itself when Σ is not
/// positive definite (fewer rows than columns). A new row near the mean gives the new token a logit near the average
/// one, so adding it barely changes the model's next-token distribution before training, where a random row could
/// dominate it. An untied head's new rows are drawn the same way from its own old rows.
/// </summary>
public static class EmbeddingResize
{
    /// <summary>transformers' scale on the covariance of the draw (<c>epsilon</c> in <c>_init_added_embeddings_weights_with_mean</c>).</summary>
    public const double CovarianceScale = 1e-9;

    /// <summary>
    /// The input embedding and the output head as (state-dict name, parameter) pairs: GPT-2's
    /// <c>transformer.wte.weight</c> / Llama's <c>model.embed_tokens.weight</c>, then <c>lm_head.weight</c>, which is the
    /// embedding's own parameter when the model ties them (two names, one tensor, as in transformers).
    /// </summary>
    public static IReadOnlyList<(string Name, Parameter Weight)> Layers(CausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var input = model switch
        {
            Gpt2LMHeadModel g => ("transformer.wte.weight", g.Transformer.Wte.Weight),
            LlamaForCausalLM l => ("model.embed_tokens.weight", l.Model.EmbedTokens.Weight),
            _ => throw new ArgumentException($"no token embedding known for {model.GetType().Name}", nameof(model)),
        };
        return [input, ("lm_head.weight", model.OutputWeight)];
    }

    /// <summary>
    /// The config edit that goes with a tokenizer whose vocabulary grew (<c>ChatTokens.AddTo</c>): eos_token_id led by the
    /// tokenizer's EOS (<c>&lt;|im_end|&gt;</c>) and keeping the old EOS ids after it, so generation stops at the end of a
    /// turn and still at the base's end of text; pad_token_id the tokenizer's pad token.
    /// </summary>
    public static Action<IDecoderConfig> TokenIdsOf(TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return config =>
        {
            int[] eos = [.. new[] { tokenizer.EosId }.OfType<int>().Concat(config.EosTokenId ?? []).Distinct()];
            switch (config)
            {
                case Gpt2Config g: (g.EosTokenId, g.PadTokenId) = (eos.Length > 0 ? eos : null, tokenizer.PadId); break;
                case LlamaConfig l: (l.EosTokenId, l.PadTokenId) = (eos.Length > 0 ? eos : null, tokenizer.PadId); break;
                default: throw new ArgumentException($"no token ids known for {config.GetType().Name}", nameof(config));
            }
        };
    }

    /// <summary>
    /// A new model like <paramref name="model"/> (same dtype, device and train/eval mode) with <paramref name="rows"/>
    /// vocabulary rows: rows below <paramref name="firstNew"/> copied, rows from it drawn as the class comment says with
    /// <paramref name="generator"/>. <paramref name="editConfig"/> may change the new config further (token ids). The
    /// caller owns the returned model; <paramref name="model"/> is left as it was.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="firstNew"/> is not in (0, rows] or exceeds the model's rows.</exception>
    public static CausalLM Resize(CausalLM model, int rows, int firstNew, Generator generator, Action<IDecoderConfig>? editConfig = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(generator);
        int oldRows = model.DecoderConfig.VocabSize;
        if (firstNew <= 0 || firstNew > rows || firstNew > oldRows)
            throw new ArgumentOutOfRangeException(nameof(firstNew), $"first new row {firstNew} must be in (0, min({rows}, {oldRows})]");
        var config = model.DecoderConfig.Clone();
        switch (config)
        {
            case Gpt2Config g: g.VocabSize = rows; break;
            case LlamaConfig l: l.VocabSize = rows; break;
            default: throw new ArgumentException($"no vocabulary size known for {config.GetType().Name}", nameof(model));
        }
        editConfig?.Invoke(config);

        var grown = CausalLMs.Create(config, initStd: 0);
        try
        {
            if (model.DType != ScalarType.Float32) grown.to(model.DType);
            if (model.Device.type != DeviceType.CPU) grown.to(model.Device);
            grown.train(model.training);
            var old = model.state_dict();
            var vocabulary = Layers(model).Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
            using var _ = no_grad();
            foreach (var (name, target) in grown.state_dict())
            {
                if (!old.TryGetValue(name, out var source))
                    throw new InvalidOperationException($"{name} of the resized model has no counterpart in the original");
                if (!vocabulary.Contains(name))
                {
                    target.copy_(source);
                    continue;
                }
                int keep = Math.Min(firstNew, rows);
                target.narrow(0, 0, keep).copy_(source.narrow(0, 0, keep));
                if (rows > keep)
                {
                    using var drawn = MeanResizedRows(source.narrow(0, 0, keep), rows - keep, generator);
                    target.narrow(0, keep, rows - keep).copy_(drawn);
                }
            }
            return grown;
        }
        catch
        {
            grown.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="count"/> rows drawn from N(μ, 1e-9·Σ) of <paramref name="old"/>'s rows (V, C), computed in float32;
    /// μ repeated when 1e-9·Σ has no Cholesky factor. Returns (count, C) in <paramref name="old"/>'s dtype; the caller owns it.
    /// </summary>
    public static Tensor MeanResizedRows(Tensor old, int count, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(old);
        ArgumentNullException.ThrowIfNull(generator);
        using var scope = NewDisposeScope();
        var x = old.to_type(ScalarType.Float32);                                      // (V, C)
        var mean = x.mean([0]);                                                       // (C)
        var centered = x - mean;                                                      // (V, C)
        var covariance = centered.t().matmul(centered).div(x.shape[0]).mul(CovarianceScale);   // (C, C)
        var (factor, info) = linalg.cholesky_ex(covariance);                          // lower triangular L, L·Lᵀ = 1e-9·Σ
        var rows = mean.unsqueeze(0).expand(count, -1);                               // (count, C)
        if (info.item<int>() == 0)
        {
            var z = randn([count, x.shape[1]], ScalarType.Float32, generator: generator); // (count, C) ~ N(0, I)
            rows = rows + z.matmul(factor.t());                                       // ~ N(μ, L·Lᵀ)
        }
        return rows.to_type(old.dtype).contiguous().MoveToOuterDisposeScope();
    }
}
