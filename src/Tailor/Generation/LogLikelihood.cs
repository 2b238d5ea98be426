using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Generation;

/// <summary>Log-likelihoods of continuations under a causal model (lm-evaluation-harness's multiple-choice scoring).</summary>
public static class LogLikelihood
{
    /// <summary>
    /// The summed log-probability of each continuation given its prompt, log p(c | prompt) = Σ_j log softmax(logits at
    /// the position before c_j)[c_j], computed in right-padded batches (causal attention never sees the padding).
    /// </summary>
    public static double[] OfContinuations(CausalLM model, IReadOnlyList<(int[] Prompt, int[] Continuation)> pairs,
        int batchSize, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        var sums = new double[pairs.Count];
        var order = Enumerable.Range(0, pairs.Count).OrderByDescending(i => pairs[i].Prompt.Length + pairs[i].Continuation.Length).ToArray();
        using var inference = inference_mode();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = order.Skip(start).Take(batchSize).ToArray();
            int t = batch.Max(i => pairs[i].Prompt.Length + pairs[i].Continuation.Length);
            var ids = new long[batch.Length * t];
            var rows = new List<long>();
            var cols = new List<long>();
            var toks = new List<long>();
            var owner = new List<int>();
            for (int r = 0; r < batch.Length; r++)
            {
                var (prompt, cont) = pairs[batch[r]];
                if (prompt.Length == 0 || cont.Length == 0) throw new ArgumentException("prompts and continuations need at least one token.", nameof(pairs));
                for (int j = 0; j < prompt.Length; j++) ids[r * t + j] = prompt[j];
                for (int j = 0; j < cont.Length; j++)
                {
                    ids[r * t + prompt.Length + j] = cont[j];
                    rows.Add(r); cols.Add(prompt.Length + j - 1); toks.Add(cont[j]); owner.Add(batch[r]);   // position p predicts token p+1
                }
            }
            using var scope = NewDisposeScope();
            var input = tensor(ids, [batch.Length, t], device: model.Device);                  // (B, T)
            // Only the N positions that predict a continuation token go through the output projection: a (B, T, V)
            // log-softmax of 48 three-shot prompts over a 16k vocabulary is gigabytes, for a few tokens each.
            long[] flat = [.. rows.Select((r, n) => r * t + cols[n])];
            var logprobs = model.Forward(input, keep: tensor(flat, device: model.Device)).to(ScalarType.Float32).log_softmax(-1);   // (N, V)
            var picked = logprobs.gather(1, tensor(toks.ToArray(), device: logprobs.device).unsqueeze(1)).squeeze(1).cpu().data<float>().ToArray();   // (N)
            for (int n = 0; n < picked.Length; n++) sums[owner[n]] += picked[n];
        }
        return sums;
    }
}
