using System.Runtime.InteropServices;
using System.Text;

namespace Tailor.Text;

/// <summary>Settings of <see cref="BpeTrainer.Train"/>.</summary>
/// <param name="VocabSize">Total number of ids, special tokens included: 256 byte tokens + learned merges + specials.
/// Training stops earlier when no pair occurs <paramref name="MinFrequency"/> times any more.</param>
/// <param name="MinFrequency">A pair must occur at least this often (counted over the whole corpus) to be merged.</param>
/// <param name="SpecialTokens">Special tokens, given the last ids in this order; null means
/// <see cref="DefaultSpecialTokens"/>. Where they occur in the training text they separate words and are not learned.</param>
/// <param name="BosToken">tokenizer_config.json bos_token; null: none (GPT-2-style data separates documents with EOS only).</param>
/// <param name="EosToken">tokenizer_config.json eos_token; must be one of the special tokens.</param>
/// <param name="PadToken">tokenizer_config.json pad_token; must be one of the special tokens.</param>
/// <param name="ModelMaxLength">tokenizer_config.json model_max_length: the context length of the model the tokenizer is for.</param>
public sealed record BpeTrainerOptions(
    int VocabSize = 8192,
    int MinFrequency = 2,
    IReadOnlyList<string>? SpecialTokens = null,
    string? BosToken = null,
    string? EosToken = "<|endoftext|>",
    string? PadToken = "<|pad|>",
    int? ModelMaxLength = 2048)
{
    /// <summary><c>&lt;|endoftext|&gt;</c>, <c>&lt;|im_start|&gt;</c>, <c>&lt;|im_end|&gt;</c>, <c>&lt;|pad|&gt;</c>:
    /// document end, ChatML turn delimiters, padding.</summary>
    public static IReadOnlyList<string> DefaultSpecialTokens { get; } = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"];
}

/// <summary>
/// Trains a byte-level BPE tokenizer (GPT-2 style) from text.
/// </summary>
/// <remarks>
/// <para>Algorithm (as Hugging Face tokenizers' BpeTrainer): the text is cut at special tokens and split into words with
/// the GPT-2 pre-tokenization regex; identical words are counted once with their frequency. Every word starts as its UTF-8
/// bytes (ids 0–255 are the bytes themselves). Pair frequencies are counted once; then, repeatedly, the most frequent pair
/// is merged into a new token, only in the words that contain it, and the counts of the neighbouring pairs are updated by
/// the difference. A max-heap with lazily refreshed counts picks the next pair.</para>
/// <para>Tie-breaking, for deterministic output: among pairs of equal frequency the one with the smaller left id wins,
/// then the smaller right id. Ids are given in creation order (bytes by value, then merges as learned), so an older
/// token wins over a newer one. Word counting runs on all cores but yields the same counts in any order, so the same
/// input gives byte-identical tokenizer.json files.</para>
/// <para>When a merge yields a byte string that already is a token (from another pair), the merge is recorded and the
/// existing id reused, as Hugging Face does.</para>
/// </remarks>
public static class BpeTrainer
{
    private const int BatchChars = 1 << 20;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Trains a tokenizer on <paramref name="texts"/> (documents, lines or chunks; they are never joined).</summary>
    /// <param name="texts">Training text; enumerated once.</param>
    /// <param name="options">Vocabulary size, minimum pair frequency, special tokens.</param>
    /// <param name="progress">Receives 0 at the start, the fraction of merges learned while merging, and 1 at the end.</param>
    /// <returns>The trained tokenizer; <see cref="TextTokenizer.Save"/> writes it as tokenizer.json + tokenizer_config.json.</returns>
    /// <exception cref="ArgumentException">The options are inconsistent (message says which).</exception>
    public static TextTokenizer Train(IEnumerable<string> texts, BpeTrainerOptions options, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> specials = options.SpecialTokens ?? BpeTrainerOptions.DefaultSpecialTokens;
        Validate(options, specials);
        progress?.Report(0);

        Dictionary<string, long> wordCounts = CountWords(texts, specials);
        Merger merger = new(wordCounts);
        merger.Run(options.VocabSize - specials.Count, options.MinFrequency, progress);

        List<string> vocab = merger.Vocabulary;
        foreach (string special in specials)
        {
            if (merger.Contains(special))
                throw new ArgumentException($"Special token '{special}' was also learned as an ordinary token from the text. Choose special tokens that cannot occur in text, such as <|name|>.", nameof(options));
        }

        List<AddedToken> added = [];
        for (int i = 0; i < specials.Count; i++)
            added.Add(new AddedToken(vocab.Count + i, specials[i], Special: true, SingleWord: false, LStrip: false, RStrip: false, Normalized: false));

        TextTokenizer tokenizer = TextTokenizer.FromTrained(vocab, merger.Merges, added, options);
        progress?.Report(1);
        return tokenizer;
    }

