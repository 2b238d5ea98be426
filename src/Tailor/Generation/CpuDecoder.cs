using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tailor.Lora;
using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Generation;

/// <summary>
/// Batch-1 decoding on the CPU without a TorchSharp call per operation: the same Llama/Qwen2 forward as
/// <see cref="LlamaForCausalLM.Forward"/> (RMSNorm, rotate-half RoPE, grouped-query attention over a KV cache, SwiGLU,
/// tied or separate head), one token at a time, written as plain C# loops over float arrays with AVX-512/AVX2 vectors.
/// </summary>
/// <remarks>
/// <para>Why: one decoded token of a small model is hundreds of tiny tensor operations, and each TorchSharp call costs
/// about 2 µs of overhead (measured on this project's 2-core machines), more than the arithmetic. Here a layer is four matrix-vector products
/// (q/k/v fused into one, gate/up fused into one) plus loops that touch each value once; on one thread nothing is
/// allocated per token. The matrix-vector products, which carry almost all the work, split their rows over
/// <see cref="Threads"/> threads. A model that does not fit in the caches is bound by how fast its weights stream from
/// memory, so the products read them at half the bytes where that is exact (bfloat16, converted in registers), from
/// 64-byte-aligned rows, with the rows ahead prefetched into L2.</para>
/// <para>It is checked against the reference path: same greedy tokens and logits within 1e-4 of the logit scale
/// (<c>CpuDecoderTests</c>). Weights are copied at construction (as bfloat16 where that is exact, else float32; arithmetic
/// is float32 throughout); the model may be disposed afterwards.
/// Not thread-safe: one sequence at a time.</para>
/// </remarks>
public sealed class CpuDecoder
{
    private readonly int _layers, _hidden, _heads, _kvHeads, _headDim, _ff, _vocab, _capacity;
    private readonly float _eps;
    private readonly Matrix _embed, _head;
    private readonly float[] _finalNorm;
    private readonly Layer[] _layer;
    private readonly float[] _cos, _sin;                       // (capacity, D/2): the two halves share one table
    private readonly float[][] _keys, _values;                 // per layer (KV, capacity, D)

    // Scratch, reused every token.
    private readonly float[] _x, _h, _qkv, _attn, _proj, _gateUp, _act, _scores, _logits;
    private readonly float[] _even, _odd;                      // x's even and odd elements for bfloat16 matrices (MatVec)

    private sealed record Layer(float[] AttnNorm, Matrix Qkv, float[]? QkvBias, Matrix O, float[] MlpNorm, Matrix GateUp, Matrix Down);

    // A row-major weight matrix, stored as float32 or, when every value is a bfloat16 number, as bfloat16 bits (the
    // upper half of the float32): the same values in half the memory, which is what decode time is mostly spent reading.
    // The values start on a 64-byte boundary (a pinned array, Offset elements in), so a 512-bit load of a row whose byte
    // length is a multiple of 64 never straddles two cache lines.
    private sealed class Matrix
    {
        public Matrix(float[] values, int cols, bool allowBf16)
        {
            Cols = cols;
            Rows = values.Length / cols;
            if (allowBf16 && Array.TrueForAll(values, v => (BitConverter.SingleToUInt32Bits(v) & 0xFFFF) == 0))
            {
                (Bf16, Offset) = Aligned<ushort>(values.Length);
                var bits = Bf16.AsSpan(Offset, values.Length);
                for (int i = 0; i < values.Length; i++) bits[i] = (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16);
            }
            else
            {
                (F32, Offset) = Aligned<float>(values.Length);
                values.CopyTo(F32.AsSpan(Offset));
            }
        }

        public int Rows { get; }
        public int Cols { get; }
        public int Offset { get; }
        public float[]? F32 { get; }
        public ushort[]? Bf16 { get; }

        public void CopyRow(int row, Span<float> output)
        {
            if (F32 is not null) { F32.AsSpan(Offset + row * Cols, Cols).CopyTo(output); return; }
            var bits = Bf16.AsSpan(Offset + row * Cols, Cols);
            for (int i = 0; i < Cols; i++) output[i] = BitConverter.UInt32BitsToSingle((uint)bits[i] << 16);
        }

