using Tailor.Evaluation.Metrics;

namespace Tailor.Evaluation;

/// <summary>
/// Turns answers into per-item scores and per-task results with the exact metrics of <see cref="Bleu"/>, <see cref="ChrF"/>,
/// <see cref="Rouge"/> and <see cref="Classification"/>. Pure functions.
/// </summary>
/// <remarks>
/// Conventions: ROUGE with the Porter stemmer (rouge-score's <c>use_stemmer=True</c>, as summarization papers report it),
/// mean F-measure on 0-1; BLEU and chrF are sacreBLEU corpus scores on 0-100 with default options. A classification
/// answer that names no label (<see cref="OffTask.MatchLabel"/>) counts as wrong; macro-F1 averages over the gold label set
/// (HELM's convention), so such an answer is a miss of its gold class rather than a class of its own.
/// </remarks>
public static class TaskScoring
{
    /// <summary>rouge-score options used for summaries.</summary>
    public const bool RougeStemmer = true;

    /// <summary>The per-item scores an answer earns (see <see cref="EvalItem.Scores"/>).</summary>
    public static Dictionary<string, double> ItemScores(EvalTask task, string prediction, IReadOnlyList<string> references)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(references);
        var s = new Dictionary<string, double>(StringComparer.Ordinal);
        if (task.IsClassification)
        {
            s["correct"] = OffTask.MatchLabel(prediction, task.Options) == references[0] ? 1 : 0;
            return s;
        }
        if (task.Metrics.Any(m => m.StartsWith("rouge", StringComparison.Ordinal)))
        {
            var all = references.Count == 1
                ? Rouge.ScoreAll(references[0], prediction, ["rouge1", "rouge2", "rougeL"], RougeStemmer)
                : Rouge.ScoreMultiAll(references, prediction, ["rouge1", "rouge2", "rougeL"], RougeStemmer);
            foreach (var (k, v) in all) s[k] = v.FMeasure;
        }
        if (task.Metrics.Contains("chrf") || task.Metrics.Contains("bleu"))
            s["chrf"] = ChrF.Sentence(prediction, [.. references]).Score;
        return s;
    }

    /// <summary>
    /// The corpus metrics and their signatures over <paramref name="items"/> (all of one task). Classification items
    /// in log-likelihood mode also carry <c>loglik_correct</c>/<c>loglik_norm_correct</c>, reported as acc/acc_norm.
    /// </summary>
    public static (Dictionary<string, double> Metrics, Dictionary<string, string> Signatures) Corpus(EvalTask task, IReadOnlyList<EvalItem> items)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(items);
        var m = new Dictionary<string, double>(StringComparer.Ordinal);
        var sig = new Dictionary<string, string>(StringComparer.Ordinal);
        if (items.Count == 0) return (m, sig);
        if (task.IsClassification)
        {
            var gold = items.Select(i => i.References[0]).ToList();
            var predicted = items.Select(i => OffTask.MatchLabel(i.Prediction, task.Options) ?? "(off-task)").ToList();
            m["accuracy"] = Classification.Accuracy(gold, predicted);
            m["macro_f1"] = Classification.MacroF1(gold, predicted, task.Options);
            sig["macro_f1"] = "macro-f1|labels:gold|off-task:miss";
            if (items.All(i => i.Scores.ContainsKey("loglik_correct")))
            {
                m["acc"] = items.Average(i => i.Scores["loglik_correct"]);
                m["acc_norm"] = items.Average(i => i.Scores["loglik_norm_correct"]);
                sig["acc"] = "loglik|options:" + string.Join("/", task.Options);
                sig["acc_norm"] = "loglik|norm:bytes|options:" + string.Join("/", task.Options);
            }
            return (m, sig);
        }
        var hyps = items.Select(i => i.Prediction).ToList();
        int refCount = items.Max(i => i.References.Count);
        var streams = Enumerable.Range(0, refCount)
            .Select(k => (IReadOnlyList<string?>)items.Select(i => k < i.References.Count ? i.References[k] : null).ToList()).ToList();
        foreach (string metric in task.Metrics)
        {
            switch (metric)
            {
                case "rouge1" or "rouge2" or "rougeL":
                    m[metric] = items.Average(i => i.Scores[metric]);
                    sig[metric] = $"{metric}|stemmer:{(RougeStemmer ? "yes" : "no")}|rouge-score:0.1.2";
                    break;
                case "bleu":
                {
                    var b = Bleu.Corpus(hyps, streams);
                    m["bleu"] = b.Score;
                    sig["bleu"] = b.Signature;
                    break;
                }
                case "chrf":
                {
                    var c = ChrF.Corpus(hyps, streams);
                    m["chrf"] = c.Score;
                    sig["chrf"] = c.Name + "|" + c.Signature;
                    break;
                }
                default:
                    throw new TailorException($"task {task.Name}: unknown metric '{metric}'.");
            }
        }
        return (m, sig);
    }

    /// <summary>The task's result: corpus metrics, off-task rates, efficiency, and metrics per template.</summary>
    public static TaskResult Summarize(EvalTask task, IReadOnlyList<EvalItem> items, string mode, double seconds)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(items);
        var (metrics, signatures) = Corpus(task, items);
        var generated = items;
        double offRate = generated.Count == 0 ? 0 : generated.Count(i => i.OffTask) / (double)generated.Count;
        var reasons = generated.Where(i => i.OffTaskReason is not null).GroupBy(i => i.OffTaskReason!)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count() / (double)generated.Count, StringComparer.Ordinal);
        var byTemplate = items.GroupBy(i => i.Template).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, double>)Corpus(task, [.. g]).Metrics, StringComparer.Ordinal);
        return new TaskResult(task.Name, items.Count, mode, metrics, signatures, offRate, reasons,
            generated.Count == 0 ? 0 : generated.Average(i => (double)i.GeneratedTokens),
            seconds > 0 ? items.Count / seconds : 0, byTemplate,
            task.TrainFile is null ? null : Path.GetFullPath(task.TrainFile),
            task.IsClassification ? task.Options : null, task.TargetLanguage);
    }
}
