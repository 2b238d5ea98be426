using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Tailor.Evaluation.Metrics;

/// <summary>Options of <see cref="ChrF"/>, named and defaulted as sacreBLEU 2.6.0's <c>CHRF</c> class.</summary>
/// <param name="CharOrder">Character n-gram order (6).</param>
/// <param name="WordOrder">Word n-gram order: 0 for chrF, 2 for chrF++.</param>
/// <param name="Beta">Weight of recall relative to precision (2).</param>
/// <param name="Lowercase">Lowercase hypotheses and references first (Python <c>str.lower()</c>).</param>
/// <param name="Whitespace">Keep whitespace inside character n-grams. The default deletes all whitespace
/// first, so character n-grams run across word boundaries.</param>
/// <param name="EpsSmoothing">Average per-order F scores with epsilon smoothing over all orders (chrF++.py,
/// NLTK, Moses). The default averages precision and recall over the orders both sides have n-grams of
/// (signature <c>eff:yes</c>).</param>
public sealed record ChrFOptions(
    int CharOrder = 6,
    int WordOrder = 0,
    double Beta = 2,
    bool Lowercase = false,
    bool Whitespace = false,
    bool EpsSmoothing = false);

/// <summary>A chrF or chrF++ score.</summary>
/// <param name="Score">chrF on sacreBLEU's 0-100 scale.</param>
/// <param name="Signature">sacreBLEU's signature, e.g. <c>nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0</c>.</param>
/// <param name="Name">The metric's name as sacreBLEU prints it: <c>chrF2</c>, or <c>chrF2++</c> with word order 2.</param>
public sealed record ChrFScore(double Score, string Signature, string Name)
{
    /// <summary>The line sacreBLEU prints, e.g. <c>chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 59.73</c>.</summary>
    public string Format(int width = 2, bool withSignature = true) =>
        (withSignature ? Name + "|" + Signature : Name) + " = " + PyText.FormatFixed(Score, width);

    /// <inheritdoc cref="Format"/>
    public override string ToString() => Format();
}

/// <summary>
/// chrF (Popović 2015) and chrF++ (Popović 2017) exactly as sacreBLEU 2.6.0 computes them: character n-grams
/// over code points, chrF++'s one-sided punctuation splitting for word n-grams, best-F reference per segment,
/// corpus statistics summed before the single F computation. Scores are on a 0-100 scale.
/// </summary>
/// <remarks>
/// References follow sacreBLEU's stream layout (<c>referenceStreams[k][i]</c>); a <c>null</c> reference is
/// dropped. Pure managed code, thread-safe.
/// </remarks>
public static class ChrF
{
    private const double Eps = 1e-16;

    // string.punctuation, which chrF++ splits off the ends of words.
    private const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>Corpus chrF (<c>sacrebleu.corpus_chrf</c> / <c>CHRF().corpus_score</c>).</summary>
    /// <param name="hypotheses">One system output per segment.</param>
    /// <param name="referenceStreams">Reference streams, each aligned with <paramref name="hypotheses"/>.</param>
    /// <param name="options">Options; <c>null</c> means chrF2 with sacreBLEU's defaults.</param>
    public static ChrFScore Corpus(
        IReadOnlyList<string> hypotheses,
        IReadOnlyList<IReadOnlyList<string?>> referenceStreams,
        ChrFOptions? options = null)
    {
        options ??= new ChrFOptions();
        long[][] stats = SegmentStatistics(hypotheses, referenceStreams, options, out string numRefs);
        if (stats.Length == 0)
            throw new ArgumentException("hypotheses is empty; chrF needs at least one segment.", nameof(hypotheses));
        var sum = new long[stats[0].Length];
        foreach (long[] row in stats)
        {
            for (int j = 0; j < sum.Length; j++)
                sum[j] += row[j];
        }
        return FromStatistics(sum, options, numRefs);
    }

    /// <summary>Sentence chrF (<c>sacrebleu.sentence_chrf</c>): the corpus formula on one segment.</summary>
    public static ChrFScore Sentence(string hypothesis, IReadOnlyList<string?> references, ChrFOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(hypothesis);
        ArgumentNullException.ThrowIfNull(references);
        options ??= new ChrFOptions();
        var streams = new IReadOnlyList<string?>[references.Count];
        for (int k = 0; k < references.Count; k++)
            streams[k] = [references[k]];
        long[][] stats = SegmentStatistics([hypothesis], streams, options, out string numRefs);
        return FromStatistics(stats[0], options, numRefs);
    }

