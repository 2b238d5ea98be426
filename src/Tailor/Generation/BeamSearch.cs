using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Generation;

/// <summary>
/// Beam search (HF generate with <c>num_beams</c> &gt; 1, <c>do_sample=False</c>): a prompt's K hypotheses live in K rows
/// of one KV cache, next to the other prompts of the batch. Each step every live hypothesis proposes its 2K likeliest next tokens; of all proposals the K best
/// by summed log-probability continue, and a proposal that ends the answer (EOS, a stop string, the token cap or a loop)
/// is set aside as finished with score <c>sum log p / length^length_penalty</c>. The search ends when K answers are
/// finished and no live hypothesis can still beat the worst of them at its current length, or at the cap; the best
/// finished answer is returned. The n-gram ban applies to each hypothesis's own tokens, as in greedy decoding.
/// </summary>
public static class BeamSearch
{
    /// <summary>Runs beam search over <paramref name="prompt"/> with <see cref="SamplingOptions.NumBeams"/> beams.</summary>
    public static GenerationResult Generate(CausalLM model, Func<IReadOnlyList<int>, string> decode, IReadOnlySet<int> eos,
        IReadOnlyList<int> prompt, SamplingOptions options, CancellationToken cancel = default) =>
        GenerateBatch(model, decode, eos, [prompt], options, cancel)[0];

    /// <summary>
    /// Runs beam search over several prompts at once: prompt b's K hypotheses are rows bK … bK+K−1 of one left-padded
    /// batch, so each step is one forward pass for all of them. Results are in prompt order and equal searching each
    /// prompt alone (up to float32 differences between padded and unpadded attention).
    /// </summary>
    public static IReadOnlyList<GenerationResult> GenerateBatch(CausalLM model, Func<IReadOnlyList<int>, string> decode, IReadOnlySet<int> eos,
        IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, CancellationToken cancel = default)
    {
        options.Validate();
        if (prompts.Count == 0) return [];
        int k = options.NumBeams, batch = prompts.Count, rows = batch * k;
        int maxPositions = model.DecoderConfig.MaxPositionEmbeddings;
        if (prompts.Any(p => p.Count == 0)) throw new TailorException("a prompt is empty; give at least one token.");
        int longest = prompts.Max(p => p.Count);
        if (longest >= maxPositions)
            throw new TailorException($"the prompt has {longest} tokens; the model's context is {maxPositions} (max_position_embeddings). Shorten it.");
        if (options.MaxNewTokens == 0) return [.. prompts.Select(p => new GenerationResult([], "", "length", p.Count))];
        int capacity = Math.Min(longest + options.MaxNewTokens, maxPositions);
        int maxNew = capacity - longest;

        var padLengths = Enumerable.Range(0, rows).Select(r => longest - prompts[r / k].Count).ToArray();
        bool padded = padLengths.Any(p => p != 0);
        var device = model.Device;
        using var inference = inference_mode();
        using var cache = new KvCache(model.DecoderConfig, rows, capacity, model.DType, device);
        int vocab;
        var logits = Array.Empty<float>();
        using (NewDisposeScope())
        {
            // Prefill each prompt once, in the first B rows of the cache, then copy row b to rows bK … bK+K−1.
            var promptPads = prompts.Select(p => longest - p.Count).ToArray();
            var ids = new long[batch * longest];
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < prompts[b].Count; j++) ids[b * longest + promptPads[b] + j] = prompts[b][j];
            using var input = tensor(ids, [batch, longest], device: device);                   // (B, T)
            Tensor? positions = null, mask = null;
            if (padded) (positions, mask) = TextGenerator.PrefillPaddingInputs(promptPads, longest, device);
            var layers = Enumerable.Range(0, model.DecoderConfig.NumHiddenLayers);
            using (var first = new KvCache([.. layers.Select(cache.Keys)], [.. layers.Select(cache.Values)], batch, 0))
            {
                var prefill = TextGenerator.ToHost(model.Forward(input, positions, mask, first, lastOnly: true));   // (B, 1, V)
                vocab = prefill.Length / batch;
                logits = new float[rows * vocab];
                for (int b = 0; b < batch; b++) Array.Copy(prefill, b * vocab, logits, b * k * vocab, vocab);
            }
            using var spread = tensor(Enumerable.Range(0, rows).Select(r => (long)(r / k)).ToArray(), device: device);
            foreach (int layer in layers)
            {
                var keys = cache.Keys(layer).narrow(2, 0, longest);                               // (B·K, KV, T, D)
                var values = cache.Values(layer).narrow(2, 0, longest);
                keys.copy_(keys.index_select(0, spread));
                values.copy_(values.index_select(0, spread));
            }
            cache.Advance(longest);
        }

