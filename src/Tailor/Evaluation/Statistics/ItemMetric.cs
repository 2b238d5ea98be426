using System.Globalization;
using Tailor.Evaluation.Metrics;

namespace Tailor.Evaluation.Statistics;

/// <summary>
/// One metric recomputed from per-item predictions, in a form paired statistics can resample: <see cref="Build"/> turns
/// units of items (a unit is a test item; with several instruction templates it holds one item per template) into a
/// <see cref="UnitTable"/> whose summed rows give the corpus metric. Items of one unit are pooled: a chat model asked
/// with three templates contributes three predictions to its unit, so its score is the score over all its templates.
/// </summary>
public sealed class ItemMetric
{
    private readonly Func<IReadOnlyList<IReadOnlyList<EvalItem>>, UnitTable> _build;
    private readonly Func<EvalItem, bool> _hasData;

    private ItemMetric(string name, bool higherIsBetter, bool unitScale, string recomputed,
        Func<EvalItem, bool> hasData, Func<IReadOnlyList<IReadOnlyList<EvalItem>>, UnitTable> build)
    {
        Name = name;
        HigherIsBetter = higherIsBetter;
        UnitScale = unitScale;
        Recomputed = recomputed;
        _hasData = hasData;
        _build = build;
    }

    /// <summary>Metric name as in results.json (<c>accuracy</c>, <c>rougeL</c>, <c>chrf</c>, ...).</summary>
    public string Name { get; }

    /// <summary>Whether a larger value is better (everything but the off-task rate).</summary>
    public bool HigherIsBetter { get; }

    /// <summary>True for metrics on 0-1 (accuracy, F1, ROUGE, rates); false for 0-100 (BLEU, chrF).</summary>
    public bool UnitScale { get; }

    /// <summary>How the metric is recomputed from the items, for the report's notes.</summary>
    public string Recomputed { get; }

    /// <summary>Whether <paramref name="item"/> carries what this metric needs.</summary>
    public bool HasData(EvalItem item) => _hasData(item);

    /// <summary>Per-unit statistics of <paramref name="units"/> (every unit non-empty).</summary>
    public UnitTable Build(IReadOnlyList<IReadOnlyList<EvalItem>> units)
    {
        ArgumentNullException.ThrowIfNull(units);
        return _build(units);
    }

    /// <summary>The off-task rate: share of items flagged off-task (lower is better).</summary>
    public static ItemMetric OffTask { get; } = Mean("off_task", i => i.OffTask ? 1 : 0, _ => true, higherIsBetter: false,
        "share of items with off_task = true");

    /// <summary>
    /// The recomputable metric called <paramref name="metric"/> in results.json, or null when the items carry nothing to
    /// recompute it from. <paramref name="signature"/> (sacreBLEU style) sets BLEU's tokenizer and case and chrF's orders.
    /// </summary>
    public static ItemMetric? For(string metric, string? signature)
    {
        ArgumentNullException.ThrowIfNull(metric);
        return metric switch
        {
            "accuracy" => Mean("accuracy", i => i.Scores["correct"], i => i.Scores.ContainsKey("correct"), true, "mean of per-item `correct`"),
            "acc" => Mean("acc", i => i.Scores["loglik_correct"], i => i.Scores.ContainsKey("loglik_correct"), true, "mean of per-item `loglik_correct`"),
            "acc_norm" => Mean("acc_norm", i => i.Scores["loglik_norm_correct"], i => i.Scores.ContainsKey("loglik_norm_correct"), true,
                "mean of per-item `loglik_norm_correct`"),
            "macro_f1" => MacroF1(),
            "bleu" => Bleu(signature),
            "chrf" => ChrF(signature),
            _ => Mean(metric, i => i.Scores[metric], i => i.Scores.ContainsKey(metric), true, $"mean of per-item `{metric}`"),
        };
    }

    private static ItemMetric Mean(string name, Func<EvalItem, double> value, Func<EvalItem, bool> has, bool higherIsBetter, string how) =>
        new(name, higherIsBetter, name is not ("bleu" or "chrf"), how, has, units =>
        {
            var rows = new double[units.Count][];
            for (int u = 0; u < units.Count; u++)
            {
                double sum = 0;
                foreach (var item in units[u]) sum += value(item);
                rows[u] = [sum, units[u].Count];
            }
            return new UnitTable(rows, s => s[1] == 0 ? 0 : s[0] / s[1]);
        });

