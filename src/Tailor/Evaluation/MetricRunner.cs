using System.ComponentModel;
using Tailor.Evaluation.Metrics;

namespace Tailor.Evaluation;

/// <summary>Options of <see cref="MetricRunner"/>, named as sacreBLEU and rouge-score name them.</summary>
public sealed record MetricOptions
{
    /// <summary>BLEU tokenizer: 13a, none, intl, char.</summary>
    [Description("BLEU tokenizer: 13a (sacreBLEU's default, WMT's mteval-v13a), none, intl or char")]
    public string Tokenize { get; init; } = "13a";

    /// <summary>BLEU smoothing: exp, none, floor, add-k.</summary>
    [Description("BLEU smoothing: exp (sacreBLEU's default), none, floor or add-k")]
    public string Smooth { get; init; } = "exp";

    /// <summary>Value for floor/add-k smoothing (sacreBLEU's defaults when null).</summary>
    [Description("value for floor or add-k smoothing; null = sacreBLEU's (floor 0.1, add-k 1)")]
    public double? SmoothValue { get; init; }

    /// <summary>Lowercase before scoring (BLEU, chrF).</summary>
    [Description("lowercase before scoring (BLEU, chrF)")]
    public bool Lowercase { get; init; }

    /// <summary>BLEU effective order (null: sacreBLEU's default for corpus or sentence scoring).</summary>
    [Description("BLEU: ignore n-gram orders the hypothesis is too short for; null = sacreBLEU's (on for sentence scores, off for corpus scores)")]
    public bool? EffectiveOrder { get; init; }

    /// <summary>chrF character n-gram order.</summary>
    [Description("chrF character n-gram order: 6, as chrF and sacreBLEU")]
    public int CharOrder { get; init; } = 6;

    /// <summary>chrF word n-gram order (0 for chrF, 2 for chrF++ unless set).</summary>
    [Description("chrF word n-gram order; null = 0 for chrf, 2 for chrf++")]
    public int? WordOrder { get; init; }

    /// <summary>chrF β.</summary>
    [Description("chrF beta: 2 weighs recall twice as much as precision, as chrF and sacreBLEU")]
    public double Beta { get; init; } = 2;

    /// <summary>chrF eps smoothing (the chrF++.py behaviour).</summary>
    [Description("chrF: eps smoothing as chrF++.py (off, as sacreBLEU)")]
    public bool EpsSmoothing { get; init; }

    /// <summary>ROUGE Porter stemmer.</summary>
    [Description("ROUGE: Porter-stem tokens (rouge-score's use_stemmer)")]
    public bool Stemmer { get; init; }

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        if (Tokenize is not ("13a" or "none" or "intl" or "char")) throw new TailorException($"tokenize = {Tokenize}: use 13a, none, intl or char.");
        if (Smooth is not ("exp" or "none" or "floor" or "add-k")) throw new TailorException($"smooth = {Smooth}: use exp, none, floor or add-k.");
        if (SmoothValue < 0) throw new TailorException($"smooth_value = {SmoothValue}: must be 0 or more.");
        if (CharOrder < 0) throw new TailorException($"char_order = {CharOrder}: must be 0 or more.");
        if (WordOrder < 0) throw new TailorException($"word_order = {WordOrder}: must be 0 or more.");
        if (!(Beta >= 0)) throw new TailorException($"beta = {Beta}: must be 0 or more.");
    }
}

/// <summary>A metric's result over aligned segments: the corpus (or mean) score, optional details, and per-line scores.</summary>
public sealed record MetricResult(string Metric, double Score, string? Signature, string Text,
    IReadOnlyDictionary<string, object> Details, IReadOnlyList<double>? PerLine);

/// <summary>
/// Scores hypotheses against one or more aligned reference streams with any of Tailor's metrics, as the references'
/// command lines do: BLEU and chrF are corpus scores on 0-100; ROUGE is the mean F-measure over lines on 0-1 (as
/// rouge-score), with mean precision and recall beside it; accuracy and macro-F1 compare labels.
/// </summary>
public static class MetricRunner
{
    /// <summary>Metric names accepted by <see cref="Score"/>.</summary>
    public static readonly IReadOnlyList<string> Metrics =
        ["bleu", "chrf", "chrf++", "rouge1", "rouge2", "rougeL", "rougeLsum", "accuracy", "macro-f1"];

