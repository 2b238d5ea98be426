namespace Tailor.Evaluation.Metrics;

/// <summary>
/// Label metrics for classification tasks (sentiment): accuracy and macro-F1 as scikit-learn computes them.
/// Labels are compared as exact (ordinal) strings; mapping generated text to a label is the caller's job.
/// </summary>
public static class Classification
{
    /// <summary>Fraction of positions where the predicted label equals the gold one (<c>accuracy_score</c>).</summary>
    public static double Accuracy(IReadOnlyList<string> gold, IReadOnlyList<string> predicted)
    {
        CheckPair(gold, predicted);
        int correct = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            if (string.Equals(gold[i], predicted[i], StringComparison.Ordinal))
                correct++;
        }
        return (double)correct / gold.Count;
    }

    /// <summary>
    /// Macro-F1: the unweighted mean over <paramref name="labels"/> of per-class
    /// F1 = 2·TP / (2·TP + FP + FN), where a class whose denominator is 0 scores 0 (scikit-learn's
    /// <c>f1_score(average='macro')</c> with its default <c>zero_division</c>).
    /// </summary>
    /// <param name="gold">Gold labels.</param>
    /// <param name="predicted">Predicted labels, aligned with <paramref name="gold"/>.</param>
    /// <param name="labels">
    /// The class set to average over. <c>null</c> (the default) uses the sorted union of gold and predicted labels,
    /// as scikit-learn does without <c>labels=</c>: an off-label prediction (say an unparsable generation) then
    /// becomes a class of its own with F1 = 0 and pulls the mean down. Pass the gold label set (as HELM does) to
    /// count such a prediction only as a miss of its gold class. A listed class that occurs in neither gold nor
    /// predicted labels scores 0 and still counts in the mean, as in scikit-learn.
    /// </param>
    public static double MacroF1(
        IReadOnlyList<string> gold, IReadOnlyList<string> predicted, IReadOnlyList<string>? labels = null)
    {
        CheckPair(gold, predicted);
        IReadOnlyList<string> classes = labels ?? SortedUnion(gold, predicted);
        if (classes.Count == 0)
            throw new ArgumentException("labels is empty; macro-F1 needs at least one class.", nameof(labels));

        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < classes.Count; c++)
        {
            if (!index.TryAdd(classes[c], c))
                throw new ArgumentException($"labels lists '{classes[c]}' twice.", nameof(labels));
        }

        var tp = new long[classes.Count];
        var fp = new long[classes.Count];
        var fn = new long[classes.Count];
        for (int i = 0; i < gold.Count; i++)
        {
            bool g = index.TryGetValue(gold[i], out int gc);
            bool p = index.TryGetValue(predicted[i], out int pc);
            if (g && p && gc == pc)
            {
                tp[gc]++;
                continue;
            }
            if (g)
                fn[gc]++;
            if (p)
                fp[pc]++;
        }

        double sum = 0;
        for (int c = 0; c < classes.Count; c++)
        {
            long denominator = 2 * tp[c] + fp[c] + fn[c];
            sum += denominator == 0 ? 0.0 : 2.0 * tp[c] / denominator;
        }
        return sum / classes.Count;
    }

    private static string[] SortedUnion(IReadOnlyList<string> gold, IReadOnlyList<string> predicted)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (string g in gold)
            set.Add(g);
        foreach (string p in predicted)
            set.Add(p);
        string[] sorted = [.. set];
        Array.Sort(sorted, StringComparer.Ordinal);
        return sorted;
    }

    private static void CheckPair(IReadOnlyList<string> gold, IReadOnlyList<string> predicted)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        if (gold.Count != predicted.Count)
        {
            throw new ArgumentException(
                $"gold has {gold.Count} labels but predicted has {predicted.Count}; give one prediction per gold label.",
                nameof(predicted));
        }
        if (gold.Count == 0)
            throw new ArgumentException("gold is empty; a classification metric needs at least one example.", nameof(gold));
        for (int i = 0; i < gold.Count; i++)
        {
            if (gold[i] is null || predicted[i] is null)
                throw new ArgumentException($"Label {i} is null; map unparsable outputs to a string label first.");
        }
    }
}
