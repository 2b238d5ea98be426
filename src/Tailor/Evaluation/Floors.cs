namespace Tailor.Evaluation;

/// <summary>
/// Answers that need no model, scored on the same items as the models so a score can be read against what is free:
/// <list type="bullet">
/// <item>classification: the majority label of the train split (the class prior a constant classifier earns);</item>
/// <item>translation: the source copied unchanged (names, numbers and punctuation survive, so chrF is far above 0);</item>
/// <item>summarization and other generation: the input's first words, as many as the references' mean length (Lead-N
/// sized to the references, so ROUGE is not inflated by length).</item>
/// </list>
/// <c>tailor compare</c> marks a model "at floor" on a task when it does not score significantly above this answer.
/// Pure functions.
/// </summary>
public static class Floors
{
    /// <summary>The most frequent of <paramref name="labels"/>; ties go to the label first in ordinal order.</summary>
    public static string MajorityLabel(IEnumerable<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var counts = labels.GroupBy(l => l, StringComparer.Ordinal).Select(g => (g.Key, Count: g.Count())).ToList();
        if (counts.Count == 0) throw new ArgumentException("no labels to take the majority of.", nameof(labels));
        return counts.OrderByDescending(c => c.Count).ThenBy(c => c.Key, StringComparer.Ordinal).First().Key;
    }

    /// <summary>The mean length in whitespace-separated words of the first reference of each item, rounded, at least 1.</summary>
    public static int MeanReferenceWords(IEnumerable<IReadOnlyList<string>> references)
    {
        ArgumentNullException.ThrowIfNull(references);
        var lengths = references.Where(r => r.Count > 0).Select(r => OffTask.Words(r[0]).Count).ToList();
        return lengths.Count == 0 ? 1 : Math.Max(1, (int)Math.Round(lengths.Average(), MidpointRounding.AwayFromZero));
    }

    /// <summary>The first <paramref name="words"/> whitespace-separated words of <paramref name="input"/>, joined by one space.</summary>
    public static string Lead(string input, int words)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfNegative(words);
        return string.Join(' ', OffTask.Words(input).Take(words));
    }
}