    /// <summary>
    /// Per-segment statistics in sacreBLEU's layout: for each order (character orders 1..CharOrder, then word
    /// orders 1..WordOrder) the triple <c>[hyp_count, ref_count, match]</c> of the reference with the best
    /// sentence F. Sum rows over segments and call <see cref="FromStatistics"/> for a corpus score.
    /// </summary>
    /// <param name="hypotheses">One system output per segment.</param>
    /// <param name="referenceStreams">Reference streams, each aligned with <paramref name="hypotheses"/>.</param>
    /// <param name="options">Options; <c>null</c> means chrF2 defaults.</param>
    /// <param name="numRefs">The <c>nrefs</c> signature field: the reference count, or <c>var</c>.</param>
    public static long[][] SegmentStatistics(
        IReadOnlyList<string> hypotheses,
        IReadOnlyList<IReadOnlyList<string?>> referenceStreams,
        ChrFOptions? options,
        out string numRefs)
    {
        ArgumentNullException.ThrowIfNull(hypotheses);
        ArgumentNullException.ThrowIfNull(referenceStreams);
        options ??= new ChrFOptions();
        Validate(options);
        Bleu.CheckStreams(hypotheses, referenceStreams);

        int orders = options.CharOrder + options.WordOrder;
        var hypCounts = new NgramCounter();
        var refCounts = new NgramCounter();
        var hypPacked = new Dictionary<UInt128, int>();
        var refPacked = new Dictionary<UInt128, int>();
        var refs = new List<Segment>();
        var perRef = new List<long[]>();
        var stats = new long[hypotheses.Count][];
        int refCountSeen = -1;
        bool variable = false;

        for (int i = 0; i < hypotheses.Count; i++)
        {
            refs.Clear();
            for (int k = 0; k < referenceStreams.Count; k++)
            {
                string? reference = referenceStreams[k][i];
                if (reference is not null)
                    refs.Add(new Segment(reference, options));
            }
            if (refCountSeen == -1)
                refCountSeen = refs.Count;
            else if (refCountSeen != refs.Count)
                variable = true;
            if (refs.Count == 0)
            {
                throw new ArgumentException(
                    $"Segment {i} has no reference (all streams hold null there); chrF needs at least one.",
                    nameof(referenceStreams));
            }

            var hyp = new Segment(hypotheses[i] ?? throw new ArgumentException(
                $"hypotheses[{i}] is null; every segment needs a hypothesis string (use \"\" for an empty output).",
                nameof(hypotheses)), options);

            perRef.Clear();
            for (int r = 0; r < refs.Count; r++)
                perRef.Add(new long[3 * orders]);

            for (int o = 0; o < orders; o++)
            {
                if (o < options.CharOrder && o < Segment.MaxPackedOrder)
                {
                    // Character n-grams short enough to pack exactly into a 128-bit key: no string hashing.
                    hypPacked.Clear();
                    hyp.CountPacked(o + 1, hypPacked);
                    for (int r = 0; r < refs.Count; r++)
                    {
                        refPacked.Clear();
                        long refTotal = refs[r].CountPacked(o + 1, refPacked);
                        SetOrderStats(hypPacked, refPacked, refTotal, perRef[r], o);
                    }
                }
                else
                {
                    hypCounts.Clear();
                    hyp.Count(o, options.CharOrder, hypCounts);
                    for (int r = 0; r < refs.Count; r++)
                    {
                        refCounts.Clear();
                        long refTotal = refs[r].Count(o, options.CharOrder, refCounts);
                        SetOrderStats(hypCounts.Entries, refCounts.Entries, refTotal, perRef[r], o);
                    }
                }
            }

            // The reference with the highest sentence F; the first one on a tie (strict >, from -1).
            double bestF = -1.0;
            long[] best = perRef[0];
            foreach (long[] row in perRef)
            {
                double f = FScore(row, options);
                if (f > bestF)
                {
                    bestF = f;
                    best = row;
                }
            }
            stats[i] = best;
        }

        numRefs = variable ? "var" : Math.Max(refCountSeen, 0).ToString(CultureInfo.InvariantCulture);
        return stats;
    }