        var searches = prompts.Select(_ => new Search()).ToArray();
        var order = new long[rows];
        var tokens = new long[rows];
        var logp = new float[vocab];
        for (int step = 0; ; step++)
        {
            cancel.ThrowIfCancellationRequested();
            for (int b = 0; b < batch; b++)
            {
                var search = searches[b];
                if (!search.Done) Step(search, b * k, logits, vocab, logp, k, maxNew, eos, decode, options);
                // Row bK+i continues from the row of its parent; a finished search's rows stay as they are, unread.
                for (int i = 0; i < k; i++)
                {
                    int from = search.Done ? i : search.Parents[Math.Min(i, search.Parents.Count - 1)];
                    order[b * k + i] = b * k + from;
                    tokens[b * k + i] = search.Done ? 0 : search.Live[Math.Min(i, search.Live.Count - 1)].Ids[^1];
                }
            }
            if (searches.All(x => x.Done)) break;

            using var scope = NewDisposeScope();
            // Only the generated positions differ between a prompt's rows (its prompt was copied to all of them), so
            // only they move; a long prompt costs nothing per step.
            long generated = cache.Length - longest;
            using var index = tensor(order, device: device);
            for (int layer = 0; layer < model.DecoderConfig.NumHiddenLayers && generated > 0; layer++)
            {
                var keys = cache.Keys(layer).narrow(2, longest, generated);                      // (B·K, KV, generated, D)
                var values = cache.Values(layer).narrow(2, longest, generated);
                keys.copy_(keys.index_select(0, index));
                values.copy_(values.index_select(0, index));
            }
            using var input = tensor(tokens, [rows, 1], device: device);                       // (B·K, 1)
            Tensor? positions = null, mask = null;
            if (padded)
            {
                long at = longest + step;                                                      // absolute slot of the new token
                positions = tensor(padLengths.Select(p => at - p).ToArray(), [rows, 1], device: device);
                mask = TextGenerator.DecodePaddingMask(padLengths, at + 1, device);
            }
            logits = TextGenerator.ToHost(model.Forward(input, positions, mask, cache, lastOnly: true));
        }

