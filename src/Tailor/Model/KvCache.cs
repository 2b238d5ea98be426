using static TorchSharp.torch;

namespace Tailor.Model;

/// <summary>
/// A preallocated key/value cache: per layer, K and V of shape (B, KV, capacity, D) in the model's dtype. New keys and
/// values are copied into place (no grow-by-cat); attention reads the prefix [0, Length + T). Owns its tensors: dispose it.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    /// <summary>Allocates the cache for <paramref name="batch"/> rows of up to <paramref name="capacity"/> positions.</summary>
    public KvCache(IDecoderConfig config, long batch, long capacity, ScalarType dtype, Device device)
    {
        if (capacity > config.MaxPositionEmbeddings)
            throw new TailorException(
                $"KV cache capacity {capacity} exceeds max_position_embeddings {config.MaxPositionEmbeddings}; ask for fewer tokens");
        Batch = batch;
        Capacity = capacity;
        _keys = new Tensor[config.NumHiddenLayers];
        _values = new Tensor[config.NumHiddenLayers];
        for (int i = 0; i < _keys.Length; i++)
        {
            // Created outside any step scope on purpose: the cache outlives every decoded token.
            _keys[i] = zeros([batch, config.KeyValueHeads, capacity, config.HeadDim], dtype, device).DetachFromDisposeScope();
            _values[i] = zeros([batch, config.KeyValueHeads, capacity, config.HeadDim], dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>
    /// A cache over the first <paramref name="batch"/> rows of tensors someone else owns (per layer (B', KV, capacity, D),
    /// B' &gt;= batch), holding <paramref name="length"/> positions. Disposing it frees only its views, never the storage.
    /// Lets a serving engine keep one long-lived cache and decode a changing number of rows against it.
    /// </summary>
    internal KvCache(IReadOnlyList<Tensor> keys, IReadOnlyList<Tensor> values, long batch, long length)
    {
        Batch = batch;
        Capacity = keys[0].shape[2];
        Length = length;
        _keys = [.. keys.Select(k => k.narrow(0, 0, batch))];
        _values = [.. values.Select(v => v.narrow(0, 0, batch))];
    }

    /// <summary>Rows in the cache.</summary>
    public long Batch { get; }

    /// <summary>Positions the cache can hold.</summary>
    public long Capacity { get; }

    /// <summary>Positions already written (the next write starts here).</summary>
    public long Length { get; private set; }

    /// <summary>Writes (B, KV, T, D) keys/values at <paramref name="start"/> and returns views of the prefix (B, KV, start+T, D).</summary>
    internal (Tensor Keys, Tensor Values) Update(int layer, long start, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        if (start + t > Capacity)
            throw new TailorException($"KV cache is full ({Capacity} positions); generation asked for position {start + t}");
        _keys[layer].narrow(2, start, t).copy_(k);
        _values[layer].narrow(2, start, t).copy_(v);
        return (_keys[layer].narrow(2, 0, start + t), _values[layer].narrow(2, 0, start + t));
    }

    /// <summary>Layer <paramref name="layer"/>'s key storage, (B, KV, capacity, D); owned by this cache.</summary>
    internal Tensor Keys(int layer) => _keys[layer];

    /// <summary>Layer <paramref name="layer"/>'s value storage, (B, KV, capacity, D); owned by this cache.</summary>
    internal Tensor Values(int layer) => _values[layer];

    /// <summary>Marks <paramref name="t"/> more positions as written (the model calls this after each forward).</summary>
    internal void Advance(long t) => Length += t;

    /// <summary>Forgets the cached positions (the memory is reused).</summary>
    public void Reset() => Length = 0;

    /// <summary>Frees the cache tensors.</summary>
    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