    /// <summary>Scores; <paramref name="perLine"/> adds sentence-level scores.</summary>
    public static MetricResult Score(string metric, IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string>> references,
        MetricOptions options, bool perLine = false)
    {
        if (references.Count == 0) throw new TailorException("give at least one reference stream.");
        foreach (var r in references)
            if (r.Count != hypotheses.Count)
                throw new TailorException($"a reference stream has {r.Count} segments but the hypotheses have {hypotheses.Count}; they must align line by line.");
        var streams = references.Select(r => (IReadOnlyList<string?>)r.Select(s => (string?)s).ToList()).ToList();
        switch (metric)
        {
            case "bleu":
            {
                var o = new BleuOptions(options.Tokenize, options.Smooth, options.SmoothValue, options.Lowercase, options.EffectiveOrder);
                var s = Bleu.Corpus(hypotheses, streams, o);
                var lines = perLine
                    ? hypotheses.Select((h, i) => Bleu.Sentence(h, streams.Select(r => r[i]).ToList(), o).Score).ToList()
                    : null;
                var details = new Dictionary<string, object>
                {
                    ["counts"] = s.Counts, ["totals"] = s.Totals, ["precisions"] = s.Precisions, ["bp"] = s.Bp,
                    ["sys_len"] = s.SysLen, ["ref_len"] = s.RefLen, ["ratio"] = s.Ratio,
                };
                return new MetricResult("bleu", s.Score, s.Signature, s.Format(), details, lines);
            }
            case "chrf" or "chrf++":
            {
                var o = new ChrFOptions(options.CharOrder, options.WordOrder ?? (metric == "chrf++" ? 2 : 0), options.Beta,
                    options.Lowercase, false, options.EpsSmoothing);
                var s = ChrF.Corpus(hypotheses, streams, o);
                var lines = perLine
                    ? hypotheses.Select((h, i) => ChrF.Sentence(h, streams.Select(r => r[i]).ToList(), o).Score).ToList()
                    : null;
                return new MetricResult(metric, s.Score, s.Signature, s.Format(), new Dictionary<string, object> { ["name"] = s.Name }, lines);
            }
            case "rouge1" or "rouge2" or "rougeL" or "rougeLsum":
            {
                var scores = new List<RougeScore>(hypotheses.Count);
                for (int i = 0; i < hypotheses.Count; i++)
                {
                    // rougeLsum separates sentences by newlines; on one-segment-per-line files they are written "\n".
                    string Prep(string s) => metric == "rougeLsum" ? s.Replace("\\n", "\n", StringComparison.Ordinal) : s;
                    var targets = references.Select(r => Prep(r[i])).ToList();
                    scores.Add(targets.Count == 1
                        ? Rouge.Score(targets[0], Prep(hypotheses[i]), metric, options.Stemmer)
                        : Rouge.ScoreMulti(targets, Prep(hypotheses[i]), metric, options.Stemmer));
                }
                double f = scores.Count == 0 ? 0 : scores.Average(s => s.FMeasure);
                double p = scores.Count == 0 ? 0 : scores.Average(s => s.Precision);
                double r = scores.Count == 0 ? 0 : scores.Average(s => s.Recall);
                string sig = $"{metric}|stemmer:{(options.Stemmer ? "yes" : "no")}|rouge-score:0.1.2";
                return new MetricResult(metric, f, sig, $"{metric} = {f:F4} (P {p:F4} R {r:F4}, mean over {scores.Count} lines)",
                    new Dictionary<string, object> { ["precision"] = p, ["recall"] = r },
                    perLine ? scores.Select(s => s.FMeasure).ToList() : null);
            }
            case "accuracy" or "macro-f1":
            {
                if (references.Count != 1) throw new TailorException($"{metric} takes exactly one reference (gold label) file.");
                var gold = references[0].Select(s => s.Trim()).ToList();
                var predicted = hypotheses.Select(s => s.Trim()).ToList();
                double value = metric == "accuracy" ? Classification.Accuracy(gold, predicted) : Classification.MacroF1(gold, predicted);
                return new MetricResult(metric, value, null, $"{metric} = {value:F4} over {gold.Count} items",
                    new Dictionary<string, object>(), perLine ? gold.Select((g, i) => g == predicted[i] ? 1.0 : 0.0).ToList() : null);
            }
            default:
                throw new TailorException($"unknown metric '{metric}'; use one of {string.Join(", ", Metrics)}.");
        }
    }

    /// <summary>Reads one segment per line (a final newline ends the last segment, it does not start another).</summary>
    public static IReadOnlyList<string> ReadSegments(string path)
    {
        if (!File.Exists(path)) throw new TailorException($"{path}: not found.");
        string text = File.ReadAllText(path);
        if (text.Length == 0) return [];
        if (text.EndsWith('\n')) text = text[..^1];
        return text.Split('\n').Select(l => l.EndsWith('\r') ? l[..^1] : l).ToList();
    }
}
