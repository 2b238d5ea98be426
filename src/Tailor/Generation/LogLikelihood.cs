using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Generation;

/// <summary>Log-likelihoods of continuations under a causal model (lm-evaluation-harness's multiple-choice scoring).</summary>
public static class LogLikelihood
{
    /// <summary>
    /// The summed log-probability of each continuation given its prompt, log p(c | prompt) = Σ_j log softmax(logits at
    /// the position before c_j)[c_j], computed in right-padded batches (causal attention never sees the padding).
    /// Pairs that feed the model the same tokens (the prompt and all but the last continuation token: the options
    /// "positive" and "negative" after one prompt) share one row, so each distinct input is run once.
    /// </summary>
    public static double[] OfContinuations(CausalLM model, IReadOnlyList<(int[] Prompt, int[] Continuation)> pairs,
        int batchSize, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        // 1. One row per distinct input sequence; each pair becomes (row, position, token) targets.
        var rowOf = new Dictionary<int[], int>(SequenceComparer.Instance);
        var inputs = new List<int[]>();
        var targets = new List<List<(int Position, int Token, int Owner)>>();
        for (int i = 0; i < pairs.Count; i++)
        {
            var (prompt, cont) = pairs[i];
            if (prompt.Length == 0 || cont.Length == 0) throw new ArgumentException("prompts and continuations need at least one token.", nameof(pairs));
            int[] seq = [.. prompt, .. cont.AsSpan(0, cont.Length - 1)];
            if (!rowOf.TryGetValue(seq, out int row))
            {
                rowOf[seq] = row = inputs.Count;
                inputs.Add(seq);
                targets.Add([]);
            }
            for (int j = 0; j < cont.Length; j++) targets[row].Add((prompt.Length + j - 1, cont[j], i));   // position p predicts token p+1
        }

        // 2. Longest rows first, in batches; only the positions that predict a continuation token are projected.
        var sums = new double[pairs.Count];
        var order = Enumerable.Range(0, inputs.Count).OrderByDescending(r => inputs[r].Length).ToArray();
        using var inference = inference_mode();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = order.Skip(start).Take(batchSize).ToArray();
            int t = batch.Max(r => inputs[r].Length);
            var ids = new long[batch.Length * t];
            var flat = new List<long>();
            var toks = new List<long>();
            var owner = new List<int>();
            for (int b = 0; b < batch.Length; b++)
            {
                int[] seq = inputs[batch[b]];
                for (int j = 0; j < seq.Length; j++) ids[b * t + j] = seq[j];
                foreach (var (position, token, o) in targets[batch[b]])
                {
                    flat.Add((long)b * t + position); toks.Add(token); owner.Add(o);
                }
            }
            using var scope = NewDisposeScope();
            var input = tensor(ids, [batch.Length, t], device: model.Device);                  // (B, T)
            // A (B, T, V) log-softmax of 48 three-shot prompts over a 16k vocabulary is gigabytes, for a few tokens each.
            var logprobs = model.Forward(input, keep: tensor(flat.ToArray(), device: model.Device)).to(ScalarType.Float32).log_softmax(-1);   // (N, V)
            var picked = logprobs.gather(1, tensor(toks.ToArray(), device: logprobs.device).unsqueeze(1)).squeeze(1).cpu().data<float>().ToArray();   // (N)
            for (int n = 0; n < picked.Length; n++) sums[owner[n]] += picked[n];
        }
        return sums;
    }

    /// <summary>Compares token sequences by content.</summary>
    private sealed class SequenceComparer : IEqualityComparer<int[]>
    {
        public static readonly SequenceComparer Instance = new();

        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(int[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(obj.AsSpan()));
            return hash.ToHashCode();
        }
    }
}
