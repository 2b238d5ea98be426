using System.Text.Json;

namespace Tailor.Evaluation;

/// <summary>One test item's text for the contamination check.</summary>
/// <param name="Id">The test record's id.</param>
/// <param name="Texts">Its text fields (input and reference), each checked on its own: n-grams never span fields.</param>
public sealed record TestText(string Id, IReadOnlyList<string> Texts);

/// <summary>Overlap of one test set with one corpus.</summary>
/// <param name="TestSet">Test set name (the task).</param>
/// <param name="Corpus">Corpus name (<c>pre-training</c>, <c>tuning</c>).</param>
/// <param name="Items">Test items.</param>
/// <param name="EligibleItems">Items with at least one n-gram (at least <see cref="Contamination.N"/> words in a field).</param>
/// <param name="OverlappingItems">Items with at least one n-gram found in the corpus.</param>
/// <param name="TestNgrams">Distinct n-grams of the test set.</param>
/// <param name="FoundNgrams">Of those, found in the corpus.</param>
public sealed record ContaminationRow(string TestSet, string Corpus, int Items, int EligibleItems, int OverlappingItems,
    long TestNgrams, long FoundNgrams)
{
    /// <summary>Share of items with any overlap (0-1).</summary>
    public double OverlappingShare => Items == 0 ? 0 : (double)OverlappingItems / Items;

    /// <summary>Share of the test set's distinct n-grams found in the corpus (0-1).</summary>
    public double NgramShare => TestNgrams == 0 ? 0 : (double)FoundNgrams / TestNgrams;
}

/// <summary>
/// 13-gram contamination check (as GPT-3's and Llama's papers): which test items share a run of 13 words with a corpus.
/// Text is cut into words simply: lowercased (invariant culture), a word is a maximal run of letters or digits, every
/// other character separates words; n-grams never cross a record's field. Each n-gram is a 64-bit hash of its words'
/// 64-bit FNV-1a hashes (collisions are negligible at these sizes). The test sets' n-grams go into a hash set; the corpus
/// is streamed once and only looked up, so memory stays at the size of the test sets, whatever the corpus size.
/// </summary>
public static class Contamination
{
    /// <summary>The n-gram length (13).</summary>
    public const int N = 13;

    // Fields that hold metadata, not text, in the task files.
    private static readonly HashSet<string> MetadataFields = new(StringComparer.Ordinal)
    {
        "id", "package", "source_package", "src_lang", "tgt_lang", "label",
    };

    /// <summary>The words of <paramref name="text"/> as the check sees them (for documentation and tests).</summary>
    public static IReadOnlyList<string> Words(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (char c in text)
        {
            if (char.IsLetterOrDigit(c)) current.Append(char.ToLowerInvariant(c));
            else if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }
        if (current.Length > 0) words.Add(current.ToString());
        return words;
    }