        private static unsafe (T[] Array, int Offset) Aligned<T>(int length) where T : unmanaged
        {
            int extra = 64 / sizeof(T);
            var array = GC.AllocateUninitializedArray<T>(length + extra, pinned: true);   // pinned: the address never moves
            long address = (long)Unsafe.AsPointer(ref array[0]);
            int offset = (int)((64 - address % 64) % 64) / sizeof(T);
            return (array, offset);
        }
    }

    /// <summary>Copies the weights of <paramref name="model"/> (any dtype, on the CPU, no unmerged LoRA layers).</summary>
    /// <param name="model">The model to run.</param>
    /// <param name="capacity">Longest sequence (prompt + new tokens); default and maximum max_position_embeddings.</param>
    /// <param name="threads">Threads for the matrix-vector products; default TorchSharp's intra-op thread count.</param>
    /// <param name="bf16Weights">Store a weight matrix as bfloat16 when that loses nothing (every value is a bfloat16
    /// number, as in a checkpoint saved in bf16); default true. Results are the same either way.</param>
    public CpuDecoder(LlamaForCausalLM model, int? capacity = null, int? threads = null, bool bf16Weights = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (LoraAdapter.Adapters(model).Count > 0)
            throw new TailorException("CpuDecoder runs plain weights; merge the LoRA adapter first (LoraAdapter.Merge).");
        var c = model.Config;
        if (c.OutputBias) throw new TailorException("CpuDecoder does not implement o_proj biases (attention_bias); use TextGenerator.");
        _layers = c.NumHiddenLayers;
        _hidden = c.HiddenSize;
        _heads = c.NumAttentionHeads;
        _kvHeads = c.KeyValueHeads;
        _headDim = c.HeadDim;
        _ff = c.IntermediateSize;
        _vocab = c.VocabSize;
        _eps = (float)c.RmsNormEps;
        _capacity = Math.Min(capacity ?? c.MaxPositionEmbeddings, c.MaxPositionEmbeddings);
        Threads = Math.Max(1, threads ?? get_num_threads());

        using var scope = NewDisposeScope();                                             // the copies' temporaries
        var state = model.state_dict();
        float[] Get(string name) => state[name].detach().to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        Matrix M(float[] values, int cols) => new(values, cols, bf16Weights);
        _embed = M(Get("model.embed_tokens.weight"), _hidden);
        _head = c.TieWordEmbeddings ? _embed : M(Get("lm_head.weight"), _hidden);
        _finalNorm = Get("model.norm.weight");
        _layer = new Layer[_layers];
        for (int i = 0; i < _layers; i++)
        {
            string p = $"model.layers.{i}.";
            _layer[i] = new Layer(
                Get(p + "input_layernorm.weight"),
                M([.. Get(p + "self_attn.q_proj.weight"), .. Get(p + "self_attn.k_proj.weight"), .. Get(p + "self_attn.v_proj.weight")], _hidden),
                c.QkvBias ? [.. Get(p + "self_attn.q_proj.bias"), .. Get(p + "self_attn.k_proj.bias"), .. Get(p + "self_attn.v_proj.bias")] : null,
                M(Get(p + "self_attn.o_proj.weight"), _heads * _headDim),
                Get(p + "post_attention_layernorm.weight"),
                M([.. Get(p + "mlp.gate_proj.weight"), .. Get(p + "mlp.up_proj.weight")], _hidden),
                M(Get(p + "mlp.down_proj.weight"), _ff));
        }

        // Rotary tables as RotaryEmbedding builds them: inv_freq and angles in float64, rounded once to float32.
        int half = _headDim / 2;
        _cos = new float[_capacity * half];
        _sin = new float[_capacity * half];
        for (int pos = 0; pos < _capacity; pos++)
        {
            for (int i = 0; i < half; i++)
            {
                double invFreq = 1.0 / Math.Pow(c.RopeTheta, 2.0 * i / _headDim);
                double angle = pos * invFreq;
                _cos[pos * half + i] = (float)Math.Cos(angle);
                _sin[pos * half + i] = (float)Math.Sin(angle);
            }
        }

        _keys = new float[_layers][];
        _values = new float[_layers][];
        for (int i = 0; i < _layers; i++)
        {
            _keys[i] = new float[_kvHeads * _capacity * _headDim];
            _values[i] = new float[_kvHeads * _capacity * _headDim];
        }
        int qkvRows = (_heads + 2 * _kvHeads) * _headDim;
        _x = new float[_hidden];
        _h = new float[_hidden];
        _qkv = new float[qkvRows];
        _attn = new float[_heads * _headDim];
        _proj = new float[_hidden];
        _gateUp = new float[2 * _ff];
        _act = new float[_ff];
        _scores = new float[_capacity];
        _logits = new float[_vocab];
        int widest = Math.Max(Math.Max(_hidden, _ff), _heads * _headDim);
        _even = new float[(widest + 1) / 2];
        _odd = new float[(widest + 1) / 2];
    }