    // The [hyp_count, ref_count, match] triple of one order against one reference, as _get_match_statistics:
    // no hypothesis count for an order the reference has no n-gram of.
    private static void SetOrderStats<TKey>(
        Dictionary<TKey, int> hyp, Dictionary<TKey, int> reference, long refTotal, long[] row, int o)
        where TKey : notnull
    {
        long hypTotal = 0, match = 0;
        foreach (KeyValuePair<TKey, int> kv in hyp)
        {
            hypTotal += kv.Value;
            if (reference.TryGetValue(kv.Key, out int refCount))
                match += Math.Min(kv.Value, refCount);
        }
        row[3 * o] = reference.Count > 0 ? hypTotal : 0;
        row[3 * o + 1] = refTotal;
        row[3 * o + 2] = match;
    }

    /// <summary>chrF from summed statistics in the <see cref="SegmentStatistics"/> layout.</summary>
    /// <param name="stats">3 × (CharOrder + WordOrder) entries.</param>
    /// <param name="options">The options the statistics were computed with.</param>
    /// <param name="numRefs">The <c>nrefs</c> value to put in the signature.</param>
    public static ChrFScore FromStatistics(IReadOnlyList<long> stats, ChrFOptions? options = null, string numRefs = "1")
    {
        ArgumentNullException.ThrowIfNull(stats);
        options ??= new ChrFOptions();
        Validate(options);
        int orders = options.CharOrder + options.WordOrder;
        if (stats.Count != 3 * orders)
        {
            throw new ArgumentException(
                $"chrF statistics have {stats.Count} entries; {orders} orders need {3 * orders} ([hyp, ref, match] per order).",
                nameof(stats));
        }
        return new ChrFScore(FScore(stats, options), Signature(options, numRefs), Name(options));
    }

    /// <summary>The signature sacreBLEU prints for these options and reference count.</summary>
    public static string Signature(ChrFOptions options, string numRefs)
    {
        ArgumentNullException.ThrowIfNull(options);
        return $"nrefs:{numRefs}|case:{(options.Lowercase ? "lc" : "mixed")}|eff:{(options.EpsSmoothing ? "no" : "yes")}"
            + $"|nc:{options.CharOrder.ToString(CultureInfo.InvariantCulture)}"
            + $"|nw:{options.WordOrder.ToString(CultureInfo.InvariantCulture)}"
            + $"|space:{(options.Whitespace ? "yes" : "no")}|version:{Bleu.SacreBleuVersion}";
    }

    /// <summary><c>chrF{beta}</c> followed by one <c>+</c> per word order, as sacreBLEU names the score.</summary>
    public static string Name(ChrFOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        double beta = options.Beta;
        string betaText = beta == Math.Floor(beta) && Math.Abs(beta) < 1e15
            ? ((long)beta).ToString(CultureInfo.InvariantCulture)
            : beta.ToString("R", CultureInfo.InvariantCulture);
        return "chrF" + betaText + new string('+', options.WordOrder);
    }

    // CHRF._compute_f_score, operation for operation.
    private static double FScore(IReadOnlyList<long> stats, ChrFOptions options)
    {
        int orders = options.CharOrder + options.WordOrder;
        double factor = options.Beta * options.Beta;
        double score = 0.0, avgPrec = 0.0, avgRec = 0.0;
        int effectiveOrder = 0;

        for (int i = 0; i < orders; i++)
        {
            long nHyp = stats[3 * i], nRef = stats[3 * i + 1], nMatch = stats[3 * i + 2];
            double prec = nHyp > 0 ? (double)nMatch / nHyp : Eps;
            double rec = nRef > 0 ? (double)nMatch / nRef : Eps;
            double denom = factor * prec + rec;
            score += denom > 0 ? (1 + factor) * prec * rec / denom : Eps;
            if (nHyp > 0 && nRef > 0)
            {
                avgPrec += prec;
                avgRec += rec;
                effectiveOrder++;
            }
        }

        if (options.EpsSmoothing)
            return 100 * score / orders;

        if (effectiveOrder == 0)
        {
            avgPrec = avgRec = 0.0;
        }
        else
        {
            avgPrec /= effectiveOrder;
            avgRec /= effectiveOrder;
        }

        if (avgPrec + avgRec != 0)
        {
            score = (1 + factor) * avgPrec * avgRec;
            score /= (factor * avgPrec) + avgRec;
            return 100 * score;
        }
        return 0.0;
    }

    private static void Validate(ChrFOptions options)
    {
        if (options.CharOrder < 0 || options.WordOrder < 0 || options.CharOrder + options.WordOrder == 0)
        {
            throw new ArgumentException(
                $"ChrFOptions: CharOrder {options.CharOrder} and WordOrder {options.WordOrder} must be non-negative "
                + "and not both 0 (chrF is 6/0, chrF++ is 6/2).", nameof(options));
        }
    }

