using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Generation;

/// <summary>One streamed step for one row: the token picked and the text it made safe to show.</summary>
/// <param name="Row">Index of the prompt in the batch.</param>
/// <param name="Id">The token id, or -1 on the closing event of a row.</param>
/// <param name="Delta">Text that became final with this token (held back while it could start a stop string or is mid-character).</param>
/// <param name="FinishReason">Null while the row runs; "stop" (EOS or a stop string), "length" or "repetition" (<see cref="SamplingOptions.StopOnRepetition"/>) on its last event.</param>
public readonly record struct TokenEvent(int Row, int Id, string Delta, string? FinishReason);

/// <summary>The finished output of one prompt.</summary>
/// <param name="Ids">New token ids, EOS excluded; with a stop string, up to the token that completed it.</param>
/// <param name="Text">New text, cut before the first stop string.</param>
/// <param name="FinishReason">"stop", "length" or "repetition".</param>
/// <param name="PromptTokens">Prompt length in tokens.</param>
public sealed record GenerationResult(IReadOnlyList<int> Ids, string Text, string FinishReason, int PromptTokens);

/// <summary>
/// Prefill-then-decode generation over a preallocated <see cref="KvCache"/>, batch 1 or batched with left padding.
/// Sampling happens on the host (<see cref="Sampler"/>) so a seed gives the same text on any device.
/// </summary>
public sealed class TextGenerator
{
    private readonly CausalLM _model;
    private readonly Func<IReadOnlyList<int>, string> _decode;
    private readonly HashSet<int> _eos;
    private readonly CpuDecoder? _fast;

    /// <summary>
    /// Creates a generator. <paramref name="decode"/> turns ids into text (a tokenizer's decode, specials skipped);
    /// <paramref name="eosIds"/> end a row when <see cref="SamplingOptions.StopAtEos"/> is set. With
    /// <paramref name="fast"/>, single prompts run on that <see cref="CpuDecoder"/> (built from the same model) instead
    /// of a TorchSharp forward per token; batches of several prompts still use the model.
    /// </summary>
    public TextGenerator(CausalLM model, Func<IReadOnlyList<int>, string> decode, IEnumerable<int> eosIds, CpuDecoder? fast = null)
    {
        _model = model;
        _decode = decode;
        _eos = [.. eosIds];
        _fast = fast;
    }

    /// <summary>Generates for one prompt.</summary>
    public GenerationResult Generate(IReadOnlyList<int> prompt, SamplingOptions options, CancellationToken cancel = default) =>
        GenerateBatch([prompt], options, cancel)[0];