    /// <summary>Calls <paramref name="onNgram"/> with the hash of every n-gram of <paramref name="text"/>, without allocating.</summary>
    public static void ForEachNgram(string text, Action<ulong> onNgram)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(onNgram);
        Span<ulong> ring = stackalloc ulong[N];
        int count = 0;
        ulong word = StableHash.FnvOffset;
        bool inWord = false;
        for (int i = 0; i <= text.Length; i++)
        {
            char c = i < text.Length ? text[i] : ' ';
            if (char.IsLetterOrDigit(c))
            {
                char l = char.ToLowerInvariant(c);
                word = (word ^ l) * StableHash.FnvPrime;
                inWord = true;
                continue;
            }
            if (!inWord) continue;
            ring[count % N] = word;
            count++;
            word = StableHash.FnvOffset;
            inWord = false;
            if (count >= N)
            {
                ulong h = 0x243F6A8885A308D3UL;
                for (int k = count - N; k < count; k++) h = StableHash.Finalize(h ^ ring[k % N]);
                onNgram(h);
            }
        }
    }

    /// <summary>
    /// Measures the overlap of each test set with each corpus.
    /// </summary>
    /// <param name="testSets">Test set name → its items.</param>
    /// <param name="corpora">Corpus name → a stream of its texts (read once).</param>
    public static IReadOnlyList<ContaminationRow> Measure(
        IReadOnlyDictionary<string, IReadOnlyList<TestText>> testSets,
        IReadOnlyList<(string Name, IEnumerable<string> Texts)> corpora)
    {
        ArgumentNullException.ThrowIfNull(testSets);
        ArgumentNullException.ThrowIfNull(corpora);
        // Every distinct test n-gram once, with a bit per corpus that contains it.
        var found = new Dictionary<ulong, int>();
        foreach (var items in testSets.Values)
            foreach (var item in items)
                foreach (string t in item.Texts) ForEachNgram(t, h => found.TryAdd(h, 0));
        for (int c = 0; c < corpora.Count; c++)
        {
            int bit = 1 << c;
            foreach (string text in corpora[c].Texts)
                ForEachNgram(text, h =>
                {
                    ref int flags = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(found, h);
                    if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref flags)) flags |= bit;
                });
        }

        var rows = new List<ContaminationRow>();
        foreach (var (name, items) in testSets)
        {
            for (int c = 0; c < corpora.Count; c++)
            {
                int bit = 1 << c;
                var distinct = new HashSet<ulong>();
                int eligible = 0, overlapping = 0;
                foreach (var item in items)
                {
                    bool any = false, hit = false;
                    foreach (string t in item.Texts)
                        ForEachNgram(t, h =>
                        {
                            any = true;
                            distinct.Add(h);
                            if ((found[h] & bit) != 0) hit = true;
                        });
                    if (any) eligible++;
                    if (hit) overlapping++;
                }
                long foundCount = distinct.LongCount(h => (found[h] & bit) != 0);
                rows.Add(new ContaminationRow(name, corpora[c].Name, items.Count, eligible, overlapping, distinct.Count, foundCount));
            }
        }
        return rows;
    }

    /// <summary>
    /// The items of a task's JSONL test file: each record's string fields except metadata (id, package, source_package,
    /// src_lang, tgt_lang, label). Errors name the file and line.
    /// </summary>
    public static IReadOnlyList<TestText> ReadTestSet(string path)
    {
        var items = new List<TestText>();
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (text.Length == 0) continue;
            using var doc = Parse(text, path, line);
            string id = doc.RootElement.TryGetProperty("id", out var idEl) && idEl.ValueKind == JsonValueKind.String
                ? idEl.GetString()! : $"line {line}";
            items.Add(new TestText(id, TextFields(doc.RootElement)));
        }
        return items;
    }

    /// <summary>
    /// Streams the text fields of every record of JSONL files (pre-training records' <c>text</c>; tuning records' string
    /// fields except metadata), one field at a time. <paramref name="paths"/> may name files or folders (their *.jsonl).
    /// </summary>
    public static IEnumerable<string> StreamTexts(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        foreach (string path in paths)
        {
            IEnumerable<string> files = Directory.Exists(path)
                ? Directory.EnumerateFiles(path, "*.jsonl").Order(StringComparer.Ordinal)
                : File.Exists(path) ? [path] : throw new TailorException($"{path}: no such file or folder; give a JSONL corpus.");
            foreach (string file in files)
            {
                int line = 0;
                foreach (string text in File.ReadLines(file))
                {
                    line++;
                    if (text.Length == 0) continue;
                    using var doc = Parse(text, file, line);
                    foreach (string field in TextFields(doc.RootElement)) yield return field;
                }
            }
        }
    }

    private static JsonDocument Parse(string text, string path, int line)
    {
        try
        {
            var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new TailorException($"{path}:{line}: not a JSON object; each line must be one record.");
            }
            return doc;
        }
        catch (JsonException e)
        {
            throw new TailorException($"{path}:{line}: not JSON ({e.Message}); each line must be one record.");
        }
    }

    private static List<string> TextFields(JsonElement record)
    {
        var texts = new List<string>();
        foreach (var p in record.EnumerateObject())
            if (p.Value.ValueKind == JsonValueKind.String && !MetadataFields.Contains(p.Name)) texts.Add(p.Value.GetString()!);
        return texts;
    }
}
