using Tailor.Evaluation;
using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Report;

/// <summary>
/// Writes evaluation folders like `tailor eval` does, for made-up models of known quality, so compare and report tests
/// need no model. Quality q per task: sentiment answers are right with probability q; summaries and translations keep
/// each reference word with probability q (else a random word). Per-item scores come from the real metric functions.
/// </summary>
internal static class SyntheticEvals
{
    private static readonly string[] Vocabulary =
    [
        "package", "library", "tool", "manage", "files", "network", "simple", "fast", "server", "client", "data", "format",
        "image", "text", "editor", "game", "system", "user", "shell", "command", "audio", "video", "support", "driver",
    ];

    private static readonly string[] German =
    [
        "Paket", "Bibliothek", "Werkzeug", "verwalten", "Dateien", "Netzwerk", "einfach", "schnell", "Server", "Daten",
        "Format", "Bild", "Text", "Spiel", "System", "Benutzer", "Befehl", "Unterstützung", "Treiber", "für",
    ];

    /// <summary>One made-up model.</summary>
    /// <param name="Name">Folder name.</param>
    /// <param name="Kind">base, finetuned, chat or baseline.</param>
    /// <param name="Quality">Task → q in [0, 1].</param>
    /// <param name="Seed">Seed of its answers (two models with the same seed and quality answer identically).</param>
    /// <param name="OffTask">Share of answers that are off-task.</param>
    /// <param name="ModelPath">results.json's model field.</param>
    public sealed record Spec(string Name, string Kind, IReadOnlyDictionary<string, double> Quality, int Seed, double OffTask = 0.0, string ModelPath = "");

    public const int SentimentItems = 120, SummaryItems = 60, TranslationItems = 60;

    /// <summary>Writes the folder of <paramref name="spec"/> under <paramref name="root"/> and returns its path.</summary>
    public static string Write(string root, Spec spec)
    {
        string[] templates = spec.Kind == "chat" ? ["t1", "t2"] : ["plain"];
        var items = new List<EvalItem>();
        var tasks = new List<TaskResult>();
        foreach (var (task, q) in spec.Quality)
        {
            var taskItems = new List<EvalItem>();
            foreach (string template in templates)
            {
                var rng = new Random(spec.Seed * 7919 + task.Length * 31 + Array.IndexOf(templates, template));
                var data = new Random(1000 + task.Length);   // the test set: the same for every model
                int n = task.StartsWith("sentiment", StringComparison.Ordinal) ? SentimentItems : task == "summarization" ? SummaryItems : TranslationItems;
                for (int i = 0; i < n; i++)
                {
                    string id = $"{task}-{i:D4}";
                    bool off = rng.NextDouble() < spec.OffTask;
                    if (task.StartsWith("sentiment", StringComparison.Ordinal))
                    {
                        string gold = data.Next(2) == 0 ? "positive" : "negative";
                        string text = $"Review {i}: the {Vocabulary[data.Next(Vocabulary.Length)]} was {(gold == "positive" ? "great" : "bad")}.";
                        bool right = !off && rng.NextDouble() < q;
                        string prediction = off ? "I cannot say." : right ? gold : (gold == "positive" ? "negative" : "positive");
                        taskItems.Add(new EvalItem(task, id, template, $"[{template}] {text}\nSentiment:", prediction, [gold], off,
                            off ? "not_a_label" : null, 2, new Dictionary<string, double> { ["correct"] = right ? 1 : 0 }, text));
                    }
                    else
                    {
                        bool summary = task == "summarization";
                        string[] words = summary ? Vocabulary : German;
                        string reference = string.Join(' ', Enumerable.Range(0, summary ? 6 : 9).Select(_ => words[data.Next(words.Length)]));
                        string source = "Source " + i + ": " + string.Join(' ', Enumerable.Range(0, 14).Select(_ => Vocabulary[data.Next(Vocabulary.Length)]));
                        string prediction = off ? "Once upon a time there was a long story that went nowhere."
                            : string.Join(' ', reference.Split(' ').Select(w => rng.NextDouble() < q ? w : words[rng.Next(words.Length)]));
                        var scores = new Dictionary<string, double>();
                        if (summary)
                            foreach (string t in new[] { "rouge1", "rouge2", "rougeL" }) scores[t] = Rouge.Score(reference, prediction, t).FMeasure;
                        else scores["chrf"] = ChrF.Sentence(prediction, [reference]).Score;
                        taskItems.Add(new EvalItem(task, id, template, $"[{template}] {source}", prediction, [reference], off,
                            off ? "longer_than_input" : null, prediction.Split(' ').Length, scores, source));
                    }
                }
            }
            items.AddRange(taskItems);
            tasks.Add(Result(task, taskItems, templates));
        }
        var run = new EvalRun(spec.Name, spec.ModelPath.Length > 0 ? spec.ModelPath : "models/" + spec.Name, "hash-" + spec.Name, spec.Kind, 0, "data-1",
            new Dictionary<string, string>(), tasks, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), "tailor test");
        string folder = Path.Combine(root, spec.Name);
        run.Save(folder, items);
        return folder;
    }

    private static TaskResult Result(string task, List<EvalItem> items, string[] templates)
    {
        Dictionary<string, double> Metrics(List<EvalItem> its)
        {
            var m = new Dictionary<string, double>();
            if (task.StartsWith("sentiment", StringComparison.Ordinal))
            {
                m["accuracy"] = its.Average(i => i.Scores["correct"]);
                var gold = its.Select(i => i.References[0]).ToList();
                var pred = its.Select(i => i.Scores["correct"] == 1 ? i.References[0] : i.OffTask ? "none" : i.Prediction).ToList();
                m["macro_f1"] = Classification.MacroF1(gold, pred, ["negative", "positive"]);
            }
            else if (task == "summarization")
                foreach (string t in new[] { "rouge1", "rouge2", "rougeL" }) m[t] = its.Average(i => i.Scores[t]);
            else
            {
                m["bleu"] = Bleu.Corpus(its.Select(i => i.Prediction).ToList(), [its.Select(i => (string?)i.References[0]).ToList()]).Score;
                m["chrf"] = ChrF.Corpus(its.Select(i => i.Prediction).ToList(), [its.Select(i => (string?)i.References[0]).ToList()]).Score;
            }
            return m;
        }
        var signatures = new Dictionary<string, string>();
        if (task.StartsWith("translation", StringComparison.Ordinal))
        {
            signatures["bleu"] = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0";
            signatures["chrf"] = "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0";
        }
        double off = items.Average(i => i.OffTask ? 1.0 : 0.0);
        var reasons = items.Where(i => i.OffTask).GroupBy(i => i.OffTaskReason!).ToDictionary(g => g.Key, g => (double)g.Count() / items.Count);
        return new TaskResult(task, items.Count, "generation", Metrics(items), signatures, off, reasons,
            items.Average(i => i.GeneratedTokens), 12.5,
            templates.ToDictionary(t => t, t => (IReadOnlyDictionary<string, double>)Metrics(items.Where(i => i.Template == t).ToList())));
    }

    /// <summary>A temporary folder, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("tailor-compare-").FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
        }
    }

    public static Dictionary<string, double> Q(double sentiment, double summarization, double translation) => new()
    {
        ["sentiment"] = sentiment, ["summarization"] = summarization, ["translation-en-de"] = translation,
    };
}