    private static void Validate(BpeTrainerOptions options, IReadOnlyList<string> specials)
    {
        if (specials.Any(string.IsNullOrEmpty))
            throw new ArgumentException("Special tokens must be non-empty strings.", nameof(options));
        if (specials.Any(s => !IsValidUtf16(s)))
            throw new ArgumentException("Special tokens must be valid UTF-16 (no lone surrogates).", nameof(options));
        if (specials.Distinct(StringComparer.Ordinal).Count() != specials.Count)
            throw new ArgumentException("Special tokens must be distinct.", nameof(options));
        if (options.VocabSize < 256 + specials.Count)
            throw new ArgumentOutOfRangeException(nameof(options), options.VocabSize, $"VocabSize must be at least 256 byte tokens + {specials.Count} special tokens = {256 + specials.Count}.");
        if (options.MinFrequency < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MinFrequency, "MinFrequency must be at least 1.");
        if (options.ModelMaxLength is <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.ModelMaxLength, "ModelMaxLength must be positive (or null).");
        foreach ((string name, string? token) in new[] { ("BosToken", options.BosToken), ("EosToken", options.EosToken), ("PadToken", options.PadToken) })
        {
            if (token is not null && !specials.Contains(token, StringComparer.Ordinal))
                throw new ArgumentException($"{name} '{token}' is not one of the special tokens ({string.Join(", ", specials)}). Add it to SpecialTokens or set {name} to null.", nameof(options));
        }
    }

