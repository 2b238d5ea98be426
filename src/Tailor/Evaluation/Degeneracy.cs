using System.Text.RegularExpressions;
using Tailor.Evaluation.Report;

namespace Tailor.Evaluation;

/// <summary>
/// Names models whose answers do not depend on the question: per model and task, the share of its most frequent answer,
/// the share of distinct answers, and the repetition, wrong-language and off-task rates, with the thresholds that flag a
/// model as degenerate. A degenerate model's score, and any difference it "wins", says nothing about the skill the task
/// measures, so <c>tailor compare</c> does not count such evidence as support for a claim. Pure functions.
/// </summary>
public static partial class Degeneracy
{
    /// <summary>
    /// A classifier that gives one label to at least this share of the items is flagged. The shipped label tasks are
    /// balanced (about half positive) and a user's rarely have one class above 80%, so a model that reads the input
    /// cannot give one label to 90% of them; a constant answer can, and scores the class prior (issue 14).
    /// </summary>
    public const double ClassifierOneAnswerShare = 0.90;

    /// <summary>
    /// A generator whose answers are identical for at least this share of the items is flagged: distinct inputs
    /// (sentences to translate, texts to summarise) need distinct answers, and half the answers being one string means
    /// the input is mostly ignored (issue 14).
    /// </summary>
    public const double GeneratorIdenticalShare = 0.50;

    /// <summary>
    /// Any model with at least this share of off-task answers (empty, not a label, repetition, wrong language, longer
    /// than the input; <see cref="OffTask"/>) is flagged: most of what it says is not an answer to the task (issue 14).
    /// </summary>
    public const double OffTaskShare = 0.50;

    /// <summary>
    /// Measures one model's answers <paramref name="items"/> to one task. <paramref name="labels"/> is the label set of a
    /// classification task (null for generation); <paramref name="targetLanguage"/> the expected answer language, or null.
    /// </summary>
    public static DegeneracyEntry Measure(string model, IReadOnlyList<EvalItem> items, IReadOnlyList<string>? labels, string? targetLanguage)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0) return new DegeneracyEntry(model, 0, "", 0, 0, 0, null, 0, []);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        int repeated = 0, wrongLanguage = 0, off = 0;
        foreach (var item in items)
        {
            string answer = Normalize(item.Prediction, labels);
            counts[answer] = counts.GetValueOrDefault(answer) + 1;
            if (item.FinishReason == "repetition" || OffTask.IsDegenerate(OffTask.Words(item.Prediction))) repeated++;
            if (targetLanguage is not null && OffTask.LanguageId(item.Prediction) is string lang && lang != targetLanguage) wrongLanguage++;
            if (item.OffTask) off++;
        }
        var top = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).First();
        double n = items.Count, topShare = top.Value / n, offShare = off / n;
        string shown = top.Key.Length == 0 ? "(empty)" : top.Key.Length > 40 ? top.Key[..40] + "…" : top.Key;
        var flags = new List<string>();
        bool classifier = labels is not null;
        if (classifier && topShare >= ClassifierOneAnswerShare)
            flags.Add($"one answer (\"{shown}\") to {Fmt.Percent(topShare)} of items");
        if (!classifier && topShare >= GeneratorIdenticalShare)
            flags.Add($"{Fmt.Percent(topShare)} identical answers (\"{shown}\")");
        if (offShare >= OffTaskShare)
            flags.Add($"{Fmt.Percent(offShare)} off-task");
        return new DegeneracyEntry(model, items.Count, shown, topShare, counts.Count / n, repeated / n,
            targetLanguage is null ? null : wrongLanguage / n, offShare, flags);
    }

    /// <summary>
    /// The answer as counted: the label it names (classification, <see cref="OffTask.MatchLabel"/>), else the text
    /// lowercased with runs of white space made one space and the ends trimmed.
    /// </summary>
    public static string Normalize(string answer, IReadOnlyList<string>? labels)
    {
        ArgumentNullException.ThrowIfNull(answer);
        if (labels is not null && OffTask.MatchLabel(answer, labels) is string label) return label;
        return Spaces().Replace(answer.Trim().ToLowerInvariant(), " ");
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
