using System.Runtime.InteropServices;

namespace Tailor.Evaluation.Metrics;

/// <summary>
/// A slice of a string, compared by its characters: an n-gram that still lives inside the segment it came from,
/// so counting n-grams allocates no string at all.
/// </summary>
internal readonly record struct TextSlice(string Source, int Start, int Length)
{
    public ReadOnlySpan<char> Span => Source.AsSpan(Start, Length);
}

/// <summary>Ordinal equality of <see cref="TextSlice"/> contents.</summary>
internal sealed class TextSliceComparer : IEqualityComparer<TextSlice>
{
    public static readonly TextSliceComparer Instance = new();

    public bool Equals(TextSlice x, TextSlice y) => x.Span.SequenceEqual(y.Span);

    public int GetHashCode(TextSlice slice) => string.GetHashCode(slice.Span);
}

/// <summary>
/// A multiset of n-grams, each kept as a <see cref="TextSlice"/> of the segment it was first seen in. The
/// segments must outlive the counter's use; one counter is reused (Clear) across the segments of a corpus.
/// </summary>
internal sealed class NgramCounter
{
    private readonly Dictionary<TextSlice, int> _counts = new(TextSliceComparer.Instance);

    /// <summary>Number of distinct n-grams.</summary>
    public int Distinct => _counts.Count;

    /// <summary>The distinct n-grams and their counts.</summary>
    public Dictionary<TextSlice, int> Entries => _counts;

    public void Clear() => _counts.Clear();

    /// <summary>Adds one occurrence of <c>source[start..start+length]</c>.</summary>
    public void Add(string source, int start, int length)
    {
        ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_counts, new TextSlice(source, start, length), out _);
        slot++;
    }

    /// <summary>Raises the count of <paramref name="ngram"/> to at least <paramref name="count"/>.</summary>
    public void Max(TextSlice ngram, int count)
    {
        ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_counts, ngram, out _);
        if (count > slot)
            slot = count;
    }

    /// <summary>The count of <paramref name="ngram"/>, 0 when absent.</summary>
    public int Get(TextSlice ngram) => _counts.TryGetValue(ngram, out int v) ? v : 0;
}