    /// <summary>
    /// Macro-F1 over the gold label set (HELM's choice): each item's predicted label is its gold label when
    /// <c>correct</c> = 1, else the one label word its prediction contains (lowercased, split on non-letters), else none
    /// (an off-label answer counts only as a miss of its gold class).
    /// </summary>
    private static ItemMetric MacroF1() =>
        new("macro_f1", true, true, "per-class TP/FP/FN over the gold label set (prediction mapped to the label word it names)",
            i => i.Scores.ContainsKey("correct") && i.References.Count > 0, units =>
            {
                string[] labels = [.. units.SelectMany(u => u).Select(i => Normalize(i.References[0])).Distinct().Order(StringComparer.Ordinal)];
                var index = labels.Select((l, k) => (l, k)).ToDictionary(p => p.l, p => p.k, StringComparer.Ordinal);
                int k = labels.Length;
                var rows = new double[units.Count][];
                for (int u = 0; u < units.Count; u++)
                {
                    var row = new double[3 * k];   // tp[k], fp[k], fn[k]
                    foreach (var item in units[u])
                    {
                        int gold = index[Normalize(item.References[0])];
                        int? predicted = item.Scores["correct"] >= 0.5 ? gold : PredictedLabel(item.Prediction, index);
                        if (predicted == gold) row[gold]++;
                        else
                        {
                            row[2 * k + gold]++;
                            if (predicted is int p) row[k + p]++;
                        }
                    }
                    rows[u] = row;
                }
                return new UnitTable(rows, s =>
                {
                    double sum = 0;
                    for (int c = 0; c < k; c++)
                    {
                        double den = 2 * s[c] + s[k + c] + s[2 * k + c];
                        sum += den == 0 ? 0 : 2 * s[c] / den;
                    }
                    return sum / k;
                });
            });

    private static string Normalize(string label) => label.Trim().ToLowerInvariant();

    private static int? PredictedLabel(string prediction, Dictionary<string, int> labels)
    {
        int? found = null;
        foreach (string word in Contamination.Words(prediction))
        {
            if (!labels.TryGetValue(word, out int l)) continue;
            if (found is int f && f != l) return null;   // names two labels: no answer
            found = l;
        }
        return found;
    }

    private static ItemMetric Bleu(string? signature)
    {
        var sig = ParseSignature(signature);
        var options = new BleuOptions(
            Tokenize: sig.GetValueOrDefault("tok", "13a"),
            Lowercase: sig.GetValueOrDefault("case") == "lc");
        return new ItemMetric("bleu", true, false, $"corpus BLEU from summed sacreBLEU statistics (tok:{options.Tokenize}, case:{(options.Lowercase ? "lc" : "mixed")})",
            i => i.References.Count > 0, units => Corpus(units,
                (h, r) => Evaluation.Metrics.Bleu.SegmentStatistics(h, r, options, out _),
                s => Evaluation.Metrics.Bleu.FromStatistics(ToLongs(s), options).Score));
    }

    private static ItemMetric ChrF(string? signature)
    {
        var sig = ParseSignature(signature);
        var options = new ChrFOptions(
            CharOrder: int.Parse(sig.GetValueOrDefault("nc", "6"), CultureInfo.InvariantCulture),
            WordOrder: int.Parse(sig.GetValueOrDefault("nw", "0"), CultureInfo.InvariantCulture),
            Lowercase: sig.GetValueOrDefault("case") == "lc",
            Whitespace: sig.GetValueOrDefault("space") == "yes",
            EpsSmoothing: sig.GetValueOrDefault("eff") == "no");
        return new ItemMetric("chrf", true, false, $"corpus chrF from summed sacreBLEU statistics (nc:{options.CharOrder}, nw:{options.WordOrder})",
            i => i.References.Count > 0, units => Corpus(units,
                (h, r) => Evaluation.Metrics.ChrF.SegmentStatistics(h, r, options, out _),
                s => Evaluation.Metrics.ChrF.FromStatistics(ToLongs(s), options).Score));
    }

    private static UnitTable Corpus(IReadOnlyList<IReadOnlyList<EvalItem>> units,
        Func<IReadOnlyList<string>, IReadOnlyList<IReadOnlyList<string?>>, long[][]> segments, Func<double[], double> score)
    {
        var items = units.SelectMany(u => u).ToList();
        int refs = items.Max(i => i.References.Count);
        var streams = new IReadOnlyList<string?>[refs];
        for (int k = 0; k < refs; k++)
            streams[k] = items.Select(i => k < i.References.Count ? i.References[k] : null).ToArray();
        long[][] stats = segments(items.Select(i => i.Prediction).ToList(), streams);
        var rows = new double[units.Count][];
        int at = 0;
        for (int u = 0; u < units.Count; u++)
        {
            var row = new double[stats[0].Length];
            for (int j = 0; j < units[u].Count; j++, at++)
                for (int d = 0; d < row.Length; d++) row[d] += stats[at][d];
            rows[u] = row;
        }
        return new UnitTable(rows, score);
    }

    private static long[] ToLongs(double[] s)
    {
        var r = new long[s.Length];
        for (int i = 0; i < s.Length; i++) r[i] = (long)Math.Round(s[i]);
        return r;
    }

    private static Dictionary<string, string> ParseSignature(string? signature)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (signature is null) return d;
        foreach (string part in signature.Split('|'))
        {
            int c = part.IndexOf(':', StringComparison.Ordinal);
            if (c > 0) d[part[..c]] = part[(c + 1)..];
        }
        return d;
    }
}
