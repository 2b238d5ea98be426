using LLama;
using LLama.Common;
using LLama.Native;

namespace Tailor.Tests.Formats;

/// <summary>
/// llama.cpp (through LLamaSharp 0.30.0's CPU backend) as an independent reader of Tailor's GGUF files: its tokenizer,
/// its forward pass (logits of every prompt position) and greedy decoding, with an f32 KV cache and flash attention off
/// so that an f32 export can be compared tightly.
/// </summary>
internal sealed class LlamaCpp : IDisposable
{
    private static readonly Lock ConfigLock = new();
    private static bool _configured;

    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    private LlamaCpp(LLamaWeights weights, LLamaContext context)
    {
        _weights = weights;
        _context = context;
    }

    /// <summary>Vocabulary size llama.cpp read.</summary>
    public int VocabSize => _context.Vocab.Count;

    /// <summary>llama.cpp's BOS / EOS / padding ids as it read them from the file.</summary>
    public (int? Bos, int? Eos, int? Pad) SpecialIds =>
        ((int?)_context.Vocab.BOS, (int?)_context.Vocab.EOS, (int?)_context.Vocab.Pad);

    /// <summary>Loads a GGUF file on the CPU, <paramref name="threads"/> threads, context of <paramref name="context"/> positions.</summary>
    public static LlamaCpp Load(string path, int context = 256, int threads = 1)
    {
        lock (ConfigLock)
        {
            if (!_configured)
            {
                // Quiet: llama.cpp logs every load at length. Must be set before the native library loads.
                NativeLibraryConfig.All.WithLogCallback((level, message) => { });
                _configured = true;
            }
        }
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)context,
            BatchSize = (uint)context,
            UBatchSize = (uint)context,
            GpuLayerCount = 0,
            Threads = threads,
            BatchThreads = threads,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        var weights = LLamaWeights.LoadFromFile(parameters);
        try
        {
            return new LlamaCpp(weights, weights.CreateContext(parameters));
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>llama.cpp's token ids for <paramref name="text"/>: no BOS, special tokens parsed.</summary>
    public int[] Tokenize(string text) => [.. _context.Tokenize(text, addBos: false, special: true).Select(t => (int)t)];

    /// <summary>Runs the prompt from position 0 (cache cleared) and returns the logits of every position, (T, V) row-major.</summary>
    public float[] PromptLogits(IReadOnlyList<int> ids)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < ids.Count; i++) batch.Add(ids[i], i, LLamaSeqId.Zero, logits: true);
        Check(_context.Decode(batch));
        int v = VocabSize;
        var logits = new float[ids.Count * v];
        for (int i = 0; i < ids.Count; i++) _context.NativeHandle.GetLogitsIth(i).CopyTo(logits.AsSpan(i * v, v));
        return logits;
    }

    /// <summary>Greedy continuation: argmax of the logits at each step (EOS does not stop it), <paramref name="count"/> tokens.</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int count)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Count; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, logits: i == prompt.Count - 1);
        Check(_context.Decode(batch));
        var output = new List<int>();
        int position = prompt.Count;
        for (int step = 0; step < count; step++)
        {
            int next = ArgMax(_context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
            output.Add(next);
            if (step == count - 1) break;
            batch.Clear();
            batch.Add(next, position++, LLamaSeqId.Zero, logits: true);
            Check(_context.Decode(batch));
        }
        return output;
    }

    internal static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
