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
/// memory, so the products read them at half the bytes where that is exact (bfloat16, converted in registers), four
/// rows at a time from one sequential stream (the matrix stored in blocks of four rows, 64 bytes of each in turn, see
/// Matrix), prefetched a fixed distance ahead.</para>
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

    private readonly Work _work;                               // scratch, reused every call

    // Prefill takes the prompt this many tokens at a time: each block of four weight rows is read from memory once for
    // all of them (it stays in L1 while the next token's products use it), so a prompt costs about one weight pass per
    // block of tokens instead of one per token. Sixteen keeps the work arrays small (hidden 4096, ff 11008: under 5 MB).
    private const int PrefillBlock = 16;

    // Work arrays for up to PrefillBlock tokens, token t's values at row t (rows of each array's own width).
    private sealed class Work(int hidden, int qkv, int attention, int ff, int widest, int capacity, int vocab)
    {
        public readonly float[] X = new float[PrefillBlock * hidden], H = new float[PrefillBlock * hidden];
        public readonly float[] Qkv = new float[PrefillBlock * qkv], Attention = new float[PrefillBlock * attention];
        public readonly float[] Projection = new float[PrefillBlock * hidden];
        public readonly float[] GateUp = new float[PrefillBlock * 2 * ff], Activation = new float[PrefillBlock * ff];
        public readonly float[] Even = new float[PrefillBlock * ((widest + 1) / 2)], Odd = new float[PrefillBlock * ((widest + 1) / 2)];   // MatMul
        public readonly float[] Scores = new float[capacity], Logits = new float[vocab];
    }

    private sealed record Layer(float[] AttnNorm, Matrix Qkv, float[]? QkvBias, Matrix O, float[] MlpNorm, Matrix GateUp, Matrix Down);

    // A weight matrix (rows, cols), stored as float32 or, when every value is a bfloat16 number and cols is even, as
    // bfloat16 bits (the upper half of the float32): the same values in half the memory, which is what decode time is
    // mostly spent reading. The order is laid out for the products (Dot4Pairs, Dot4), which take four rows at a time:
    // each block of four rows is stored as its first 64 bytes of row 0, of row 1, of row 2, of row 3, then the next 64
    // bytes of each, and so on (the columns past the last whole 64 bytes follow, row by row). A product then reads one
    // sequential stream, not four, and prefetches a fixed distance ahead of it. Rows past the last whole block are stored
    // as they are. Once all matrices are made, Pack moves them into shared blocks in huge pages (HugePages), in the order
    // a token reads them, each starting on a 64-byte boundary (Offset elements in), so no 512-bit load straddles two
    // cache lines.
    private sealed class Matrix
    {
        public Matrix(float[] values, int cols, bool allowBf16)
        {
            Cols = cols;
            Rows = values.Length / cols;
            if (allowBf16 && cols % 2 == 0 && Array.TrueForAll(values, v => (BitConverter.SingleToUInt32Bits(v) & 0xFFFF) == 0))
            {
                Chunk = 32;
                var bits = Bf16 = new ushort[values.Length];                             // until Pack
                for (int r = 0; r < Rows; r++)
                    for (int c = 0; c < cols; c++) bits[Index(r, c)] = (ushort)(BitConverter.SingleToUInt32Bits(values[r * cols + c]) >> 16);
            }
            else
            {
                Chunk = 16;
                var stored = F32 = new float[values.Length];
                for (int r = 0; r < Rows; r++)
                    for (int c = 0; c < cols; c++) stored[Index(r, c)] = values[r * cols + c];
            }
        }

        public int Rows { get; }
        public int Cols { get; }
        public int Offset { get; private set; }
        public float[]? F32 { get; private set; }
        public ushort[]? Bf16 { get; private set; }

        /// <summary>Elements in 64 bytes: 32 bfloat16 or 16 float32.</summary>
        public int Chunk { get; }

        /// <summary>Rows stored in blocks of four (the rest follow row-major).</summary>
        public int BlockRows => Rows / 4 * 4;

        /// <summary>Columns in whole chunks.</summary>
        public int ChunkCols => Cols / Chunk * Chunk;

        // Where element (row, col) is stored, counted from Offset. A block of four rows starts where its first row would
        // start row-major, and so do the rows after the last block.
        public int Index(int row, int col)
        {
            if (row >= BlockRows) return row * Cols + col;
            int block = row / 4 * 4 * Cols, j = row % 4, full = ChunkCols;
            return col < full
                ? block + col / Chunk * 4 * Chunk + j * Chunk + col % Chunk
                : block + 4 * full + j * (Cols - full) + (col - full);
        }

        public void CopyRow(int row, Span<float> output)
        {
            for (int c = 0; c < Cols; c++)
            {
                int i = Offset + Index(row, c);
                output[c] = F32 is not null ? F32[i] : BitConverter.UInt32BitsToSingle((uint)Bf16![i] << 16);
            }
        }

        // Moves the values of the matrices into blocks of HugePages, one per element type (more where one would pass a
        // gigabyte).
        public static void Pack(IEnumerable<Matrix> matrices)
        {
            var all = matrices.Distinct().ToList();                                  // a tied head is the embedding
            Pack(all.Where(m => m.Bf16 is not null).ToList(), m => m.Bf16!, (m, block, offset) => (m.Bf16, m.Offset) = (block, offset));
            Pack(all.Where(m => m.F32 is not null).ToList(), m => m.F32!, (m, block, offset) => (m.F32, m.Offset) = (block, offset));
        }

        private static unsafe void Pack<T>(List<Matrix> matrices, Func<Matrix, T[]> values, Action<Matrix, T[], int> place) where T : unmanaged
        {
            const long BlockBytes = 1L << 30;
            int align = 64 / sizeof(T);
            for (int first = 0; first < matrices.Count;)
            {
                int last = first;
                long length = 0;
                var starts = new List<long>();
                for (; last < matrices.Count && (last == first || (length + values(matrices[last]).Length) * sizeof(T) <= BlockBytes); last++)
                {
                    starts.Add(length);
                    length += (values(matrices[last]).Length + align - 1) / align * align;
                }
                var (block, offset) = HugePages.Allocate<T>(checked((int)length));
                for (int i = first; i < last; i++)
                {
                    int at = offset + (int)starts[i - first];
                    values(matrices[i]).CopyTo(block.AsSpan(at));
                    place(matrices[i], block, at);
                }
                HugePages.Collapse(block, offset, (int)length);
                first = last;
            }
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
        Matrix.Pack([_embed, .. _layer.SelectMany(l => new[] { l.Qkv, l.O, l.GateUp, l.Down }), _head]);

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
        _work = NewWork();
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
        _work = NewWork();
    }

    private Work NewWork() =>
        new(_hidden, (_heads + 2 * _kvHeads) * _headDim, _heads * _headDim, _ff, Math.Max(Math.Max(_hidden, _ff), _heads * _headDim), _capacity, _vocab);

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
    /// Feeds <paramref name="ids"/> after the cached positions (several at once: the weights are read once per block of
    /// up to 16 tokens) and returns the logits (V) after the last one. The returned span is valid until the next call.
    /// Nothing is cached when a token is out of range or the tokens would overflow the cache.
    /// </summary>
    public ReadOnlySpan<float> Forward(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0) throw new ArgumentException("give at least one token.", nameof(ids));
        for (int i = 0; i < ids.Count; i++)                                                // not foreach: no enumerator per token
            if ((uint)ids[i] >= (uint)_vocab) throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"token id outside the vocabulary [0, {_vocab}).");
        if (Length + ids.Count > _capacity) throw new TailorException($"the decoder's cache is full ({_capacity} positions); ask for fewer tokens.");
        for (int first = 0; first < ids.Count; first += PrefillBlock)
        {
            int count = Math.Min(PrefillBlock, ids.Count - first);
            Block(ids, first, count, computeLogits: first + count == ids.Count);
        }
        return _work.Logits;
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

    // ids[first, first + m) through every layer at positions Length.., each matrix product taking all m tokens at once.
    private void Block(IReadOnlyList<int> ids, int first, int m, bool computeLogits)
    {
        var w = _work;
        int pos = Length, d = _headDim, qRows = _heads * d, kvRows = _kvHeads * d, qkvRows = qRows + 2 * kvRows, hidden = _hidden;
        Span<float> Row(float[] values, int t, int width) => values.AsSpan(t * width, width);
        for (int t = 0; t < m; t++) _embed.CopyRow(ids[first + t], Row(w.X, t, hidden));

        for (int l = 0; l < _layers; l++)
        {
            var layer = _layer[l];
            for (int t = 0; t < m; t++) RmsNorm(Row(w.X, t, hidden), layer.AttnNorm, Row(w.H, t, hidden));
            MatMul(layer.Qkv, w.H, w.Qkv, m);                                            // (m, H·D + 2·KV·D)
            var keys = _keys[l];
            var values = _values[l];
            for (int t = 0; t < m; t++)
            {
                var qkv = Row(w.Qkv, t, qkvRows);
                if (layer.QkvBias is { } bias) Add(qkv, bias);
                for (int head = 0; head < _heads + _kvHeads; head++) Rope(qkv.Slice(head * d, d), pos + t);   // q and k heads
                for (int g = 0; g < _kvHeads; g++)
                {
                    qkv.Slice(qRows + g * d, d).CopyTo(keys.AsSpan((g * _capacity + pos + t) * d, d));
                    qkv.Slice(qRows + kvRows + g * d, d).CopyTo(values.AsSpan((g * _capacity + pos + t) * d, d));
                }
            }
            for (int t = 0; t < m; t++)                                                 // each token sees positions up to its own
                Attention(keys, values, pos + t, Row(w.Qkv, t, qkvRows)[..qRows], Row(w.Attention, t, qRows));
            MatMul(layer.O, w.Attention, w.Projection, m);
            Add(w.X.AsSpan(0, m * hidden), w.Projection.AsSpan(0, m * hidden));

            for (int t = 0; t < m; t++) RmsNorm(Row(w.X, t, hidden), layer.MlpNorm, Row(w.H, t, hidden));
            MatMul(layer.GateUp, w.H, w.GateUp, m);                                      // (m, 2·ff): gate then up
            for (int t = 0; t < m; t++)
            {
                var gateUp = Row(w.GateUp, t, 2 * _ff);
                SwiGlu(gateUp[.._ff], gateUp[_ff..], Row(w.Activation, t, _ff));
            }
            MatMul(layer.Down, w.Activation, w.Projection, m);
            Add(w.X.AsSpan(0, m * hidden), w.Projection.AsSpan(0, m * hidden));
        }
        Length += m;
        if (!computeLogits) return;
        RmsNorm(Row(w.X, m - 1, hidden), _finalNorm, Row(w.H, 0, hidden));
        MatMul(_head, w.H, w.Logits, 1);
    }

    private void RmsNorm(ReadOnlySpan<float> x, float[] weight, Span<float> output)
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

    // softmax(q·Kᵀ / √D) · V for each query head over positions 0..pos, its key/value head shared by the group. The
    // weighted sum keeps a head's output in registers over all positions (WeightedSum) and divides by the total once.
    // While the scores are computed, the key rows KeyPrefetchRows ahead are prefetched into L1 and each value row into
    // L2 for the weighted sum after (RowAhead).
    private unsafe void Attention(float[] keys, float[] values, int pos, ReadOnlySpan<float> queries, Span<float> result)
    {
        int d = _headDim, groups = _heads / _kvHeads, n = pos + 1;
        float scale = 1f / MathF.Sqrt(d);
        var scores = _work.Scores.AsSpan(0, n);
        fixed (float* allKeys = keys, allValues = values)
        {
            for (int head = 0; head < _heads; head++)
            {
                int g = head / groups;
                var q = queries.Slice(head * d, d);
                var headKeys = keys.AsSpan(g * _capacity * d, n * d);
                float* keyRows = allKeys + (long)g * _capacity * d, valueRows = allValues + (long)g * _capacity * d;
                for (int s = 0; s < Math.Min(KeyPrefetchRows, n); s++) RowAhead(keyRows + (long)s * d, d, intoL1: true);
                float max = float.NegativeInfinity;
                for (int s = 0; s < n; s++)
                {
                    if (s + KeyPrefetchRows < n) RowAhead(keyRows + (long)(s + KeyPrefetchRows) * d, d, intoL1: true);
                    RowAhead(valueRows + (long)s * d, d, intoL1: false);
                    scores[s] = Dot(q, headKeys.Slice(s * d, d)) * scale;
                    max = MathF.Max(max, scores[s]);
                }
                float total = ExpShifted(scores, max);
                WeightedSum(scores, values.AsSpan(g * _capacity * d, n * d), 1f / total, result.Slice(head * d, d));
            }
        }
    }

    // How far ahead Attention prefetches key rows. The KV cache is read from memory at every token (the M shape at 256 new
    // tokens: about 4.7 MB a token, 5% of the token's time in float32 and 11% in bfloat16), and without prefetches it came
    // in at about 15 GB/s (probably each head's rows, 36 KB on average there, are too short a stream for the hardware
    // prefetchers to get going). Timed in a copy of this class, the M shape decoding 256 tokens after a 16-token prompt,
    // one thread, 2026-12-07, four alternations in one process: attention 232-245 µs a token against 272-302 with no
    // prefetch in bfloat16, 247-290 against 306-383 in float32; 8 rows ahead gained less, 32 and 64 rows nothing in a
    // noisier run.
    private const int KeyPrefetchRows = 16;

    // Prefetches the cache lines of one row of `floats` values, into L1 or into L2.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RowAhead(float* row, int floats, bool intoL1)
    {
        if (!Sse.IsSupported) return;
        for (int b = 0; b < floats * sizeof(float); b += 64)
        {
            if (intoL1) Sse.Prefetch0((byte*)row + b);
            else Sse.Prefetch1((byte*)row + b);
        }
    }

    // x[i] = exp(x[i] − shift) for every i; returns their sum.
    private static float ExpShifted(Span<float> x, float shift)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var by = Vector512.Create(shift);
            var total = Vector512<float>.Zero;
            for (; i + 16 <= x.Length; i += 16)
            {
                var e = Vector512.Exp(Vector512.LoadUnsafe(ref r, (nuint)i) - by);
                e.StoreUnsafe(ref r, (nuint)i);
                total += e;
            }
            sum = Vector512.Sum(total);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var by = Vector256.Create(shift);
            var total = Vector256<float>.Zero;
            for (; i + 8 <= x.Length; i += 8)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref r, (nuint)i) - by);
                e.StoreUnsafe(ref r, (nuint)i);
                total += e;
            }
            sum = Vector256.Sum(total);
        }
        for (; i < x.Length; i++) sum += x[i] = MathF.Exp(x[i] - shift);
        return sum;
    }

    // output = scale · Σₛ weights[s] · rows[s] for rows of output's width, 64 (AVX-512) or 32 (AVX2) output values at a
    // time held in four registers across all rows.
    private static void WeightedSum(ReadOnlySpan<float> weights, ReadOnlySpan<float> rows, float scale, Span<float> output)
    {
        int d = output.Length, n = weights.Length, k = 0;
        ref float v = ref MemoryMarshal.GetReference(rows);
        ref float o = ref MemoryMarshal.GetReference(output);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; k + 64 <= d; k += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int s = 0; s < n; s++)
                {
                    var p = Vector512.Create(weights[s]);
                    ref float row = ref Unsafe.Add(ref v, s * d + k);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row), p, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 16), p, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 32), p, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 48), p, a3);
                }
                var c = Vector512.Create(scale);
                (a0 * c).StoreUnsafe(ref o, (nuint)k);
                (a1 * c).StoreUnsafe(ref o, (nuint)k + 16);
                (a2 * c).StoreUnsafe(ref o, (nuint)k + 32);
                (a3 * c).StoreUnsafe(ref o, (nuint)k + 48);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; k + 32 <= d; k += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int s = 0; s < n; s++)
                {
                    var p = Vector256.Create(weights[s]);
                    ref float row = ref Unsafe.Add(ref v, s * d + k);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row), p, a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row, 8), p, a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row, 16), p, a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row, 24), p, a3);
                }
                var c = Vector256.Create(scale);
                (a0 * c).StoreUnsafe(ref o, (nuint)k);
                (a1 * c).StoreUnsafe(ref o, (nuint)k + 8);
                (a2 * c).StoreUnsafe(ref o, (nuint)k + 16);
                (a3 * c).StoreUnsafe(ref o, (nuint)k + 24);
            }
        }
        for (; k < d; k++)
        {
            float sum = 0;
            for (int s = 0; s < n; s++) sum += weights[s] * rows[s * d + k];
            output[k] = sum * scale;
        }
    }

    /// <summary>True when at least one weight matrix is held as bfloat16.</summary>
    public bool UsesBf16Weights => _embed.Bf16 is not null || _layer.Any(l => l.Qkv.Bf16 is not null);

    // y_t = W·x_t for the m vectors x_t (rows of x, cols wide) into the rows of y (rows wide), for W (rows, cols); the
    // rows of W split over the threads in whole blocks of four. A bfloat16 matrix reads each x_t as its even and odd
    // elements (split once here), see Dot4Pairs.
    private void MatMul(Matrix w, float[] x, float[] y, int m)
    {
        int rows = w.Rows, cols = w.Cols;
        if (w.Bf16 is not null)
        {
            int half = cols / 2;
            for (int i = 0; i < m * half; i++)
            {
                _work.Even[i] = x[2 * i];                                                  // row t's pairs start at t·half
                _work.Odd[i] = x[2 * i + 1];
            }
        }
        if (Threads == 1 || (long)rows * cols < 1 << 16)
        {
            MatMulRows(w, x, y, m, 0, rows);
            return;
        }
        int chunk = (rows / Threads + 3) & ~3;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            int start = t * chunk, end = Math.Min(rows, start + chunk);
            if (start < end) MatMulRows(w, x, y, m, start, end);
        });
    }

    // Rows [start, end) of W (start a multiple of four) against the m vectors: each block of four rows for every vector
    // in turn, so the block is read from memory once and from L1 after.
    private unsafe void MatMulRows(Matrix w, float[] x, float[] y, int m, int start, int end)
    {
        int rows = w.Rows, cols = w.Cols, blockEnd = Math.Min(end, w.BlockRows), r = start;
        if (w.Bf16 is { } bits)
        {
            int half = cols / 2, fullWords = w.ChunkCols / 2;
            var even = _work.Even;
            var odd = _work.Odd;
            fixed (ushort* values = &bits[w.Offset])
            {
                uint* words = (uint*)values;
                for (; r < blockEnd; r += 4)
                    for (int t = 0; t < m; t++)
                        Dot4Pairs(words + (long)r * half, half, fullWords, even.AsSpan(t * half, half), odd.AsSpan(t * half, half)).CopyTo(y.AsSpan(t * rows + r, 4));
                for (; r < end; r++)
                {
                    uint* row = words + (long)r * half;
                    for (int t = 0; t < m; t++)
                    {
                        float sum = 0;
                        for (int i = 0; i < half; i++) sum += Pair(row[i], even[t * half + i], odd[t * half + i]);
                        y[t * rows + r] = sum;
                    }
                }
            }
            return;
        }
        var f32 = w.F32.AsSpan(w.Offset);
        fixed (float* values = f32)
        {
            for (; r < blockEnd; r += 4)
                for (int t = 0; t < m; t++)
                    Dot4(values + (long)r * cols, cols, w.ChunkCols, x.AsSpan(t * cols, cols)).CopyTo(y.AsSpan(t * rows + r, 4));
        }
        for (; r < end; r++)
            for (int t = 0; t < m; t++) y[t * rows + r] = Dot(f32.Slice(r * cols, cols), x.AsSpan(t * cols, cols));
    }

    // Four bfloat16 rows (one block of Matrix's layout: 16 words of each row in turn, then the words past the last whole
    // 16 of each row) against one float vector. The rows are read as 32-bit words of two neighbours: a word's low half
    // is the even element and its high half the odd one, so `word << 16` is the even element's float32 and
    // `word & 0xFFFF0000` the odd one's, in place, without widening across lanes. They multiply x's even and odd elements
    // (split once per matrix-vector product), each into accumulators of its own. Each step also prefetches the 256 bytes
    // Bf16PrefetchBytes ahead (Ahead).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe Vector128<float> Dot4Pairs(uint* block, int n, int full, ReadOnlySpan<float> even, ReadOnlySpan<float> odd)
    {
        ref float er = ref MemoryMarshal.GetReference(even);
        ref float or = ref MemoryMarshal.GetReference(odd);
        uint* w = block;
        int i = 0;
        var sums = Vector128<float>.Zero;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
            var high = Vector512.Create(0xFFFF0000u);
            for (; i < full; i += 16, w += 64)
            {
                Ahead((byte*)w, Bf16PrefetchBytes);
                var xe = Vector512.LoadUnsafe(ref er, (nuint)i);
                var xo = Vector512.LoadUnsafe(ref or, (nuint)i);
                var u0 = Vector512.Load(w);
                var u1 = Vector512.Load(w + 16);
                var u2 = Vector512.Load(w + 32);
                var u3 = Vector512.Load(w + 48);
                e0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u0, 16).AsSingle(), xe, e0);
                o0 = Vector512.FusedMultiplyAdd((u0 & high).AsSingle(), xo, o0);
                e1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u1, 16).AsSingle(), xe, e1);
                o1 = Vector512.FusedMultiplyAdd((u1 & high).AsSingle(), xo, o1);
                e2 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u2, 16).AsSingle(), xe, e2);
                o2 = Vector512.FusedMultiplyAdd((u2 & high).AsSingle(), xo, o2);
                e3 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u3, 16).AsSingle(), xe, e3);
                o3 = Vector512.FusedMultiplyAdd((u3 & high).AsSingle(), xo, o3);
            }
            sums = Sum4(e0 + o0, e1 + o1, e2 + o2, e3 + o3);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
            var high = Vector256.Create(0xFFFF0000u);
            for (; i < full; i += 8)
            {
                var xe = Vector256.LoadUnsafe(ref er, (nuint)i);
                var xo = Vector256.LoadUnsafe(ref or, (nuint)i);
                uint* chunk = block + i / 16 * 64 + i % 16;                              // the chunk's first or second half
                var u0 = Vector256.Load(chunk);
                var u1 = Vector256.Load(chunk + 16);
                var u2 = Vector256.Load(chunk + 32);
                var u3 = Vector256.Load(chunk + 48);
                e0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u0, 16).AsSingle(), xe, e0);
                o0 = Vector256.FusedMultiplyAdd((u0 & high).AsSingle(), xo, o0);
                e1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u1, 16).AsSingle(), xe, e1);
                o1 = Vector256.FusedMultiplyAdd((u1 & high).AsSingle(), xo, o1);
                e2 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u2, 16).AsSingle(), xe, e2);
                o2 = Vector256.FusedMultiplyAdd((u2 & high).AsSingle(), xo, o2);
                e3 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u3, 16).AsSingle(), xe, e3);
                o3 = Vector256.FusedMultiplyAdd((u3 & high).AsSingle(), xo, o3);
            }
            sums = Sum4(e0 + o0, e1 + o1, e2 + o2, e3 + o3);
        }
        else
        {
            for (; i < full; i++)
            {
                uint* chunk = block + i / 16 * 64 + i % 16;
                float xe = Unsafe.Add(ref er, i), xo = Unsafe.Add(ref or, i);
                sums += Vector128.Create(Pair(chunk[0], xe, xo), Pair(chunk[16], xe, xo), Pair(chunk[32], xe, xo), Pair(chunk[48], xe, xo));
            }
        }
        int rest = n - full;                                                             // the words past the last whole 16
        uint* tail = block + 4 * full;
        for (int k = 0; k < rest; k++)
        {
            float xe = Unsafe.Add(ref er, full + k), xo = Unsafe.Add(ref or, full + k);
            sums += Vector128.Create(Pair(tail[k], xe, xo), Pair(tail[rest + k], xe, xo), Pair(tail[2 * rest + k], xe, xo), Pair(tail[3 * rest + k], xe, xo));
        }
        return sums;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Pair(uint word, float even, float odd) =>
        BitConverter.UInt32BitsToSingle(word << 16) * even + BitConverter.UInt32BitsToSingle(word & 0xFFFF0000u) * odd;

    // How far ahead of the block being read Dot4Pairs (bfloat16) and Dot4 (float32) prefetch, non-temporally
    // (prefetchnta). Timed on the M shape's products alone (29.5M: 59 MB in bfloat16, 118 MB in float32), every
    // candidate reading the same buffer, because on this project's VMs two allocations of the same size can stream at
    // speeds 1.5x apart, and the same buffer at different speeds from hour to hour (one core: 40-50 GB/s in one hour,
    // 20-33 in another). One thread, 2026-12-07. First, into L1 (prefetcht0) 4 and 8 KiB ran about 10% faster than no
    // prefetch in bfloat16, 8 to 32 KiB slower; into L2 (prefetcht1), 4 and 8 KiB ran 1.11x and 1.13x the L1 4 KiB, and
    // this layout beat the previous one (four row streams, each prefetched two blocks ahead into L2) by 1.3-1.5x in
    // bfloat16 and 1.3x in float32. Then non-temporal against that prefetcht1 8 KiB: bfloat16 8 KiB ran 1.05-1.14x in
    // three processes of a fast hour and 0.98-1.27x in three of a slow one (6 KiB alike, 4 KiB and less little or none);
    // float32 2 KiB ran 0.98-1.34x (median 1.2) in sixteen processes of slow hours and 0.95-1.05x in six of fast ones
    // (1 and 3 KiB close to 2, 4 KiB and more less). The float32 stream, with half the arithmetic per byte, wants the shorter distance.
    // Non-temporal prefetches are meant to keep a stream read once from displacing what the caches hold for longer (here
    // the KV cache and the activations); the shipped model, which the caches nearly hold, decoded no slower with them.
    private const int Bf16PrefetchBytes = 8192, F32PrefetchBytes = 2048;

    // Prefetches the four cache lines `distance` bytes past `at`, non-temporally (prefetches never fault, so reading
    // past a matrix's end is harmless). The stream is sequential, so the hardware prefetchers would find it too, but they
    // stop at 4 KiB page boundaries, and a block of four 512-wide bfloat16 rows is one page. The AVX2 branches do not
    // prefetch.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Ahead(byte* at, int distance)
    {
        if (!Sse.IsSupported) return;
        byte* line = at + distance;
        Sse.PrefetchNonTemporal(line);
        Sse.PrefetchNonTemporal(line + 64);
        Sse.PrefetchNonTemporal(line + 128);
        Sse.PrefetchNonTemporal(line + 192);
    }

    // Four float32 rows (one block of Matrix's layout: 16 floats of each row in turn, then the floats past the last
    // whole 16 of each row) against one vector, prefetching F32PrefetchBytes ahead (Ahead).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe Vector128<float> Dot4(float* block, int n, int full, ReadOnlySpan<float> x)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        float* w = block;
        int i = 0;
        var sums = Vector128<float>.Zero;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i < full; i += 16, w += 64)
            {
                Ahead((byte*)w, F32PrefetchBytes);
                var xv = Vector512.LoadUnsafe(ref xr, (nuint)i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 16), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 32), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 48), xv, a3);
            }
            sums = Sum4(a0, a1, a2, a3);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i < full; i += 8)
            {
                var xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
                float* chunk = block + i / 16 * 64 + i % 16;
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(chunk), xv, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(chunk + 16), xv, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(chunk + 32), xv, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(chunk + 48), xv, a3);
            }
            sums = Sum4(a0, a1, a2, a3);
        }
        else
        {
            for (; i < full; i++)
            {
                float* chunk = block + i / 16 * 64 + i % 16;
                float xi = Unsafe.Add(ref xr, i);
                sums += Vector128.Create(chunk[0] * xi, chunk[16] * xi, chunk[32] * xi, chunk[48] * xi);
            }
        }
        int rest = n - full;
        float* tail = block + 4 * full;
        for (int k = 0; k < rest; k++)
        {
            float xi = Unsafe.Add(ref xr, full + k);
            sums += Vector128.Create(tail[k] * xi, tail[rest + k] * xi, tail[2 * rest + k] * xi, tail[3 * rest + k] * xi);
        }
        return sums;
    }

    // The sums of four vectors' lanes, as one vector: halves folded, then pairwise adds that keep the four apart (haddps),
    // instead of four full reductions.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        Sum4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        if (!Avx.IsSupported) return Vector128.Create(Vector256.Sum(a), Vector256.Sum(b), Vector256.Sum(c), Vector256.Sum(d));
        var sums = Avx.HorizontalAdd(Avx.HorizontalAdd(a, b), Avx.HorizontalAdd(c, d));   // (a₀₋₃ b₀₋₃ c₀₋₃ d₀₋₃ | a₄₋₇ …)
        return sums.GetLower() + sums.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0;
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b[..n]);                           // b at least as long as a
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> acc = default;
            for (; i + 16 <= n; i += 16)
                acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref ar, (nuint)i), Vector512.LoadUnsafe(ref br, (nuint)i), acc);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> acc = default;
            for (; i + 8 <= n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ar, (nuint)i), Vector256.LoadUnsafe(ref br, (nuint)i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref ar, i) * Unsafe.Add(ref br, i);
        return sum;
    }

    // output = silu(gate) · up = gate / (1 + exp(−gate)) · up.
    private static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= output.Length; i += 16)
            {
                var g = Vector512.Create(gate.Slice(i, 16));
                (g / (Vector512<float>.One + Vector512.Exp(-g)) * Vector512.Create(up.Slice(i, 16))).CopyTo(output.Slice(i, 16));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= output.Length; i += 8)
            {
                var g = Vector256.Create(gate.Slice(i, 8));
                (g / (Vector256<float>.One + Vector256.Exp(-g)) * Vector256.Create(up.Slice(i, 8))).CopyTo(output.Slice(i, 8));
            }
        }
        for (; i < output.Length; i++) output[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    private static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= x.Length; i += 16) (Vector512.Create(x.Slice(i, 16)) + Vector512.Create(y.Slice(i, 16))).CopyTo(x.Slice(i, 16));
        for (; i < x.Length; i++) x[i] += y[i];
    }
}