    private static bool IsValidUtf16(string text)
    {
        try
        {
            _ = StrictUtf8.GetByteCount(text);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    // Word frequencies over the whole corpus. Batches of text are counted on all cores into private dictionaries that are
    // summed at the end; sums do not depend on the order, so the result is deterministic.
    private static Dictionary<string, long> CountWords(IEnumerable<string> texts, IReadOnlyList<string> specials)
    {
        AddedTokenMatcher matcher = new(specials.Select((s, i) => new AddedToken(i, s, true, false, false, false, false)));
        Dictionary<string, long> total = new(StringComparer.Ordinal);
        object gate = new();
        Parallel.ForEach(
            Batches(texts),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => new WordCounter(),
            (batch, _, counter) =>
            {
                foreach (string text in batch)
                    counter.Add(text, matcher);
                return counter;
            },
            counter =>
            {
                lock (gate)
                {
                    foreach ((string word, long count) in counter.Counts)
                        CollectionsMarshal.GetValueRefOrAddDefault(total, word, out _) += count;
                }
            });
        return total;
    }

    private static IEnumerable<List<string>> Batches(IEnumerable<string> texts)
    {
        List<string> batch = [];
        long chars = 0;
        foreach (string text in texts)
        {
            ArgumentNullException.ThrowIfNull(text, nameof(texts));
            batch.Add(text);
            chars += text.Length;
            if (chars >= BatchChars)
            {
                yield return batch;
                batch = [];
                chars = 0;
            }
        }

        if (batch.Count > 0)
            yield return batch;
    }

    private sealed class WordCounter
    {
        private readonly List<ReadOnlyMemory<char>> _pieces = [];
        private readonly List<(int Start, int Length, AddedToken? Token)> _segments = [];

        public Dictionary<string, long> Counts { get; } = new(StringComparer.Ordinal);

        public void Add(string text, AddedTokenMatcher specials)
        {
            _segments.Clear();
            specials.Split(text, _segments);
            foreach ((int start, int length, AddedToken? token) in _segments)
            {
                if (token is not null)
                    continue;
                _pieces.Clear();
                PreTokenizerPipeline.Gpt2ByteLevel.Split(length == text.Length ? text : text.Substring(start, length), _pieces);
                Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> lookup = Counts.GetAlternateLookup<ReadOnlySpan<char>>();
                foreach (ReadOnlyMemory<char> piece in _pieces)
                    CollectionsMarshal.GetValueRefOrAddDefault(lookup, piece.Span, out _)++;
            }
        }
    }

    /// <summary>The merge loop over counted words.</summary>
    private sealed class Merger
    {
        private readonly int[][] _words;
        private readonly int[] _lengths;
        private readonly long[] _counts;
        private readonly int[] _stamps;
        private readonly Dictionary<long, long> _pairCounts = [];
        private readonly Dictionary<long, List<int>> _where = [];
        private readonly Dictionary<long, long> _delta = [];
        private readonly PriorityQueue<long, (long Count, long Pair)> _queue = new(PairOrder.Instance);
        private readonly List<byte[]> _tokenBytes = [];
        private readonly Dictionary<string, int> _tokenIds = new(StringComparer.Ordinal);

        public Merger(Dictionary<string, long> wordCounts)
        {
            // Sorted so that nothing below depends on dictionary order.
            string[] words = [.. wordCounts.Keys];
            Array.Sort(words, StringComparer.Ordinal);
            _words = new int[words.Length][];
            _lengths = new int[words.Length];
            _counts = new long[words.Length];
            _stamps = new int[words.Length];
            Array.Fill(_stamps, -1);
            for (int w = 0; w < words.Length; w++)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(words[w]);
                _words[w] = Array.ConvertAll(bytes, b => (int)b);
                _lengths[w] = bytes.Length;
                _counts[w] = wordCounts[words[w]];
            }

            for (int b = 0; b < 256; b++)
                AddToken([(byte)b]);
        }

        public List<string> Vocabulary { get; } = [];

        public List<(string Left, string Right)> Merges { get; } = [];

        public bool Contains(string token) => _tokenIds.ContainsKey(token);

        public void Run(int modelVocabSize, int minFrequency, IProgress<double>? progress)
        {
            CountPairs();
            int target = modelVocabSize - 256;
            double reported = 0;
            while (Vocabulary.Count < modelVocabSize && _queue.TryDequeue(out long pair, out (long Count, long Pair) queued))
            {
                long count = _pairCounts.GetValueOrDefault(pair);
                if (count != queued.Count)
                {
                    // Stale entry: the pair lost occurrences since it was queued. Requeue with the true count.
                    if (count >= minFrequency)
                        _queue.Enqueue(pair, (count, pair));
                    continue;
                }

                if (count < minFrequency)
                    break;

                Merge(pair);
                double done = target == 0 ? 1 : (double)(Vocabulary.Count - 256) / target;
                if (progress is not null && done - reported >= 0.01)
                {
                    reported = done;
                    progress.Report(done);
                }
            }
        }

        private void CountPairs()
        {
            for (int w = 0; w < _words.Length; w++)
            {
                int[] symbols = _words[w];
                for (int i = 0; i + 1 < _lengths[w]; i++)
                {
                    long pair = Key(symbols[i], symbols[i + 1]);
                    CollectionsMarshal.GetValueRefOrAddDefault(_pairCounts, pair, out _) += _counts[w];
                    NoteWhere(pair, w);
                }
            }

            foreach ((long pair, long count) in _pairCounts)
                _queue.Enqueue(pair, (count, pair));
        }

        private void Merge(long pair)
        {
            int left = (int)(pair >> 32);
            int right = (int)(pair & 0xFFFFFFFF);
            byte[] merged = [.. _tokenBytes[left], .. _tokenBytes[right]];
            Merges.Add((Vocabulary[left], Vocabulary[right]));
            int id = AddToken(merged);
            int stamp = Merges.Count;

            _delta.Clear();
            foreach (int w in _where[pair])
            {
                if (_stamps[w] == stamp)
                    continue;
                _stamps[w] = stamp;
                MergeInWord(w, left, right, id);
            }

            _pairCounts.Remove(pair);
            _where.Remove(pair);
            foreach ((long changed, long delta) in _delta)
            {
                if (changed == pair)
                    continue;
                ref long count = ref CollectionsMarshal.GetValueRefOrAddDefault(_pairCounts, changed, out _);
                count += delta;
                if (count <= 0)
                    _pairCounts.Remove(changed);
                else if (delta > 0)
                    _queue.Enqueue(changed, (count, changed));
            }
        }

        // Replaces every non-overlapping (left, right), scanning left to right, and records how the neighbouring pairs change:
        // x·left·right·y loses (x, left) and (right, y) and gains (x, new) and (new, y). The left neighbour is read from the
        // already rewritten part, so runs such as left·right·left·right come out right.
        private void MergeInWord(int w, int left, int right, int id)
        {
            int[] symbols = _words[w];
            int length = _lengths[w];
            long count = _counts[w];
            int write = 0;
            int read = 0;
            while (read < length)
            {
                if (read + 1 < length && symbols[read] == left && symbols[read + 1] == right)
                {
                    if (write > 0)
                    {
                        int previous = symbols[write - 1];
                        AddDelta(Key(previous, left), -count);
                        AddDelta(Key(previous, id), count);
                        NoteWhere(Key(previous, id), w);
                    }

                    if (read + 2 < length)
                    {
                        int next = symbols[read + 2];
                        AddDelta(Key(right, next), -count);
                        AddDelta(Key(id, next), count);
                        NoteWhere(Key(id, next), w);
                    }

                    symbols[write++] = id;
                    read += 2;
                }
                else
                {
                    symbols[write++] = symbols[read++];
                }
            }

            _lengths[w] = write;
        }

        private void AddDelta(long pair, long delta) => CollectionsMarshal.GetValueRefOrAddDefault(_delta, pair, out _) += delta;

        private void NoteWhere(long pair, int w)
        {
            ref List<int>? list = ref CollectionsMarshal.GetValueRefOrAddDefault(_where, pair, out _);
            list ??= [];
            if (list.Count == 0 || list[^1] != w)
                list.Add(w);
        }

        private int AddToken(byte[] bytes)
        {
            string spelled = ByteLevelAlphabet.ToToken(bytes);
            if (_tokenIds.TryGetValue(spelled, out int existing))
                return existing;
            int id = Vocabulary.Count;
            _tokenIds.Add(spelled, id);
            _tokenBytes.Add(bytes);
            Vocabulary.Add(spelled);
            return id;
        }

        private static long Key(int left, int right) => ((long)left << 32) | (uint)right;
    }

    // Max-heap order on PriorityQueue's min-heap: higher count first; on equal counts the smaller (left, right) id pair.
    private sealed class PairOrder : IComparer<(long Count, long Pair)>
    {
        public static readonly PairOrder Instance = new();

        public int Compare((long Count, long Pair) x, (long Count, long Pair) y) =>
            x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Pair.CompareTo(y.Pair);
    }
}