    // A decoder that reads another's weights and rotary tables (never written after construction) with its own cache and scratch.
    private CpuDecoder(CpuDecoder weights, int threads)
    {
        (_layers, _hidden, _heads, _kvHeads, _headDim, _ff, _vocab, _capacity, _eps) =
            (weights._layers, weights._hidden, weights._heads, weights._kvHeads, weights._headDim, weights._ff, weights._vocab, weights._capacity, weights._eps);
        (_embed, _head, _finalNorm, _layer, _cos, _sin) = (weights._embed, weights._head, weights._finalNorm, weights._layer, weights._cos, weights._sin);
        Threads = Math.Max(1, threads);
        _keys = new float[_layers][];
        _values = new float[_layers][];
        for (int i = 0; i < _layers; i++)
        {
            _keys[i] = new float[_kvHeads * _capacity * _headDim];
            _values[i] = new float[_kvHeads * _capacity * _headDim];
        }
        _x = new float[_hidden];
        _h = new float[_hidden];
        _qkv = new float[(_heads + 2 * _kvHeads) * _headDim];
        _attn = new float[_heads * _headDim];
        _proj = new float[_hidden];
        _gateUp = new float[2 * _ff];
        _act = new float[_ff];
        _scores = new float[_capacity];
        _logits = new float[_vocab];
        int widest = Math.Max(Math.Max(_hidden, _ff), _heads * _headDim);
        _even = new float[(widest + 1) / 2];
        _odd = new float[(widest + 1) / 2];
    }

    /// <summary>
    /// A second decoder over the same weights (shared, not copied) with its own cache, for decoding another sequence on
    /// another thread at the same time; <paramref name="threads"/> for its matrix-vector products.
    /// </summary>
    public CpuDecoder Share(int threads = 1) => new(this, threads);

