using System.ComponentModel;

namespace Tailor.Generation;

/// <summary>
/// How to pick tokens. Every default is the common one (HF generate, OpenAI API): greedy unless a temperature is given.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Most tokens to generate per prompt.</summary>
    [Description("most tokens to generate per prompt")]
    public int MaxNewTokens { get; init; } = 128;

    /// <summary>0 means greedy (argmax); otherwise logits are divided by it before sampling.</summary>
    [Description("0 = greedy (the most likely token each step); otherwise sample from softmax(logits / T)")]
    public double Temperature { get; init; }

    /// <summary>Keep only the K most likely tokens (0 = off).</summary>
    [Description("sample only among the K most likely tokens (0 = off)")]
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of tokens whose probability reaches P (1 = off).</summary>
    [Description("sample only among the smallest set of tokens with probability >= P (1 = off)")]
    public double TopP { get; init; } = 1.0;

    /// <summary>CTRL-style penalty on tokens already in the prompt or output (1 = off): positive logits ÷ p, negative × p.</summary>
    [Description("divide positive / multiply negative logits of tokens already seen by R (1 = off)")]
    public double RepetitionPenalty { get; init; } = 1.0;

    /// <summary>
    /// Never write the same N-gram twice within one answer (0 = off): after the answer's last N−1 tokens, any token that
    /// followed them earlier in the answer is barred. As HF generate's <c>no_repeat_ngram_size</c>, but over the
    /// generated tokens only: HF counts a decoder-only model's prompt too, which would bar a summary from copying a
    /// phrase of its input and a translation from keeping a name the k-shot examples used.
    /// </summary>
    [Description("never repeat an N-gram within the generated text (0 = off); the prompt does not count")]
    public int NoRepeatNgramSize { get; init; }

    /// <summary>
    /// Beam search with this many beams (1 = off): the answer with the best length-normalised log-probability among
    /// the hypotheses the search finishes (<see cref="BeamSearch"/>). Greedy only (temperature 0), and not streamed.
    /// </summary>
    [Description("beam search with N beams (1 = off; needs temperature 0; the answer comes whole, not streamed)")]
    public int NumBeams { get; init; } = 1;

    /// <summary>Beam search scores a finished answer as its summed log-probability ÷ length^this (HF's length_penalty).</summary>
    [Description("beam search: a finished answer scores sum(log p) / length^P (HF's length_penalty, default 1; 0 = the plain sum); a higher P favours longer answers")]
    public double LengthPenalty { get; init; } = 1.0;

    /// <summary>Seed of the sampler; the same seed gives the same text. Null draws one.</summary>
    [Description("sampling seed; the same seed gives the same text (null draws one)")]
    public int? Seed { get; init; }

    /// <summary>Strings that end generation; they are not part of the returned text.</summary>
    [Description("stop when this string appears (repeatable); it is not part of the text")]
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>
    /// Stop strings count only once the text has a non-white-space character, so blank lines before an answer do not
    /// end it empty (evaluation's "stop at the end of the line" for a base model that starts its answer on a new line).
    /// </summary>
    public bool StopAfterText { get; init; }

    /// <summary>Whether an end-of-sequence id ends generation.</summary>
    [Description("stop at the model's end-of-text token")]
    public bool StopAtEos { get; init; } = true;

    /// <summary>Ends a row that has fallen into a loop, with finish reason "repetition" (null = off, as in HF generate).</summary>
    public RepetitionStop? StopOnRepetition { get; init; }

    /// <summary>Throws a <see cref="TailorException"/> naming the first out-of-range option.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new TailorException($"max_new_tokens = {MaxNewTokens}: must be 0 or more.");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new TailorException($"temperature = {Temperature}: must be 0 (greedy) or positive.");
        if (TopK < 0) throw new TailorException($"top_k = {TopK}: must be 0 (off) or positive.");
        if (!(TopP > 0 && TopP <= 1)) throw new TailorException($"top_p = {TopP}: must be in (0, 1].");
        if (!(RepetitionPenalty > 0) || double.IsInfinity(RepetitionPenalty)) throw new TailorException($"repetition_penalty = {RepetitionPenalty}: must be positive (1 = off).");
        if (NumBeams is < 1 or > 64) throw new TailorException($"num_beams = {NumBeams}: must be between 1 (off) and 64.");
        if (NumBeams > 1 && Temperature != 0) throw new TailorException($"num_beams = {NumBeams} with temperature {Temperature}: beam search is greedy; set temperature 0 or num_beams 1.");
        if (!double.IsFinite(LengthPenalty)) throw new TailorException($"length_penalty = {LengthPenalty}: must be a finite number.");
        if (NoRepeatNgramSize < 0) throw new TailorException($"no_repeat_ngram_size = {NoRepeatNgramSize}: must be 0 (off) or positive.");
        if (Stop.Any(string.IsNullOrEmpty)) throw new TailorException("a stop string is empty; give non-empty stop strings.");
        StopOnRepetition?.Validate();
    }
}

