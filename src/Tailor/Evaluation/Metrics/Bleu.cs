using System.Globalization;
using System.Text;

namespace Tailor.Evaluation.Metrics;

/// <summary>
/// Options of <see cref="Bleu"/>, named and defaulted as sacreBLEU 2.6.0's <c>BLEU</c> class.
/// </summary>
/// <param name="Tokenize">Word tokenizer: <c>13a</c> (mteval-v13a, the default), <c>intl</c> (mteval-v14
/// international), <c>char</c> (one token per character) or <c>none</c> (split on whitespace only).</param>
/// <param name="Smooth">Smoothing of zero-match orders: <c>exp</c> (NIST, mteval's default), <c>floor</c>,
/// <c>add-k</c> or <c>none</c>.</param>
/// <param name="SmoothValue">The value for <c>floor</c> (default 0.1) and <c>add-k</c> (default 1); ignored by
/// the other methods.</param>
/// <param name="Lowercase">Lowercase hypotheses and references first (Python <c>str.lower()</c>).</param>
/// <param name="EffectiveOrder">Drop the n-gram orders for which the hypothesis side has no n-gram at all (it
/// is shorter than the order). <c>null</c> means sacreBLEU's per-entry-point default: off for
/// <see cref="Bleu.Corpus"/> (<c>corpus_bleu</c>), on for <see cref="Bleu.Sentence"/> (<c>sentence_bleu</c>).</param>
/// <param name="MaxNgramOrder">Highest n-gram order (4).</param>
public sealed record BleuOptions(
    string Tokenize = "13a",
    string Smooth = "exp",
    double? SmoothValue = null,
    bool Lowercase = false,
    bool? EffectiveOrder = null,
    int MaxNgramOrder = 4);

/// <summary>
/// A BLEU score and the sufficient statistics it came from, as sacreBLEU's <c>BLEUScore</c>.
/// </summary>
/// <param name="Score">BLEU on sacreBLEU's 0-100 scale.</param>
/// <param name="Counts">Matched (clipped) n-grams per order 1..N. For <c>add-k</c> these are the raw counts;
/// sacreBLEU reports them with k already added to orders 2..N.</param>
/// <param name="Totals">Hypothesis n-grams per order 1..N (raw, as for <paramref name="Counts"/>).</param>
/// <param name="Precisions">Smoothed n-gram precisions per order, 0-100.</param>
/// <param name="Bp">Brevity penalty.</param>
/// <param name="SysLen">Hypothesis tokens in the corpus.</param>
/// <param name="RefLen">Closest-reference tokens in the corpus.</param>
/// <param name="Signature">sacreBLEU's reproducibility signature, e.g.
/// <c>nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0</c>.</param>
public sealed record BleuScore(
    double Score,
    IReadOnlyList<long> Counts,
    IReadOnlyList<long> Totals,
    IReadOnlyList<double> Precisions,
    double Bp,
    long SysLen,
    long RefLen,
    string Signature)
{
    /// <summary><c>SysLen / RefLen</c>, 0 when there is no reference token.</summary>
    public double Ratio => RefLen != 0 ? (double)SysLen / RefLen : 0;

    /// <summary>
    /// The line sacreBLEU prints, e.g.
    /// <c>BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)</c>.
    /// </summary>
    /// <param name="width">Decimals of the score (sacreBLEU's <c>width</c>, 2 in the API, 1 on its command line).</param>
    /// <param name="withSignature">Put the signature after the name, as the command line does.</param>
    public string Format(int width = 2, bool withSignature = true)
    {
        var sb = new StringBuilder("BLEU");
        if (withSignature)
            sb.Append('|').Append(Signature);
        sb.Append(" = ").Append(PyText.FormatFixed(Score, width)).Append(' ');
        for (int i = 0; i < Precisions.Count; i++)
        {
            if (i > 0)
                sb.Append('/');
            sb.Append(PyText.FormatFixed(Precisions[i], 1));
        }
        sb.Append(" (BP = ").Append(PyText.FormatFixed(Bp, 3))
            .Append(" ratio = ").Append(PyText.FormatFixed(Ratio, 3))
            .Append(" hyp_len = ").Append(SysLen.ToString(CultureInfo.InvariantCulture))
            .Append(" ref_len = ").Append(RefLen.ToString(CultureInfo.InvariantCulture)).Append(')');
        return sb.ToString();
    }

    /// <inheritdoc cref="Format"/>
    public override string ToString() => Format();
}