    /// <summary>
    /// Takes a sequence prefilled elsewhere (by <see cref="LlamaForCausalLM.Forward"/> into a <see cref="KvCache"/>, RoPE
    /// applied to the keys), replacing what was cached. <paramref name="keys"/>[l] and <paramref name="values"/>[l] are
    /// layer l's cache as float32, row-major (B, KV, <paramref name="columns"/>, D); columns [<paramref name="from"/>,
    /// from + <paramref name="length"/>) of row <paramref name="row"/> become positions [0, length) here. Columns before
    /// <paramref name="from"/> are left padding of a batched prefill, whose RoPE positions count from the row's first real
    /// token, so these are the keys of an unpadded prefill. The next <see cref="Forward"/> continues at position length.
    /// </summary>
    public void LoadPrefill(IReadOnlyList<float[]> keys, IReadOnlyList<float[]> values, int columns, int row, int from, int length)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(values);
        if (keys.Count != _layers || values.Count != _layers) throw new ArgumentException($"give one key and one value array per layer ({_layers}).", nameof(keys));
        if (length < 1 || length > _capacity || from < 0 || from + length > columns)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"columns [{from}, {from + length}) must lie in [0, {columns}) and hold at most {_capacity} positions.");
        int d = _headDim;
        for (int l = 0; l < _layers; l++)
        {
            for (int g = 0; g < _kvHeads; g++)
            {
                int source = ((row * _kvHeads + g) * columns + from) * d;                  // one head's positions are contiguous in both layouts
                keys[l].AsSpan(source, length * d).CopyTo(_keys[l].AsSpan(g * _capacity * d, length * d));
                values[l].AsSpan(source, length * d).CopyTo(_values[l].AsSpan(g * _capacity * d, length * d));
            }
        }
        Length = length;
    }

    /// <summary>Threads used for the matrix-vector products.</summary>
    public int Threads { get; }

    /// <summary>Positions in the cache (the next token goes at this position).</summary>
    public int Length { get; private set; }

    /// <summary>Longest sequence this decoder holds.</summary>
    public int Capacity => _capacity;

    /// <summary>Forgets the cached positions.</summary>
    public void Reset() => Length = 0;

    /// <summary>
    /// Feeds <paramref name="ids"/> one by one after the cached positions and returns the logits (V) after the last one.
    /// The returned span is valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> Forward(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0) throw new ArgumentException("give at least one token.", nameof(ids));
        for (int i = 0; i < ids.Count; i++) Step(ids[i], computeLogits: i == ids.Count - 1);
        return _logits;
    }

    /// <summary>
    /// Greedy decoding from scratch: prefill <paramref name="prompt"/>, then append the argmax token
    /// <paramref name="newTokens"/> times (no stop at EOS).
    /// </summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int newTokens)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Reset();
        var output = new List<int>(newTokens);
        var logits = Forward(prompt);
        for (int i = 0; i < newTokens; i++)
        {
            int next = Sampler.ArgMax(logits);
            output.Add(next);
            if (i + 1 < newTokens) logits = Forward([next]);
        }
        return output;
    }

    private void Step(int token, bool computeLogits)
    {
        if ((uint)token >= (uint)_vocab) throw new ArgumentOutOfRangeException(nameof(token), token, $"token id outside the vocabulary [0, {_vocab}).");
        if (Length >= _capacity) throw new TailorException($"the decoder's cache is full ({_capacity} positions); ask for fewer tokens.");
        int pos = Length;
        int d = _headDim, qRows = _heads * d, kvRows = _kvHeads * d;
        _embed.CopyRow(token, _x);

        for (int l = 0; l < _layers; l++)
        {
            var layer = _layer[l];
            RmsNorm(_x, layer.AttnNorm, _h);
            MatVec(layer.Qkv, _h, _qkv);                                                 // (H·D + 2·KV·D)
            if (layer.QkvBias is { } bias) Add(_qkv, bias);
            for (int head = 0; head < _heads + _kvHeads; head++) Rope(_qkv.AsSpan(head * d, d), pos);   // q and k heads
            var keys = _keys[l];
            var values = _values[l];
            for (int g = 0; g < _kvHeads; g++)
            {
                _qkv.AsSpan(qRows + g * d, d).CopyTo(keys.AsSpan((g * _capacity + pos) * d, d));
                _qkv.AsSpan(qRows + kvRows + g * d, d).CopyTo(values.AsSpan((g * _capacity + pos) * d, d));
            }
            Attention(keys, values, pos);                                                // (H·D)
            MatVec(layer.O, _attn, _proj);
            Add(_x, _proj);

            RmsNorm(_x, layer.MlpNorm, _h);
            MatVec(layer.GateUp, _h, _gateUp);                                           // (2·ff): gate then up
            for (int i = 0; i < _ff; i++)
            {
                float g = _gateUp[i];
                _act[i] = g / (1f + MathF.Exp(-g)) * _gateUp[_ff + i];                   // silu(gate) · up
            }
            MatVec(layer.Down, _act, _proj);
            Add(_x, _proj);
        }
        Length++;
        if (!computeLogits) return;
        RmsNorm(_x, _finalNorm, _h);
        MatVec(_head, _h, _logits);
    }

    private void RmsNorm(float[] x, float[] weight, float[] output)
    {
        float sum = Dot(x, x);
        float scale = 1f / MathF.Sqrt(sum / x.Length + _eps);
        for (int i = 0; i < x.Length; i++) output[i] = weight[i] * (x[i] * scale);
    }

    // x·cos + rotate_half(x)·sin, rotate_half(x) = [-x₂, x₁].
    private void Rope(Span<float> x, int pos)
    {
        int half = x.Length / 2;
        var cos = _cos.AsSpan(pos * half, half);
        var sin = _sin.AsSpan(pos * half, half);
        for (int i = 0; i < half; i++)
        {
            float a = x[i], b = x[half + i];
            x[i] = a * cos[i] - b * sin[i];
            x[half + i] = b * cos[i] + a * sin[i];
        }
    }

    // softmax(q·Kᵀ / √D) · V for each query head over positions 0..pos, its key/value head shared by the group.
    private void Attention(float[] keys, float[] values, int pos)
    {
        int d = _headDim, groups = _heads / _kvHeads, n = pos + 1;
        float scale = 1f / MathF.Sqrt(d);
        var scores = _scores.AsSpan(0, n);
        for (int head = 0; head < _heads; head++)
        {
            int g = head / groups;
            var q = _qkv.AsSpan(head * d, d);
            float max = float.NegativeInfinity;
            for (int s = 0; s < n; s++)
            {
                scores[s] = Dot(q, keys.AsSpan((g * _capacity + s) * d, d)) * scale;
                max = MathF.Max(max, scores[s]);
            }
            float total = 0;
            for (int s = 0; s < n; s++) total += scores[s] = MathF.Exp(scores[s] - max);
            var output = _attn.AsSpan(head * d, d);
            output.Clear();
            for (int s = 0; s < n; s++) Axpy(scores[s] / total, values.AsSpan((g * _capacity + s) * d, d), output);
        }
    }

    /// <summary>True when at least one weight matrix is held as bfloat16.</summary>
    public bool UsesBf16Weights => _embed.Bf16 is not null || _layer.Any(l => l.Qkv.Bf16 is not null);

    // y = W·x for W (rows, cols) row-major, rows split over the threads. A bfloat16 matrix with an even number of
    // columns reads x as its even and odd elements (split once here), see Dot4Pairs.
    private void MatVec(Matrix w, float[] x, float[] y)
    {
        int rows = w.Rows, cols = w.Cols;
        bool pairs = w.Bf16 is not null && cols % 2 == 0;
        if (pairs)
        {
            int half = cols / 2;
            for (int i = 0; i < half; i++)
            {
                _even[i] = x[2 * i];
                _odd[i] = x[2 * i + 1];
            }
        }
        if (Threads == 1 || (long)rows * cols < 1 << 16)
        {
            MatVecRows(w, x, y, 0, rows, pairs);
            return;
        }
        int chunk = (rows / Threads + 3) & ~3;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            int start = t * chunk, end = Math.Min(rows, start + chunk);
            if (start < end) MatVecRows(w, x, y, start, end, pairs);
        });
    }

    private void MatVecRows(Matrix w, float[] x, float[] y, int start, int end, bool pairs)
    {
        int cols = x.Length, r = start;
        if (w.Bf16 is { } bits)
        {
            var all = bits.AsSpan(w.Offset);
            if (pairs)
            {
                var words = MemoryMarshal.Cast<ushort, uint>(all);
                int half = cols / 2;
                for (; r + 4 <= end; r += 4)
                {
                    var (a, b, c, d) = Dot4Pairs(words.Slice(r * half, 4 * half), _even.AsSpan(0, half), _odd.AsSpan(0, half));
                    y[r] = a; y[r + 1] = b; y[r + 2] = c; y[r + 3] = d;
                }
            }
            for (; r < end; r++)
            {
                float sum = 0;
                var row = all.Slice(r * cols, cols);
                for (int i = 0; i < cols; i++) sum += BitConverter.UInt32BitsToSingle((uint)row[i] << 16) * x[i];
                y[r] = sum;
            }
            return;
        }
        var f32 = w.F32.AsSpan(w.Offset);
        for (; r + 4 <= end; r += 4)
        {
            var (a, b, c, d) = Dot4(f32.Slice(r * cols, 4 * cols), x);
            y[r] = a; y[r + 1] = b; y[r + 2] = c; y[r + 3] = d;
        }
        for (; r < end; r++) y[r] = Dot(f32.Slice(r * cols, cols), x);
    }

    // Four bfloat16 rows against one float vector, read as 32-bit words of two neighbours: a word's low half is the
    // even element and its high half the odd one, so `word << 16` is the even element's float32 and `word & 0xFFFF0000`
    // the odd one's, in place, without widening across lanes. They multiply x's even and odd elements (split once per
    // matrix-vector product), each into accumulators of its own. Each step also prefetches the same cache lines of the
    // rows two blocks on into L2 (Ahead): the hardware prefetcher stops at 4 KiB page boundaries, and a block of four
    // rows of a 512-wide matrix is one page, so without it every block starts by waiting on memory.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float, float, float, float) Dot4Pairs(ReadOnlySpan<uint> rows, ReadOnlySpan<float> even, ReadOnlySpan<float> odd)
    {
        int n = even.Length, i = 0;
        ref uint w0 = ref MemoryMarshal.GetReference(rows);
        ref uint w1 = ref Unsafe.Add(ref w0, n);
        ref uint w2 = ref Unsafe.Add(ref w1, n);
        ref uint w3 = ref Unsafe.Add(ref w2, n);
        ref float er = ref MemoryMarshal.GetReference(even);
        ref float or = ref MemoryMarshal.GetReference(odd);
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        // A raw pointer (the matrices are pinned), not a managed ref: the rows ahead may lie past the array's end.
        uint* first = (uint*)Unsafe.AsPointer(ref w0) + 4 * n * PrefetchBlocks;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
            var high = Vector512.Create(0xFFFF0000u);
            for (; i + 16 <= n; i += 16)
            {
                Ahead(first + i, n);
                var xe = Vector512.LoadUnsafe(ref er, (nuint)i);
                var xo = Vector512.LoadUnsafe(ref or, (nuint)i);
                var u0 = Vector512.LoadUnsafe(ref w0, (nuint)i);
                var u1 = Vector512.LoadUnsafe(ref w1, (nuint)i);
                var u2 = Vector512.LoadUnsafe(ref w2, (nuint)i);
                var u3 = Vector512.LoadUnsafe(ref w3, (nuint)i);
                e0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u0, 16).AsSingle(), xe, e0);
                o0 = Vector512.FusedMultiplyAdd((u0 & high).AsSingle(), xo, o0);
                e1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u1, 16).AsSingle(), xe, e1);
                o1 = Vector512.FusedMultiplyAdd((u1 & high).AsSingle(), xo, o1);
                e2 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u2, 16).AsSingle(), xe, e2);
                o2 = Vector512.FusedMultiplyAdd((u2 & high).AsSingle(), xo, o2);
                e3 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u3, 16).AsSingle(), xe, e3);
                o3 = Vector512.FusedMultiplyAdd((u3 & high).AsSingle(), xo, o3);
            }
            s0 = Vector512.Sum(e0 + o0); s1 = Vector512.Sum(e1 + o1); s2 = Vector512.Sum(e2 + o2); s3 = Vector512.Sum(e3 + o3);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
            var high = Vector256.Create(0xFFFF0000u);
            for (; i + 8 <= n; i += 8)
            {
                var xe = Vector256.LoadUnsafe(ref er, (nuint)i);
                var xo = Vector256.LoadUnsafe(ref or, (nuint)i);
                var u0 = Vector256.LoadUnsafe(ref w0, (nuint)i);
                var u1 = Vector256.LoadUnsafe(ref w1, (nuint)i);
                var u2 = Vector256.LoadUnsafe(ref w2, (nuint)i);
                var u3 = Vector256.LoadUnsafe(ref w3, (nuint)i);
                e0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u0, 16).AsSingle(), xe, e0);
                o0 = Vector256.FusedMultiplyAdd((u0 & high).AsSingle(), xo, o0);
                e1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u1, 16).AsSingle(), xe, e1);
                o1 = Vector256.FusedMultiplyAdd((u1 & high).AsSingle(), xo, o1);
                e2 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u2, 16).AsSingle(), xe, e2);
                o2 = Vector256.FusedMultiplyAdd((u2 & high).AsSingle(), xo, o2);
                e3 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u3, 16).AsSingle(), xe, e3);
                o3 = Vector256.FusedMultiplyAdd((u3 & high).AsSingle(), xo, o3);
            }
            s0 = Vector256.Sum(e0 + o0); s1 = Vector256.Sum(e1 + o1); s2 = Vector256.Sum(e2 + o2); s3 = Vector256.Sum(e3 + o3);
        }
        for (; i < n; i++)
        {
            float xe = Unsafe.Add(ref er, i), xo = Unsafe.Add(ref or, i);
            uint u0 = Unsafe.Add(ref w0, i), u1 = Unsafe.Add(ref w1, i), u2 = Unsafe.Add(ref w2, i), u3 = Unsafe.Add(ref w3, i);
            s0 += BitConverter.UInt32BitsToSingle(u0 << 16) * xe + BitConverter.UInt32BitsToSingle(u0 & 0xFFFF0000u) * xo;
            s1 += BitConverter.UInt32BitsToSingle(u1 << 16) * xe + BitConverter.UInt32BitsToSingle(u1 & 0xFFFF0000u) * xo;
            s2 += BitConverter.UInt32BitsToSingle(u2 << 16) * xe + BitConverter.UInt32BitsToSingle(u2 & 0xFFFF0000u) * xo;
            s3 += BitConverter.UInt32BitsToSingle(u3 << 16) * xe + BitConverter.UInt32BitsToSingle(u3 & 0xFFFF0000u) * xo;
        }
        return (s0, s1, s2, s3);
    }

    // Blocks of four rows ahead that Dot4Pairs and Dot4 prefetch: 2, 4 and 8 timed alike in the same kind of A/B on the
    // M shape (29.5M, bf16 rows of 1 KiB), so the smallest, which also stays inside small matrices. Prefetching past a matrix's end is
    // harmless.
    private const int PrefetchBlocks = 2;

    // Hints the cache line at row0 of each of four rows of length n into L2 (prefetcht1; prefetches never fault, so any
    // address will do).
    // L2 rather than L1: builds that differed only in this instruction, timing CpuDecoder.Greedy on the M shape at one
    // thread beside a one-thread pre-training (indicative only), gave about 2x more tokens/s with prefetcht1 than with
    // prefetcht0. The quotable figures are bench/decode-vs-llamacpp.sh's (README): on the M shape, one thread, quiet,
    // 406 tokens/s bf16-held and 190 f32-held after this kernel, against 201 and 208 before it (2026-12-05).
    // The AVX2 branches do not prefetch: with AVX-512 disabled (DOTNET_EnableAVX512F=0) the same A/B measured no
    // difference, on this machine.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Ahead<T>(T* row0, int n) where T : unmanaged
    {
        if (!Sse.IsSupported) return;
        Sse.Prefetch1(row0);
        Sse.Prefetch1(row0 + n);
        Sse.Prefetch1(row0 + 2 * n);
        Sse.Prefetch1(row0 + 3 * n);
    }

    // Four rows against one vector: x is loaded once per four rows; the rows two blocks on are prefetched as in Dot4Pairs.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float, float, float, float) Dot4(ReadOnlySpan<float> rows, ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        ref float w0 = ref MemoryMarshal.GetReference(rows);
        ref float w1 = ref Unsafe.Add(ref w0, n);
        ref float w2 = ref Unsafe.Add(ref w1, n);
        ref float w3 = ref Unsafe.Add(ref w2, n);
        ref float xr = ref MemoryMarshal.GetReference(x);
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            float* first = (float*)Unsafe.AsPointer(ref w0) + 4 * n * PrefetchBlocks;   // as in Dot4Pairs
            for (; i + 16 <= n; i += 16)
            {
                Ahead(first + i, n);
                var xv = Vector512.LoadUnsafe(ref xr, (nuint)i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref w0, (nuint)i), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref w1, (nuint)i), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref w2, (nuint)i), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref w3, (nuint)i), xv, a3);
            }
            s0 = Vector512.Sum(a0); s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2); s3 = Vector512.Sum(a3);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 8 <= n; i += 8)
            {
                var xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref w0, (nuint)i), xv, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref w1, (nuint)i), xv, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref w2, (nuint)i), xv, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref w3, (nuint)i), xv, a3);
            }
            s0 = Vector256.Sum(a0); s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2); s3 = Vector256.Sum(a3);
        }
        for (; i < n; i++)
        {
            float xi = Unsafe.Add(ref xr, i);
            s0 += Unsafe.Add(ref w0, i) * xi;
            s1 += Unsafe.Add(ref w1, i) * xi;
            s2 += Unsafe.Add(ref w2, i) * xi;
            s3 += Unsafe.Add(ref w3, i) * xi;
        }
        return (s0, s1, s2, s3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> acc = default;
            for (; i + 16 <= n; i += 16)
                acc = Vector512.FusedMultiplyAdd(Vector512.Create(a.Slice(i, 16)), Vector512.Create(b.Slice(i, 16)), acc);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> acc = default;
            for (; i + 8 <= n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.Create(a.Slice(i, 8)), Vector256.Create(b.Slice(i, 8)), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    private static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= x.Length; i += 16) (Vector512.Create(x.Slice(i, 16)) + Vector512.Create(y.Slice(i, 16))).CopyTo(x.Slice(i, 16));
        for (; i < x.Length; i++) x[i] += y[i];
    }

    // y += alpha·x, as one rounding per element (a fused multiply-add) on the vector path and two on the scalar tail.
    private static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(alpha);
            for (; i + 16 <= y.Length; i += 16)
                Vector512.FusedMultiplyAdd(a, Vector512.Create(x.Slice(i, 16)), Vector512.Create(y.Slice(i, 16))).CopyTo(y.Slice(i, 16));
        }
        for (; i < y.Length; i++) y[i] += alpha * x[i];
    }
}