        var results = new GenerationResult[batch];
        for (int b = 0; b < batch; b++)
        {
            var best = searches[b].Finished.OrderByDescending(f => f.Normalized).FirstOrDefault()
                ?? throw new TailorException("beam search ended with no answer; this is a bug.");
            results[b] = new GenerationResult(best.Ids, best.Text, best.Reason, prompts[b].Count);
        }
        return results;
    }

    // One step of one prompt's search: its live hypotheses (rows first … first+K−1 of the logits) propose, the K best
    // proposals that do not end the answer live on, the others are finished.
    private static void Step(Search search, int first, float[] logits, int vocab, float[] logp, int k, int maxNew,
        IReadOnlySet<int> eos, Func<IReadOnlyList<int>, string> decode, SamplingOptions options)
    {
        var live = search.Live;
        var proposals = new List<(int Parent, int Id, double Score)>(live.Count * 2 * k);
        for (int b = 0; b < live.Count; b++)
        {
            LogSoftmax(logits.AsSpan((first + b) * vocab, vocab), logp);
            if (options.NoRepeatNgramSize > 0) Sampler.BanRepeatedNgrams(logp, live[b].Ids, options.NoRepeatNgramSize);
            foreach (int id in TopIndices(logp, 2 * k))
                if (!float.IsNegativeInfinity(logp[id])) proposals.Add((b, id, live[b].Score + logp[id]));
        }
        proposals.Sort((x, y) => y.Score.CompareTo(x.Score) is int c && c != 0 ? c : (x.Parent, x.Id).CompareTo((y.Parent, y.Id)));

        double penalty = options.LengthPenalty;
        var next = new List<Hypothesis>(k);
        var parents = new List<int>(k);
        foreach (var (parent, id, score) in proposals)
        {
            if (next.Count == k) break;
            var h = live[parent];
            if (options.StopAtEos && eos.Contains(id))
            {
                search.Finished.Add(new Finished(h.Ids, h.Text, "stop", Normalized(score, h.Ids.Count + 1, penalty)));
                continue;
            }
            List<int> ids = [.. h.Ids, id];
            string text = decode(ids);
            if (StopAt(text, options) is int cut)
            {
                search.Finished.Add(new Finished(ids, text[..cut], "stop", Normalized(score, ids.Count, penalty)));
                continue;
            }
            string? end = ids.Count >= maxNew ? "length" : options.StopOnRepetition?.IsLooping(ids) == true ? "repetition" : null;
            if (end is not null)
            {
                search.Finished.Add(new Finished(ids, text, end, Normalized(score, ids.Count, penalty)));
                continue;
            }
            next.Add(new Hypothesis(ids, score, text));
            parents.Add(parent);
        }
        search.Done = next.Count == 0 || Done(search.Finished, next, k, penalty);
        if (!search.Done)
        {
            search.Live = next;
            search.Parents = parents;
        }
    }

    private sealed class Search
    {
        public List<Hypothesis> Live { get; set; } = [new([], 0, "")];                         // hypothesis i sits in row i of its block
        public List<int> Parents { get; set; } = [0];
        public List<Finished> Finished { get; } = [];
        public bool Done { get; set; }
    }

    private sealed record Hypothesis(List<int> Ids, double Score, string Text);

    private sealed record Finished(IReadOnlyList<int> Ids, string Text, string Reason, double Normalized);

    /// <summary>HF's score of a finished hypothesis: the summed log-probability over its length to the power of the penalty.</summary>
    private static double Normalized(double score, int length, double penalty) => score / Math.Pow(Math.Max(1, length), penalty);

    /// <summary>
    /// Whether the search can end: K answers are finished and the best live hypothesis, scored at its current length,
    /// does not beat the worst of the K best finished ones (HF's <c>early_stopping=False</c> test).
    /// </summary>
    private static bool Done(List<Finished> finished, List<Hypothesis> live, int k, double penalty)
    {
        if (finished.Count < k) return false;
        double worstKept = finished.Select(f => f.Normalized).OrderByDescending(s => s).ElementAt(k - 1);
        double bestLive = live.Max(h => Normalized(h.Score, h.Ids.Count, penalty));
        return bestLive <= worstKept;
    }

    /// <summary>Where the first stop string starts, counting only once the text has a non-white-space character when asked to.</summary>
    private static int? StopAt(string text, SamplingOptions options)
    {
        int from = 0;
        if (options.StopAfterText)
            while (from < text.Length && char.IsWhiteSpace(text[from])) from++;
        int cut = -1;
        foreach (string s in options.Stop)
        {
            int at = text.IndexOf(s, from, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        return cut >= 0 ? cut : null;
    }

    private static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> result)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (float x in logits) sum += Math.Exp(x - max);
        float log = max + (float)Math.Log(sum);
        for (int i = 0; i < logits.Length; i++) result[i] = logits[i] - log;
    }

    /// <summary>The indices of the <paramref name="n"/> largest values, largest first (lower index first on ties).</summary>
    private static int[] TopIndices(ReadOnlySpan<float> values, int n)
    {
        n = Math.Min(n, values.Length);
        var top = new int[n];
        int count = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (count == n && !(values[i] > values[top[n - 1]])) continue;
            int at = count < n ? count++ : n - 1;
            while (at > 0 && values[i] > values[top[at - 1]]) { top[at] = top[at - 1]; at--; }
            top[at] = i;
        }
        return top;
    }
}