/// <summary>
/// BLEU (Papineni et al., 2002) exactly as sacreBLEU 2.6.0 computes it: same tokenizers, clipping against the
/// maximum count over references, closest reference length (ties to the shorter), smoothing methods, effective
/// order and signature. Scores are on a 0-100 scale.
/// </summary>
/// <remarks>
/// References follow sacreBLEU's stream layout: <c>referenceStreams[k][i]</c> is the k-th reference of
/// hypothesis i. A <c>null</c> reference is dropped (variable reference count, signature <c>nrefs:var</c>); an
/// empty string is kept as a zero-length reference. Everything here is pure managed code and thread-safe.
/// </remarks>
public static class Bleu
{
    /// <summary>The sacreBLEU release whose numbers and signatures this class reproduces.</summary>
    public const string SacreBleuVersion = "2.6.0";

    /// <summary>Corpus BLEU (<c>sacrebleu.corpus_bleu</c> / <c>BLEU().corpus_score</c>).</summary>
    /// <param name="hypotheses">One system output per segment.</param>
    /// <param name="referenceStreams">Reference streams, each aligned with <paramref name="hypotheses"/>.</param>
    /// <param name="options">Options; <c>null</c> means sacreBLEU's defaults (13a, exp, no effective order).</param>
    public static BleuScore Corpus(
        IReadOnlyList<string> hypotheses,
        IReadOnlyList<IReadOnlyList<string?>> referenceStreams,
        BleuOptions? options = null)
    {
        options ??= new BleuOptions();
        long[][] stats = SegmentStatistics(hypotheses, referenceStreams, options, out string numRefs);
        return FromStatistics(Sum(stats), options with { EffectiveOrder = options.EffectiveOrder ?? false }, numRefs);
    }

    /// <summary>
    /// Sentence BLEU (<c>sacrebleu.sentence_bleu</c>): the corpus formula on one segment. With
    /// <see cref="BleuOptions.EffectiveOrder"/> left <c>null</c>, effective order is on, as in
    /// <c>sentence_bleu</c>.
    /// </summary>
    public static BleuScore Sentence(string hypothesis, IReadOnlyList<string?> references, BleuOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(hypothesis);
        ArgumentNullException.ThrowIfNull(references);
        options ??= new BleuOptions();
        var streams = new IReadOnlyList<string?>[references.Count];
        for (int k = 0; k < references.Count; k++)
            streams[k] = [references[k]];
        long[][] stats = SegmentStatistics([hypothesis], streams, options, out string numRefs);
        return FromStatistics(stats[0], options with { EffectiveOrder = options.EffectiveOrder ?? true }, numRefs);
    }

