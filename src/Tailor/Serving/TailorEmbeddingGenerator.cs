using Microsoft.Extensions.AI;
using Tailor.Model;

namespace Tailor.Serving;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a loaded BERT-family encoder:
/// each string becomes its sentence embedding with the folder's pooling and normalisation (see
/// <see cref="PretrainedEncoder.Embed"/>). <see cref="EmbeddingGenerationOptions.Dimensions"/>, when set, must equal
/// the model's width (these models are not trained for truncated vectors). Calls are serialised: one forward pass at a
/// time over the shared weights. Usage reports the input tokens, special tokens included. Owns the encoder when asked to.
/// </summary>
public sealed class TailorEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly PretrainedEncoder _encoder;
    private readonly bool _ownsEncoder;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Wraps <paramref name="encoder"/>; <paramref name="modelId"/> names it in results (default: the folder name).</summary>
    public TailorEmbeddingGenerator(PretrainedEncoder encoder, string? modelId = null, bool ownsEncoder = false)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        _encoder = encoder;
        _ownsEncoder = ownsEncoder;
        ModelId = modelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(encoder.Folder));
        _metadata = new EmbeddingGeneratorMetadata("tailor", null, ModelId, encoder.Dimension);
    }

    /// <summary>The model id put on every embedding.</summary>
    public string ModelId { get; }

    /// <inheritdoc/>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values.ToList();
        if (texts.Any(t => t is null)) throw new ArgumentException("an input string is null", nameof(values));
        if (options?.Dimensions is int d && d != _encoder.Dimension)
            throw new ArgumentException($"Dimensions {d} is not this model's width {_encoder.Dimension}; leave it unset.", nameof(options));
        if (texts.Count == 0) return [];
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (vectors, tokens) = await Task.Run(() =>
            {
                var v = _encoder.Embed(texts);
                long n = texts.Sum(t => (long)_encoder.Tokenizer.Encode(t, _encoder.MaxTokens).Ids.Length);
                return (v, n);
            }, cancellationToken).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;
            var result = new GeneratedEmbeddings<Embedding<float>>(vectors.Select(v => new Embedding<float>(v) { ModelId = ModelId, CreatedAt = now }))
            {
                Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens },
            };
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(PretrainedEncoder)) return _encoder;
        return null;
    }

    /// <summary>Releases the gate, and the encoder when owned.</summary>
    public void Dispose()
    {
        _gate.Dispose();
        if (_ownsEncoder) _encoder.Dispose();
    }
}
