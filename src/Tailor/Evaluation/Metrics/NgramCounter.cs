using System.Runtime.InteropServices;

namespace Tailor.Evaluation;

/// <summary>
/// A multiset of n-grams keyed by their text. N-grams are looked up as spans of the segment they come from,
/// so counting allocates a string only the first time an n-gram is seen; one counter is reused (Clear) across
/// the segments of a corpus.
/// </summary>
internal sealed class NgramCounter
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public NgramCounter() => _lookup = _counts.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Number of distinct n-grams.</summary>
    public int Distinct => _counts.Count;

    /// <summary>The distinct n-grams and their counts.</summary>
    public Dictionary<string, int> Entries => _counts;

    public void Clear() => _counts.Clear();

    /// <summary>Adds one occurrence of <paramref name="ngram"/>.</summary>
    public void Add(ReadOnlySpan<char> ngram)
    {
        ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_lookup, ngram, out _);
        slot++;
    }

    /// <summary>Raises the count of <paramref name="ngram"/> to at least <paramref name="count"/>.</summary>
    public void Max(string ngram, int count)
    {
        ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_counts, ngram, out _);
        if (count > slot)
            slot = count;
    }

    /// <summary>The count of <paramref name="ngram"/>, 0 when absent.</summary>
    public int Get(string ngram) => _counts.TryGetValue(ngram, out int v) ? v : 0;
}