    /// <summary>
    /// Per-segment sufficient statistics in sacreBLEU's layout: <c>[hyp_len, ref_len, correct_1..N, total_1..N]</c>.
    /// Summing rows over any subset of segments and calling <see cref="FromStatistics"/> gives that subset's
    /// corpus BLEU, which is what paired bootstrap resampling needs.
    /// </summary>
    /// <param name="hypotheses">One system output per segment.</param>
    /// <param name="referenceStreams">Reference streams, each aligned with <paramref name="hypotheses"/>.</param>
    /// <param name="options">Options; <c>null</c> means sacreBLEU defaults.</param>
    /// <param name="numRefs">The <c>nrefs</c> signature field: the reference count, or <c>var</c>.</param>
    public static long[][] SegmentStatistics(
        IReadOnlyList<string> hypotheses,
        IReadOnlyList<IReadOnlyList<string?>> referenceStreams,
        BleuOptions? options,
        out string numRefs)
    {
        ArgumentNullException.ThrowIfNull(hypotheses);
        ArgumentNullException.ThrowIfNull(referenceStreams);
        options ??= new BleuOptions();
        Validate(options);
        CheckStreams(hypotheses, referenceStreams);

        int order = options.MaxNgramOrder;
        var refCounts = new NgramCounter();
        var oneRef = new NgramCounter();
        var hypCounts = new NgramCounter();
        var starts = new List<int>();
        var refLens = new List<int>();
        var stats = new long[hypotheses.Count][];
        int refCountSeen = -1;
        bool variable = false;

        for (int i = 0; i < hypotheses.Count; i++)
        {
            refCounts.Clear();
            refLens.Clear();
            for (int k = 0; k < referenceStreams.Count; k++)
            {
                string? reference = referenceStreams[k][i];
                if (reference is null)
                    continue;
                string tokens = Preprocess(reference, options);
                int len = TokenStarts(tokens, starts);
                refLens.Add(len);
                oneRef.Clear();
                CountNgrams(tokens, starts, 1, order, oneRef);
                foreach (KeyValuePair<TextSlice, int> kv in oneRef.Entries)
                    refCounts.Max(kv.Key, kv.Value);
            }

            if (refCountSeen == -1)
                refCountSeen = refLens.Count;
            else if (refCountSeen != refLens.Count)
                variable = true;

            string hyp = Preprocess(hypotheses[i] ?? throw new ArgumentException(
                $"hypotheses[{i}] is null; every segment needs a hypothesis string (use \"\" for an empty output).",
                nameof(hypotheses)), options);
            int hypLen = TokenStarts(hyp, starts);

            var row = new long[2 + 2 * order];
            row[0] = hypLen;
            row[1] = ClosestRefLen(hypLen, refLens);
            for (int n = 1; n <= order; n++)
            {
                hypCounts.Clear();
                CountNgrams(hyp, starts, n, n, hypCounts);
                long correct = 0, total = 0;
                foreach (KeyValuePair<TextSlice, int> kv in hypCounts.Entries)
                {
                    total += kv.Value;
                    correct += Math.Min(kv.Value, refCounts.Get(kv.Key));
                }
                row[1 + n] = correct;
                row[1 + order + n] = total;
            }
            stats[i] = row;
        }

        numRefs = variable ? "var" : Math.Max(refCountSeen, 0).ToString(CultureInfo.InvariantCulture);
        return stats;
    }

    /// <summary>
    /// BLEU from summed statistics in the <see cref="SegmentStatistics"/> layout (sacreBLEU's
    /// <c>compute_bleu</c>).
    /// </summary>
    /// <param name="stats"><c>[sys_len, ref_len, correct_1..N, total_1..N]</c>.</param>
    /// <param name="options">Options; <see cref="BleuOptions.EffectiveOrder"/> <c>null</c> counts as off.</param>
    /// <param name="numRefs">The <c>nrefs</c> value to put in the signature.</param>
    public static BleuScore FromStatistics(IReadOnlyList<long> stats, BleuOptions? options = null, string numRefs = "1")
    {
        ArgumentNullException.ThrowIfNull(stats);
        options ??= new BleuOptions();
        int order = options.MaxNgramOrder;
        if (stats.Count != 2 + 2 * order)
        {
            throw new ArgumentException(
                $"BLEU statistics have {stats.Count} entries; MaxNgramOrder {order} needs {2 + 2 * order} "
                + "([sys_len, ref_len, correct_1..N, total_1..N]).", nameof(stats));
        }
        var correct = new long[order];
        var total = new long[order];
        for (int n = 0; n < order; n++)
        {
            correct[n] = stats[2 + n];
            total[n] = stats[2 + order + n];
        }
        return Compute(correct, total, stats[0], stats[1], options, numRefs);
    }