    /// <summary>Generates for several prompts at once (left padding); results are in prompt order.</summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options,
        CancellationToken cancel = default)
    {
        var rows = new List<int>[prompts.Count];
        var texts = new System.Text.StringBuilder[prompts.Count];
        var reasons = new string[prompts.Count];
        for (int i = 0; i < rows.Length; i++) { rows[i] = []; texts[i] = new(); }
        foreach (var e in Stream(prompts, options, cancel))
        {
            if (e.Id >= 0) rows[e.Row].Add(e.Id);
            texts[e.Row].Append(e.Delta);
            if (e.FinishReason is not null) reasons[e.Row] = e.FinishReason;
        }
        return [.. Enumerable.Range(0, rows.Length).Select(i => new GenerationResult(
            rows[i], texts[i].ToString(), reasons[i], prompts[i].Count))];
    }

    /// <summary>
    /// Streams tokens for every prompt as they are picked. Each row ends with an event whose FinishReason is set.
    /// Enumerate on one thread: the loop holds TorchSharp's inference mode while it runs.
    /// </summary>
    public IEnumerable<TokenEvent> Stream(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options,
        CancellationToken cancel = default)
    {
        options.Validate();
        if (prompts.Count == 0) yield break;
        if (options.NumBeams > 1)
        {
            // Beam search knows its answers only at the end: each prompt's tokens, then its whole text on the closing event.
            var results = BeamSearch.GenerateBatch(_model, _decode, _eos, prompts, options, cancel);
            for (int r = 0; r < prompts.Count; r++)
            {
                foreach (int id in results[r].Ids) yield return new TokenEvent(r, id, "", null);
                yield return new TokenEvent(r, -1, results[r].Text, results[r].FinishReason);
            }
            yield break;
        }
        if (_fast is not null && prompts.Count == 1)
        {
            foreach (var e in StreamOnCpuDecoder(_fast, prompts[0], options, cancel)) yield return e;
            yield break;
        }
        int b = prompts.Count;
        int maxPositions = _model.DecoderConfig.MaxPositionEmbeddings;
        int longest = prompts.Max(p => p.Count);
        if (prompts.Any(p => p.Count == 0)) throw new TailorException("a prompt is empty; give at least one token.");
        if (longest >= maxPositions)
            throw new TailorException($"the prompt has {longest} tokens; the model's context is {maxPositions} (max_position_embeddings). Shorten it.");
        int capacity = Math.Min(longest + options.MaxNewTokens, maxPositions);
        var rows = Enumerable.Range(0, b).Select(i => new RowState(prompts[i], new Sampler(options, i), options.Stop, options.StopAfterText)).ToArray();
        if (options.MaxNewTokens == 0)
        {
            for (int i = 0; i < b; i++) yield return new TokenEvent(i, -1, "", "length");
            yield break;
        }

        bool padded = prompts.Any(p => p.Count != longest);
        var padLengths = prompts.Select(p => longest - p.Count).ToArray();
        var device = _model.Device;
        using var inference = inference_mode();
        using var cache = new KvCache(_model.DecoderConfig, b, capacity, _model.DType, device);

        float[] logits;
        using (NewDisposeScope())
        {
            var ids = new long[b * longest];
            for (int r = 0; r < b; r++)
                for (int j = 0; j < prompts[r].Count; j++) ids[r * longest + padLengths[r] + j] = prompts[r][j];
            using var input = tensor(ids, [b, longest], device: device);                   // (B, T)
            Tensor? positions = null, mask = null;
            if (padded) (positions, mask) = PrefillPaddingInputs(padLengths, longest, device);
            logits = ToHost(_model.Forward(input, positions, mask, cache, lastOnly: true));   // (B, 1, V)
        }

        int vocab = logits.Length / b;
        var next = new long[b];
        for (int step = 0; ; step++)
        {
            cancel.ThrowIfCancellationRequested();
            for (int r = 0; r < b; r++)
            {
                var row = rows[r];
                if (row.Done) { next[r] = row.LastId; continue; }
                int id = row.Sampler.Next(logits.AsSpan(r * vocab, vocab), row.Seen, row.Generated);
                next[r] = id;
                row.LastId = id;
                if (options.StopAtEos && _eos.Contains(id))
                {
                    yield return new TokenEvent(r, -1, row.Finish(), "stop");   // EOS itself is not output
                    continue;
                }
                var (delta, stopHit) = row.Accept(id, _decode);
                string? reason = stopHit ? "stop"
                    : row.Generated.Count >= options.MaxNewTokens || longest + row.Generated.Count >= capacity ? "length"
                    : options.StopOnRepetition?.IsLooping(row.Generated) == true ? "repetition"
                    : null;
                if (reason is not null) delta += row.Finish();
                yield return new TokenEvent(r, id, delta, reason);
            }
            if (rows.All(r => r.Done)) yield break;

            using var scope = NewDisposeScope();
            using var input = tensor(next, [b, 1], device: device);                           // (B, 1)
            Tensor? positions = null, mask = null;
            if (padded)
            {
                long at = longest + step;                                                    // absolute slot of the new token
                positions = tensor(padLengths.Select(p => at - p).ToArray(), [b, 1], device: device);
                mask = DecodePaddingMask(padLengths, at + 1, device);
            }
            logits = ToHost(_model.Forward(input, positions, mask, cache, lastOnly: true));
        }
    }

    // The single-prompt loop of Stream on a CpuDecoder: same sampling, stop and streaming rules, no TorchSharp per token.
    private IEnumerable<TokenEvent> StreamOnCpuDecoder(CpuDecoder decoder, IReadOnlyList<int> prompt, SamplingOptions options, CancellationToken cancel)
    {
        if (prompt.Count == 0) throw new TailorException("a prompt is empty; give at least one token.");
        if (prompt.Count >= decoder.Capacity)
            throw new TailorException($"the prompt has {prompt.Count} tokens; the model's context is {decoder.Capacity} (max_position_embeddings). Shorten it.");
        int capacity = Math.Min(prompt.Count + options.MaxNewTokens, decoder.Capacity);
        var row = new RowState(prompt, new Sampler(options), options.Stop, options.StopAfterText);
        if (options.MaxNewTokens == 0)
        {
            yield return new TokenEvent(0, -1, "", "length");
            yield break;
        }
        var logits = new float[_model.DecoderConfig.VocabSize];
        decoder.Reset();
        Run(decoder, prompt, logits);
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            int id = row.Sampler.Next(logits, row.Seen, row.Generated);
            if (options.StopAtEos && _eos.Contains(id))
            {
                yield return new TokenEvent(0, -1, row.Finish(), "stop");
                yield break;
            }
            var (delta, stopHit) = row.Accept(id, _decode);
            string? reason = stopHit ? "stop"
                : row.Generated.Count >= options.MaxNewTokens || prompt.Count + row.Generated.Count >= capacity ? "length"
                : options.StopOnRepetition?.IsLooping(row.Generated) == true ? "repetition"
                : null;
            if (reason is not null) delta += row.Finish();
            yield return new TokenEvent(0, id, delta, reason);
            if (reason is not null) yield break;
            Run(decoder, [id], logits);
        }

        static void Run(CpuDecoder decoder, IReadOnlyList<int> ids, float[] logits) => decoder.Forward(ids).CopyTo(logits);
    }

    /// <summary>RoPE positions (B, T) counting from each row's first real token, and a (B, 1, T, T) causal mask that hides padding.</summary>
    internal static (Tensor Positions, Tensor Mask) PrefillPaddingInputs(int[] padLengths, long t, Device device)
    {
        int b = padLengths.Length;
        var pos = new long[b * t];
        var allowed = new bool[b * t * t];
        for (int r = 0; r < b; r++)
        {
            for (long q = 0; q < t; q++)
            {
                pos[r * t + q] = Math.Max(0, q - padLengths[r]);
                // A padding query sees itself only, so no row of the softmax is empty (an empty row gives NaN).
                for (long k = 0; k <= q; k++) allowed[(r * t + q) * t + k] = k >= padLengths[r] || k == q;
            }
        }
        return (tensor(pos, [b, t], device: device), tensor(allowed, [b, 1, t, t], device: device));
    }

    /// <summary>(B, 1, 1, S) mask for one decode step: every real key is visible, padding keys are not.</summary>
    internal static Tensor DecodePaddingMask(int[] padLengths, long s, Device device)
    {
        int b = padLengths.Length;
        var allowed = new bool[b * s];
        for (int r = 0; r < b; r++)
            for (long k = 0; k < s; k++) allowed[r * s + k] = k >= padLengths[r];
        return tensor(allowed, [b, 1, 1, s], device: device);
    }

    internal static float[] ToHost(Tensor logits) => logits.to_type(ScalarType.Float32).cpu().data<float>().ToArray();

    /// <summary>One row's text state: accepted ids, stop-string search and held-back text (shared with the serving engine).</summary>
    internal sealed class RowState(IReadOnlyList<int> prompt, Sampler sampler, IReadOnlyList<string> stops, bool stopAfterText = false)
    {
        private readonly int _holdBack = stops.Count == 0 ? 0 : stops.Max(s => s.Length) - 1;
        private int _emitted;

        public Sampler Sampler { get; } = sampler;
        public List<int> Seen { get; } = [.. prompt];
        public List<int> Generated { get; } = [];
        public string Text { get; private set; } = "";
        public bool Done { get; private set; }
        public int LastId { get; set; }

        /// <summary>Adds a token; returns the text that became safe to show and whether a stop string was completed.</summary>
        public (string Delta, bool StopHit) Accept(int id, Func<IReadOnlyList<int>, string> decode)
        {
            Generated.Add(id);
            Seen.Add(id);
            Text = decode(Generated);
            int searchFrom = Math.Max(0, _emitted - _holdBack);
            if (stopAfterText)
            {
                int text = 0;
                while (text < Text.Length && char.IsWhiteSpace(Text[text])) text++;
                searchFrom = Math.Max(searchFrom, text);
            }
            int cut = -1;
            foreach (string s in stops)
            {
                int at = Text.IndexOf(s, searchFrom, StringComparison.Ordinal);
                if (at >= 0 && (cut < 0 || at < cut)) cut = at;
            }
            if (cut >= 0)
            {
                Text = Text[..cut];
                return ("", true);
            }
            // Hold back a trailing partial character (U+FFFD from an incomplete UTF-8 sequence) and any tail that
            // could still grow into a stop string.
            int safe = Text.Length;
            if (safe > 0 && Text[^1] == '\uFFFD') safe--;
            int limit = safe;
            foreach (string s in stops)
            {
                for (int n = Math.Min(s.Length - 1, safe); n > 0; n--)
                {
                    if (string.CompareOrdinal(Text, safe - n, s, 0, n) == 0)
                    {
                        limit = Math.Min(limit, safe - n);
                        break;
                    }
                }
            }
            safe = Math.Max(limit, _emitted);
            string delta = Text[_emitted..safe];
            _emitted = safe;
            return (delta, false);
        }

        /// <summary>Ends the row; returns the text still held back.</summary>
        public string Finish()
        {
            Done = true;
            string rest = _emitted < Text.Length ? Text[_emitted..] : "";
            _emitted = Text.Length;
            return rest;
        }
    }
}