    // chrF++'s word splitting (CHRF._remove_punctuation): a word of one character stays whole; otherwise a
    // trailing punctuation mark is split off, else a leading one, never both ("(hi)" -> "(hi", ")").
    private static string WordTokens(string sentence)
    {
        var sb = new StringBuilder(sentence.Length + 8);
        int pos = 0;
        while (pos < sentence.Length)
        {
            while (pos < sentence.Length && PyText.IsSpace(sentence[pos]))
                pos++;
            if (pos == sentence.Length)
                break;
            int start = pos;
            while (pos < sentence.Length && !PyText.IsSpace(sentence[pos]))
                pos++;
            ReadOnlySpan<char> w = sentence.AsSpan(start, pos - start);
            if (sb.Length > 0)
                sb.Append(' ');
            // Length in code points is 1 exactly when the word is one UTF-16 unit or one surrogate pair; a pair
            // is never punctuation, so the one-unit test below gives Python's result either way.
            if (w.Length == 1)
                sb.Append(w);
            else if (Punctuation.Contains(w[^1], StringComparison.Ordinal))
                sb.Append(w[..^1]).Append(' ').Append(w[^1]);
            else if (Punctuation.Contains(w[0], StringComparison.Ordinal))
                sb.Append(w[0]).Append(' ').Append(w[1..]);
            else
                sb.Append(w);
        }
        return sb.ToString();
    }

    // One preprocessed segment: the character string (whitespace removed unless kept) with its code point
    // offsets, and the chrF++ word string (tokens joined by single spaces) with its token starts.
    private sealed class Segment
    {
        /// <summary>Orders up to this pack their code points (21 bits each) exactly into a UInt128.</summary>
        public const int MaxPackedOrder = 6;

        private readonly string _chars;
        private readonly int[] _charOffsets;
        private readonly int[] _codePoints;
        private readonly int _charCount;
        private readonly string _words = "";
        private readonly List<int> _wordStarts = [];

        public Segment(string text, ChrFOptions options)
        {
            if (options.Lowercase)
                text = PyText.Lower(text);
            _chars = options.Whitespace ? text : PyText.RemoveSpaces(text);
            _charOffsets = PyText.CodePointOffsets(_chars, out _charCount);
            _codePoints = new int[_charCount];
            for (int i = 0; i < _charCount; i++)
            {
                // A lone surrogate keeps its own value, so it stays distinct from every real code point.
                _codePoints[i] = _charOffsets[i + 1] - _charOffsets[i] == 2
                    ? char.ConvertToUtf32(_chars[_charOffsets[i]], _chars[_charOffsets[i] + 1])
                    : _chars[_charOffsets[i]];
            }
            if (options.WordOrder > 0)
            {
                _words = WordTokens(text);
                _wordStarts.Add(0);
                for (int p = 0; p < _words.Length; p++)
                {
                    if (_words[p] == ' ')
                        _wordStarts.Add(p + 1);
                }
                _wordStarts.Add(_words.Length + 1);
                if (_words.Length == 0)
                    _wordStarts.RemoveAt(0);
            }
        }

        // Counts the character n-grams of order n (at most MaxPackedOrder) as packed keys; returns how many.
        public long CountPacked(int n, Dictionary<UInt128, int> into)
        {
            long total = 0;
            for (int i = 0; i + n <= _charCount; i++)
            {
                UInt128 key = 0;
                for (int j = 0; j < n; j++)
                    key = (key << 21) | (uint)_codePoints[i + j];
                CollectionsMarshal.GetValueRefOrAddDefault(into, key, out _)++;
                total++;
            }
            return total;
        }

        // Counts the n-grams of order slot o (character orders first, then word orders); returns how many.
        public long Count(int o, int charOrder, NgramCounter into)
        {
            long total = 0;
            if (o < charOrder)
            {
                int n = o + 1;
                for (int i = 0; i + n <= _charCount; i++)
                {
                    into.Add(_chars, _charOffsets[i], _charOffsets[i + n] - _charOffsets[i]);
                    total++;
                }
            }
            else
            {
                int n = o - charOrder + 1;
                int tokens = _wordStarts.Count - 1;
                for (int i = 0; i + n <= tokens; i++)
                {
                    int from = _wordStarts[i];
                    int to = _wordStarts[i + n] - 1;
                    into.Add(_words, from, to - from);
                    total++;
                }
            }
            return total;
        }
    }
}