    /// <summary>
    /// BLEU from its sufficient statistics (sacreBLEU's <c>BLEU.compute_bleu</c>), with the smoothing,
    /// effective order and early exit (no match at any order gives 0, sacreBLEU issue #141) of the reference.
    /// </summary>
    public static BleuScore Compute(
        IReadOnlyList<long> correct,
        IReadOnlyList<long> total,
        long sysLen,
        long refLen,
        BleuOptions? options = null,
        string numRefs = "1")
    {
        ArgumentNullException.ThrowIfNull(correct);
        ArgumentNullException.ThrowIfNull(total);
        options ??= new BleuOptions();
        Validate(options);
        int order = options.MaxNgramOrder;
        if (correct.Count != order || total.Count != order)
        {
            throw new ArgumentException(
                $"BLEU needs {order} correct and total counts (MaxNgramOrder); got {correct.Count} and {total.Count}.");
        }

        string signature = Signature(options, numRefs);
        double smoothValue = options.SmoothValue ?? DefaultSmoothValue(options.Smooth);
        bool effectiveOrder = options.EffectiveOrder ?? false;

        double bp = 1.0;
        if (sysLen < refLen)
            bp = sysLen > 0 ? Math.Exp(1 - (double)refLen / sysLen) : 0.0;

        var precisions = new double[order];
        bool anyMatch = false;
        for (int n = 0; n < order; n++)
            anyMatch |= correct[n] != 0;
        if (!anyMatch)
            return new BleuScore(0.0, [.. correct], [.. total], precisions, bp, sysLen, refLen, signature);

        double smoothMteval = 1.0;
        int effOrder = order;
        for (int n = 1; n <= order; n++)
        {
            // add-k touches orders 2..N only, and is applied before the zero-total test, so an order the
            // hypothesis is too short for still gets a precision of k/k.
            double c = correct[n - 1];
            double t = total[n - 1];
            if (options.Smooth == "add-k" && n > 1)
            {
                c += smoothValue;
                t += smoothValue;
            }
            if (t == 0)
                break;
            if (effectiveOrder)
                effOrder = n;

            if (c == 0)
            {
                if (options.Smooth == "exp")
                {
                    smoothMteval *= 2;
                    precisions[n - 1] = 100.0 / (smoothMteval * t);
                }
                else if (options.Smooth == "floor")
                {
                    precisions[n - 1] = 100.0 * smoothValue / t;
                }
            }
            else
            {
                precisions[n - 1] = 100.0 * c / t;
            }
        }

        double logSum = 0;
        for (int n = 0; n < effOrder; n++)
            logSum += precisions[n] == 0.0 ? -9999999999.0 : Math.Log(precisions[n]);
        double score = bp * Math.Exp(logSum / effOrder);

        return new BleuScore(score, [.. correct], [.. total], precisions, bp, sysLen, refLen, signature);
    }

    /// <summary>The signature sacreBLEU prints for these options and reference count.</summary>
    public static string Signature(BleuOptions options, string numRefs)
    {
        ArgumentNullException.ThrowIfNull(options);
        string smooth = options.Smooth;
        if (smooth is "floor" or "add-k")
            smooth += "[" + PyText.FormatFixed(options.SmoothValue ?? DefaultSmoothValue(options.Smooth), 2) + "]";
        return $"nrefs:{numRefs}|case:{(options.Lowercase ? "lc" : "mixed")}"
            + $"|eff:{((options.EffectiveOrder ?? false) ? "yes" : "no")}|tok:{options.Tokenize}"
            + $"|smooth:{smooth}|version:{SacreBleuVersion}";
    }

    /// <summary>Lowercase (optional), right-strip and tokenize one segment, as <c>BLEU._preprocess_segment</c>.</summary>
    internal static string Preprocess(string segment, BleuOptions options)
    {
        if (options.Lowercase)
            segment = PyText.Lower(segment);
        return BleuTokenizers.Tokenize(PyText.RStrip(segment), options.Tokenize);
    }

