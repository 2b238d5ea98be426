using System.Runtime.InteropServices;
using System.Text;

namespace Tailor.Evaluation.Metrics;

/// <summary>A ROUGE score on rouge-score's 0-1 scale; <see cref="FMeasure"/> is F1.</summary>
public readonly record struct RougeScore(double Precision, double Recall, double FMeasure);

/// <summary>
/// ROUGE-N (rouge1 … rouge9), ROUGE-L and ROUGE-Lsum exactly as Google's rouge-score 0.1.2 computes them
/// (<c>RougeScorer(types, use_stemmer).score(target, prediction)</c>), which replicates ROUGE-1.5.5 with
/// <c>-e data -n 2</c> (<c>-m</c> when stemming).
/// </summary>
/// <remarks>
/// <para>The target (reference) comes first, as in rouge-score.</para>
/// <para>Tokenization: Python <c>lower()</c>, every run of characters outside [a-z0-9] becomes a space (so all
/// non-ASCII letters are dropped: "café" gives "caf"), split on whitespace, and with the stemmer, tokens longer
/// than 3 characters go through NLTK's Porter stemmer (<see cref="PorterStemmer"/>).</para>
/// <para>rougeL is the LCS of the whole token sequences (newlines ignored). rougeLsum splits both texts on
/// "\n" (empty lines dropped) and takes, for each target sentence, the union of its LCS positions with every
/// prediction sentence, counting each token at most as often as it occurs on both sides. Summaries must
/// therefore be one sentence per line for rougeLsum to mean anything.</para>
/// <para>Pure managed code, thread-safe.</para>
/// </remarks>
public static class Rouge
{
    /// <summary>Scores <paramref name="prediction"/> against <paramref name="target"/> for one ROUGE type.</summary>
    /// <param name="target">The reference text.</param>
    /// <param name="prediction">The system text.</param>
    /// <param name="rougeType"><c>rouge1</c> … <c>rouge9</c>, <c>rougeL</c> or <c>rougeLsum</c>.</param>
    /// <param name="useStemmer">Stem tokens longer than 3 characters (rouge-score's <c>use_stemmer</c>).</param>
    public static RougeScore Score(string target, string prediction, string rougeType, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prediction);
        int n = ParseType(rougeType);
        return ScoreParsed(new Text(target, useStemmer), new Text(prediction, useStemmer), n);
    }

    /// <summary>Scores several ROUGE types at once, tokenizing each text once.</summary>
    /// <returns>One score per entry of <paramref name="rougeTypes"/>, keyed by the type name.</returns>
    public static IReadOnlyDictionary<string, RougeScore> ScoreAll(
        string target, string prediction, IReadOnlyList<string> rougeTypes, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(rougeTypes);
        var t = new Text(target, useStemmer);
        var p = new Text(prediction, useStemmer);
        var result = new Dictionary<string, RougeScore>(StringComparer.Ordinal);
        foreach (string type in rougeTypes)
            result[type] = ScoreParsed(t, p, ParseType(type));
        return result;
    }

    private static RougeScore ScoreParsed(Text target, Text prediction, int n) => n switch
    {
        LsumType => SummaryLevelLcs(target.Sentences, prediction.Sentences),
        LType => ScoreLcs(target.Tokens, prediction.Tokens),
        _ => ScoreNgrams(target.Tokens, prediction.Tokens, n),
    };

    // A text tokenized once: its "\n"-separated sentences (empty lines dropped, as rouge-score's get_sents) and
    // all tokens. Tokens never span a newline (it is not in [a-z0-9]), so the whole-text tokens are the sentences'
    // tokens in order.
    private sealed class Text
    {
        public Text(string text, bool useStemmer)
        {
            var tokens = new List<string>();
            foreach (string line in text.Split('\n'))
            {
                if (line.Length == 0)
                    continue;
                string[] sentence = Tokenize(line, useStemmer);
                Sentences.Add(sentence);
                tokens.AddRange(sentence);
            }
            Tokens = [.. tokens];
        }

        public List<string[]> Sentences { get; } = [];

        public string[] Tokens { get; }
    }

    /// <summary>
    /// Scores against several targets and keeps, for this type, the score of the target with the highest
    /// F-measure, the first one on a tie (rouge-score 0.1.2's <c>score_multi</c>, an <c>np.argmax</c>).
    /// </summary>
    public static RougeScore ScoreMulti(
        IReadOnlyList<string> targets, string prediction, string rougeType, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Count == 0)
            throw new ArgumentException("targets is empty; ScoreMulti needs at least one reference text.", nameof(targets));
        RougeScore best = default;
        for (int i = 0; i < targets.Count; i++)
        {
            RougeScore s = Score(targets[i], prediction, rougeType, useStemmer);
            if (i == 0 || s.FMeasure > best.FMeasure)
                best = s;
        }
        return best;
    }

    /// <summary>
    /// <see cref="ScoreMulti"/> for several types: each type independently keeps its own best target, as
    /// <c>score_multi</c> does.
    /// </summary>
    public static IReadOnlyDictionary<string, RougeScore> ScoreMultiAll(
        IReadOnlyList<string> targets, string prediction, IReadOnlyList<string> rougeTypes, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(rougeTypes);
        if (targets.Count == 0)
            throw new ArgumentException("targets is empty; ScoreMulti needs at least one reference text.", nameof(targets));
        var best = new Dictionary<string, RougeScore>(StringComparer.Ordinal);
        for (int i = 0; i < targets.Count; i++)
        {
            foreach (KeyValuePair<string, RougeScore> kv in ScoreAll(targets[i], prediction, rougeTypes, useStemmer))
            {
                if (i == 0 || kv.Value.FMeasure > best[kv.Key].FMeasure)
                    best[kv.Key] = kv.Value;
            }
        }
        return best;
    }

    /// <summary>
    /// rouge-score's default tokenizer (<c>tokenize.tokenize</c>): lowercase, runs outside [a-z0-9] to one space,
    /// split, optionally stem tokens longer than 3 characters, drop empty tokens.
    /// </summary>
    public static string[] Tokenize(string text, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        string lower = PyText.Lower(text);
        var tokens = new List<string>();
        int pos = 0;
        while (pos < lower.Length)
        {
            while (pos < lower.Length && !IsTokenChar(lower[pos]))
                pos++;
            if (pos == lower.Length)
                break;
            int start = pos;
            while (pos < lower.Length && IsTokenChar(lower[pos]))
                pos++;
            string token = lower[start..pos];
            if (useStemmer && token.Length > 3)
                token = PorterStemmer.Stem(token);
            if (token.Length > 0)
                tokens.Add(token);
        }
        return [.. tokens];
    }

    private const int LType = -1;
    private const int LsumType = -2;

    private static bool IsTokenChar(char c) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

    // rougeL, rougeLsum, or rouge<digit> with the digit 1..9 (rouge0, rouge10 and rougen are errors, as there).
    private static int ParseType(string rougeType)
    {
        ArgumentNullException.ThrowIfNull(rougeType);
        if (rougeType == "rougeL")
            return LType;
        if (rougeType == "rougeLsum")
            return LsumType;
        if (rougeType.Length == 6 && rougeType.StartsWith("rouge", StringComparison.Ordinal)
            && rougeType[5] >= '1' && rougeType[5] <= '9')
        {
            return rougeType[5] - '0';
        }
        throw new ArgumentException(
            $"Invalid rouge type '{rougeType}'. Use rouge1 … rouge9, rougeL or rougeLsum.", nameof(rougeType));
    }

    private static double F1(double precision, double recall) =>
        precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;

    private static RougeScore ScoreNgrams(string[] target, string[] prediction, int n)
    {
        // Tokens as small integers; n of them pack exactly into a 128-bit key when the ids fit in 128/n bits,
        // which saves building a string per n-gram. Texts with more distinct tokens than that use string keys.
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        int[] t = ToIds(target, ids);
        int[] p = ToIds(prediction, ids);
        int bits = Math.Min(32, 128 / n);
        int overlap, tCount, pCount;
        if (ids.Count < (1L << bits))
        {
            Dictionary<UInt128, int> tn = PackedNgrams(t, n, bits, out tCount);
            Dictionary<UInt128, int> pn = PackedNgrams(p, n, bits, out pCount);
            overlap = Overlap(tn, pn);
        }
        else
        {
            Dictionary<string, int> tn = Ngrams(target, n, out tCount);
            Dictionary<string, int> pn = Ngrams(prediction, n, out pCount);
            overlap = Overlap(tn, pn);
        }
        double precision = (double)overlap / Math.Max(pCount, 1);
        double recall = (double)overlap / Math.Max(tCount, 1);
        return new RougeScore(precision, recall, F1(precision, recall));
    }

    // Σ over target n-grams of min(target count, prediction count).
    private static int Overlap<TKey>(Dictionary<TKey, int> target, Dictionary<TKey, int> prediction)
        where TKey : notnull
    {
        int overlap = 0;
        foreach (KeyValuePair<TKey, int> kv in target)
        {
            if (prediction.TryGetValue(kv.Key, out int c))
                overlap += Math.Min(kv.Value, c);
        }
        return overlap;
    }

    private static Dictionary<UInt128, int> PackedNgrams(int[] tokens, int n, int bits, out int count)
    {
        var counts = new Dictionary<UInt128, int>();
        count = 0;
        for (int i = 0; i + n <= tokens.Length; i++)
        {
            UInt128 key = 0;
            for (int j = 0; j < n; j++)
                key = (key << bits) | (uint)tokens[i + j];
            CollectionsMarshal.GetValueRefOrAddDefault(counts, key, out _)++;
            count++;
        }
        return counts;
    }

    // N-grams keyed by their tokens joined with a space (tokens never contain one).
    private static Dictionary<string, int> Ngrams(string[] tokens, int n, out int count)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        count = 0;
        var sb = new StringBuilder();
        for (int i = 0; i + n <= tokens.Length; i++)
        {
            sb.Clear();
            for (int j = 0; j < n; j++)
            {
                if (j > 0)
                    sb.Append(' ');
                sb.Append(tokens[i + j]);
            }
            ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(counts, sb.ToString(), out _);
            slot++;
            count++;
        }
        return counts;
    }

    private static RougeScore ScoreLcs(string[] target, string[] prediction)
    {
        if (target.Length == 0 || prediction.Length == 0)
            return default;
        int lcs = LcsLength(target, prediction);
        double precision = (double)lcs / prediction.Length;
        double recall = (double)lcs / target.Length;
        return new RougeScore(precision, recall, F1(precision, recall));
    }

    // LCS length with two rows of the DP table.
    private static int LcsLength(string[] a, string[] b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                cur[j] = string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal)
                    ? prev[j - 1] + 1
                    : Math.Max(prev[j], cur[j - 1]);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>
    /// Indices into <paramref name="reference"/> of one LCS with <paramref name="candidate"/>, chosen by
    /// rouge-score's backtrack (<c>_backtrack_norec</c>): on a tie it steps back in the reference first.
    /// </summary>
    internal static List<int> LcsIndices<T>(IReadOnlyList<T> reference, IReadOnlyList<T> candidate)
    {
        EqualityComparer<T> eq = EqualityComparer<T>.Default;
        int rows = reference.Count, cols = candidate.Count, width = cols + 1;
        var table = new int[(rows + 1) * width];
        for (int i = 1; i <= rows; i++)
        {
            for (int j = 1; j <= cols; j++)
            {
                table[i * width + j] = eq.Equals(reference[i - 1], candidate[j - 1])
                    ? table[(i - 1) * width + j - 1] + 1
                    : Math.Max(table[(i - 1) * width + j], table[i * width + j - 1]);
            }
        }

        var lcs = new List<int>();
        int r = rows, c = cols;
        while (r > 0 && c > 0)
        {
            if (eq.Equals(reference[r - 1], candidate[c - 1]))
            {
                lcs.Add(r - 1);
                r--;
                c--;
            }
            else if (table[r * width + c - 1] > table[(r - 1) * width + c])
            {
                c--;
            }
            else
            {
                r--;
            }
        }
        lcs.Reverse();
        return lcs;
    }

    /// <summary>Sorted union of the LCS positions of <paramref name="reference"/> with each candidate.</summary>
    internal static List<int> UnionLcsIndices<T>(IReadOnlyList<T> reference, IEnumerable<IReadOnlyList<T>> candidates)
    {
        var inUnion = new bool[reference.Count];
        foreach (IReadOnlyList<T> candidate in candidates)
        {
            foreach (int index in LcsIndices(reference, candidate))
                inUnion[index] = true;
        }
        var union = new List<int>();
        for (int i = 0; i < inUnion.Length; i++)
        {
            if (inUnion[i])
                union.Add(i);
        }
        return union;
    }

    /// <summary>Summary-level LCS (Lin 2004, §3.2) with ROUGE-1.5.5's clipping, as <c>_summary_level_lcs</c>.</summary>
    internal static RougeScore SummaryLevelLcs(IReadOnlyList<string[]> references, IReadOnlyList<string[]> candidates)
    {
        if (references.Count == 0 || candidates.Count == 0)
            return default;
        int m = 0, n = 0;
        foreach (string[] s in references)
            m += s.Length;
        foreach (string[] s in candidates)
            n += s.Length;
        if (m == 0 || n == 0)
            return default;

        // Tokens as small integers (cheap LCS comparisons), with their counts on both sides so that no token is
        // credited more often than it occurs.
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        int[][] refIds = ToIds(references, ids);
        int[][] candIds = ToIds(candidates, ids);
        var refLeft = new int[ids.Count];
        var candLeft = new int[ids.Count];
        foreach (int[] s in refIds)
        {
            foreach (int id in s)
                refLeft[id]++;
        }
        foreach (int[] s in candIds)
        {
            foreach (int id in s)
                candLeft[id]++;
        }

        int hits = 0;
        foreach (int[] r in refIds)
        {
            foreach (int index in UnionLcsIndices<int>(r, candIds))
            {
                int id = r[index];
                if (candLeft[id] > 0 && refLeft[id] > 0)
                {
                    hits++;
                    candLeft[id]--;
                    refLeft[id]--;
                }
            }
        }

        double recall = (double)hits / m;
        double precision = (double)hits / n;
        return new RougeScore(precision, recall, F1(precision, recall));
    }

    private static int[][] ToIds(IReadOnlyList<string[]> sentences, Dictionary<string, int> ids)
    {
        var result = new int[sentences.Count][];
        for (int s = 0; s < sentences.Count; s++)
            result[s] = ToIds(sentences[s], ids);
        return result;
    }

    // Maps tokens to dense ids, adding unseen ones to the shared dictionary.
    private static int[] ToIds(string[] tokens, Dictionary<string, int> ids)
    {
        var row = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            ref int id = ref CollectionsMarshal.GetValueRefOrAddDefault(ids, tokens[i], out bool exists);
            if (!exists)
                id = ids.Count - 1;
            row[i] = id;
        }
        return row;
    }
}