/// <summary>Picks the next token from one row of logits on the host. Pure C#: the same inputs and seed give the same pick.</summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private int[] _order = [];
    private float[] _probs = [];

    /// <summary>Creates a sampler; <paramref name="rowSeedOffset"/> gives each row of a batch its own stream.</summary>
    public Sampler(SamplingOptions options, int rowSeedOffset = 0)
    {
        _options = options;
        _random = options.Seed is int s ? new Random(unchecked(s + rowSeedOffset * 7919)) : new Random();
    }

    /// <summary>
    /// The next token id for <paramref name="logits"/> (V values, modified in place) given the ids seen so far (prompt
    /// and output, for the repetition penalty) and the ids generated so far (for the n-gram ban).
    /// </summary>
    public int Next(Span<float> logits, IReadOnlyCollection<int> seen, IReadOnlyList<int> generated)
    {
        if (_options.NoRepeatNgramSize > 0) BanRepeatedNgrams(logits, generated, _options.NoRepeatNgramSize);
        if (_options.RepetitionPenalty != 1.0)
        {
            float p = (float)_options.RepetitionPenalty;
            foreach (int id in seen.Distinct())
                if ((uint)id < (uint)logits.Length) logits[id] = logits[id] > 0 ? logits[id] / p : logits[id] * p;
        }
        if (_options.Temperature == 0) return ArgMax(logits);

        int v = logits.Length;
        if (_order.Length != v) { _order = new int[v]; _probs = new float[v]; }
        for (int i = 0; i < v; i++) _order[i] = i;
        float[] scaled = _probs;
        float inv = (float)(1.0 / _options.Temperature);
        for (int i = 0; i < v; i++) scaled[i] = logits[i] * inv;
        // Sort ids by descending logit (ties by id, so the order is deterministic).
        Array.Sort(_order, (a, b) => scaled[b].CompareTo(scaled[a]) is int c && c != 0 ? c : a.CompareTo(b));
        int keep = _options.TopK > 0 ? Math.Min(_options.TopK, v) : v;

        double max = scaled[_order[0]], sum = 0;
        var weights = new double[keep];
        for (int i = 0; i < keep; i++) sum += weights[i] = Math.Exp(scaled[_order[i]] - max);
        if (_options.TopP < 1.0)
        {
            // Smallest prefix whose mass reaches top_p; at least one token stays.
            double cumulative = 0;
            int n = 0;
            while (n < keep)
            {
                cumulative += weights[n] / sum;
                n++;
                if (cumulative >= _options.TopP) break;
            }
            keep = n;
            sum = 0;
            for (int i = 0; i < keep; i++) sum += weights[i];
        }
        double r = _random.NextDouble() * sum;
        for (int i = 0; i < keep; i++)
        {
            r -= weights[i];
            if (r < 0) return _order[i];
        }
        return _order[keep - 1];
    }

    /// <summary>
    /// Sets to −∞ the logit of every token that would complete an <paramref name="n"/>-gram already in
    /// <paramref name="generated"/>: those that followed an earlier occurrence of its last n−1 tokens.
    /// </summary>
    public static void BanRepeatedNgrams(Span<float> logits, IReadOnlyList<int> generated, int n)
    {
        int count = generated.Count, prefix = n - 1;
        if (count < prefix) return;
        // Each earlier start i whose n−1 tokens equal the last n−1 bars the token after them.
        for (int i = 0; i + prefix < count; i++)
        {
            int k = 0;
            while (k < prefix && generated[i + k] == generated[count - prefix + k]) k++;
            if (k < prefix) continue;
            int banned = generated[i + prefix];
            if ((uint)banned < (uint)logits.Length) logits[banned] = float.NegativeInfinity;
        }
    }

    /// <summary>Index of the largest value (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