    private static double DefaultSmoothValue(string smooth) => smooth switch
    {
        "floor" => 0.1,
        "add-k" => 1,
        _ => 0,
    };

    private static void Validate(BleuOptions options)
    {
        if (options.Smooth is not ("exp" or "floor" or "add-k" or "none"))
        {
            throw new ArgumentException(
                $"BleuOptions.Smooth: unknown smoothing '{options.Smooth}'. Use exp, floor, add-k or none.",
                nameof(options));
        }
        if (!BleuTokenizers.Supported.Contains(options.Tokenize))
        {
            throw new ArgumentException(
                $"BleuOptions.Tokenize: unknown tokenizer '{options.Tokenize}'. Use one of: "
                + $"{string.Join(", ", BleuTokenizers.Supported)}.", nameof(options));
        }
        if (options.MaxNgramOrder < 1)
        {
            throw new ArgumentException(
                $"BleuOptions.MaxNgramOrder is {options.MaxNgramOrder}; it must be at least 1.", nameof(options));
        }
    }

    internal static void CheckStreams<T>(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<T>> streams)
    {
        if (streams.Count == 0)
            throw new ArgumentException("referenceStreams is empty; give at least one reference stream.", nameof(streams));
        for (int k = 0; k < streams.Count; k++)
        {
            if (streams[k] is null)
                throw new ArgumentException($"referenceStreams[{k}] is null.", nameof(streams));
            if (streams[k].Count != hypotheses.Count)
            {
                throw new ArgumentException(
                    $"referenceStreams[{k}] has {streams[k].Count} segments but there are {hypotheses.Count} "
                    + "hypotheses. Each stream holds one reference per hypothesis (referenceStreams[k][i] is the "
                    + "k-th reference of hypothesis i); use null where a segment has fewer references.",
                    nameof(streams));
            }
        }
    }

    // sacreBLEU's _get_closest_ref_len: smallest |hyp - ref|, ties to the shorter reference; -1 with no reference.
    private static int ClosestRefLen(int hypLen, List<int> refLens)
    {
        int closestDiff = -1, closestLen = -1;
        foreach (int refLen in refLens)
        {
            int diff = Math.Abs(hypLen - refLen);
            if (closestDiff == -1 || diff < closestDiff)
            {
                closestDiff = diff;
                closestLen = refLen;
            }
            else if (diff == closestDiff && refLen < closestLen)
            {
                closestLen = refLen;
            }
        }
        return closestLen;
    }

    // Token start offsets of a single-space-joined string; returns the token count. starts gets one extra entry,
    // text.Length + 1, so that token j spans [starts[j], starts[j + 1] - 1).
    private static int TokenStarts(string text, List<int> starts)
    {
        starts.Clear();
        if (text.Length == 0)
        {
            starts.Add(1);
            return 0;
        }
        starts.Add(0);
        for (int p = 0; p < text.Length; p++)
        {
            if (text[p] == ' ')
                starts.Add(p + 1);
        }
        starts.Add(text.Length + 1);
        return starts.Count - 1;
    }

    // Adds every n-gram of orders minOrder..maxOrder; an n-gram is the slice from its first token's start to its
    // last token's end, so its text is the tokens joined by single spaces.
    private static void CountNgrams(string text, List<int> starts, int minOrder, int maxOrder, NgramCounter into)
    {
        int tokens = starts.Count - 1;
        for (int n = minOrder; n <= maxOrder; n++)
        {
            for (int i = 0; i + n <= tokens; i++)
            {
                int from = starts[i];
                int to = starts[i + n] - 1;
                into.Add(text, from, to - from);
            }
        }
    }

    private static long[] Sum(long[][] rows)
    {
        if (rows.Length == 0)
            throw new ArgumentException("hypotheses is empty; BLEU needs at least one segment.");
        var sum = new long[rows[0].Length];
        foreach (long[] row in rows)
        {
            for (int j = 0; j < sum.Length; j++)
                sum[j] += row[j];
        }
        return sum;
    }
}
