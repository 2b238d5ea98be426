using Tailor.Evaluation;

namespace Tailor.Tests.Evaluation.Report;

/// <summary>
/// Task data and evaluation folders written the way <c>tailor eval</c> writes them (real task definitions, per-item
/// scores from <see cref="TaskScoring"/>, off-task reasons from <see cref="OffTask"/>, results from
/// <see cref="TaskScoring.Summarize"/>), with answers from a function instead of a model. Used to re-create the
/// 0d71b95 default run's degenerate situation (a chat model answering "negative" to most reviews, translations far below
/// copying the source) and its competent counterpart.
/// </summary>
internal static class RunFixtures
{
    public const int SentimentItems = 200, TranslationItems = 120, SummaryItems = 120;

    private static readonly string[] Nouns = ["plot", "acting", "music", "ending", "camera", "script", "cast", "pacing"];
    private static readonly string[] English = ["manage", "files", "network", "simple", "fast", "server", "client", "format", "image", "editor", "system", "command"];
    private static readonly string[] German = ["verwalten", "Dateien", "Netzwerk", "einfach", "schnell", "Server", "Werkzeug", "Format", "Bild", "System", "Befehl", "Bibliothek"];

    /// <summary>
    /// Writes data/tasks under <paramref name="root"/>: sentiment (train 60% <paramref name="trainMajority"/>; test
    /// positive with probability <paramref name="testPositive"/>), translation-en-de (sources carry package names and
    /// versions the references keep) and summarization. Returns the task data folder.
    /// </summary>
    public static string WriteTaskData(string root, double testPositive = 0.5, string trainMajority = "negative")
    {
        string trainMinority = trainMajority == "positive" ? "negative" : "positive";
        string dir = Path.Combine(root, "data", "tasks");
        Directory.CreateDirectory(dir);
        var rng = new Random(17);
        File.WriteAllLines(Path.Combine(dir, "sentiment.train.jsonl"), Enumerable.Range(0, 100).Select(i =>
            $$"""{"id":"tr-{{i}}","text":"Train review {{i}}","label":"{{(i % 5 < 3 ? trainMajority : trainMinority)}}"}"""));
        File.WriteAllLines(Path.Combine(dir, "sentiment.test.jsonl"), Enumerable.Range(0, SentimentItems).Select(i =>
        {
            bool positive = rng.NextDouble() < testPositive;
            return $$"""{"id":"s-{{i:D4}}","text":"Review {{i}}: the {{Nouns[rng.Next(Nouns.Length)]}} was {{(positive ? "wonderful" : "awful")}} and I {{(positive ? "loved" : "hated")}} it.","label":"{{(positive ? "positive" : "negative")}}"}""";
        }));
        File.WriteAllLines(Path.Combine(dir, "translation-en-de.test.jsonl"), Enumerable.Range(0, TranslationItems).Select(i =>
        {
            string name = $"lib{(char)('a' + rng.Next(26))}{(char)('a' + rng.Next(26))}{(char)('a' + rng.Next(26))}-{rng.Next(1, 9)}.{rng.Next(0, 20)}";
            int a = rng.Next(English.Length), b = rng.Next(English.Length);
            string source = $"{name} can {English[a]} the {English[b]} tool ({name.ToUpperInvariant()})";
            string target = $"{name} kann das {German[b]} {German[a]} ({name.ToUpperInvariant()})";
            return $$"""{"id":"t-{{i:D4}}","source":"{{source}}","target":"{{target}}"}""";
        }));
        File.WriteAllLines(Path.Combine(dir, "translation-en-de.train.jsonl"), ["""{"id":"x","source":"a","target":"b"}"""]);
        File.WriteAllLines(Path.Combine(dir, "summarization.test.jsonl"), Enumerable.Range(0, SummaryItems).Select(i =>
        {
            var words = Enumerable.Range(0, 40).Select(_ => English[rng.Next(English.Length)]).ToList();
            string summary = string.Join(' ', Enumerable.Range(0, 8).Select(_ => English[rng.Next(English.Length)]));
            return $$"""{"id":"m-{{i:D4}}","text":"{{string.Join(' ', words)}}","summary":"{{summary}}"}""";
        }));
        File.WriteAllLines(Path.Combine(dir, "summarization.train.jsonl"), ["""{"id":"x","text":"a b c","summary":"a"}"""]);
        return dir;
    }

    /// <summary>
    /// Writes an evaluation folder <paramref name="name"/> under <paramref name="root"/>: every test item of
    /// <paramref name="tasks"/> answered by <paramref name="answer"/>(task, record, item index). Chat models are asked
    /// with three templates in rotation (one per item, as <c>--template-mode rotate</c>); others with <c>plain</c>.
    /// </summary>
    public static string WriteEval(string root, string taskData, string name, string kind, IReadOnlyList<string> tasks,
        Func<EvalTask, EvalRecord, int, string> answer)
    {
        var items = new List<EvalItem>();
        var results = new List<TaskResult>();
        foreach (string t in tasks)
        {
            var task = EvalTask.Get(t, taskData);
            var records = task.ReadTest();
            var taskItems = new List<EvalItem>();
            for (int i = 0; i < records.Count; i++)
            {
                var r = records[i];
                string template = kind == "chat" ? $"t{i % 3 + 1}" : "plain";
                string prediction = answer(task, r, i);
                string? reason = OffTask.Reason(task, r.Input, prediction);
                taskItems.Add(new EvalItem(t, r.Id, template, $"[{template}] {r.Input}", prediction, r.References, reason is not null, reason,
                    prediction.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length, TaskScoring.ItemScores(task, prediction, r.References), r.Input));
            }
            results.Add(TaskScoring.Summarize(task, taskItems, "generation", 10));
            items.AddRange(taskItems);
        }
        var run = new EvalRun(name, kind == "baseline" ? "baseline:classic" : "models/" + name, "hash-" + name, kind, 0, "data-1",
            new Dictionary<string, string> { ["split"] = "test", ["max_input_words"] = "0" }, results,
            new DateTime(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc), "tailor test");
        string folder = Path.Combine(root, name);
        run.Save(folder, items);
        return folder;
    }

    private static readonly string[] AllTasks = ["sentiment", "summarization", "translation-en-de"];

    /// <summary>A base model that prints nothing for reviews and English filler for everything else (base-small at 0d71b95).</summary>
    public static string SilentBase(string root, string data, string name = "base-small") =>
        WriteEval(root, data, name, "base", AllTasks, (task, r, i) => task.IsClassification ? "" : "the the the and of");

    /// <summary>
    /// A chat model that answers "negative" to about 82% of reviews whatever they say, and random German or English
    /// words in place of translations and summaries (instruct-small at 0d71b95: accuracy below the majority label, chrF
    /// far below copying the source).
    /// </summary>
    public static string DegenerateInstruct(string root, string data, string name = "instruct-small")
    {
        var rng = new Random(5);
        return WriteEval(root, data, name, "chat", AllTasks, (task, r, i) =>
            task.IsClassification ? (rng.NextDouble() < 0.82 ? "negative" : "positive")
            : task.Name.StartsWith("translation", StringComparison.Ordinal) ? string.Join(' ', Enumerable.Range(0, 4).Select(_ => German[rng.Next(German.Length)]))
            : string.Join(' ', Enumerable.Range(0, 3).Select(_ => Nouns[rng.Next(Nouns.Length)])));
    }

    /// <summary>A chat model that does the tasks: 85% right on reviews, most reference words kept in translations and summaries.</summary>
    public static string CompetentInstruct(string root, string data, string name = "instruct-small")
    {
        var rng = new Random(9);
        return WriteEval(root, data, name, "chat", AllTasks, (task, r, i) =>
        {
            if (task.IsClassification)
                return rng.NextDouble() < 0.85 ? r.References[0] : r.References[0] == "positive" ? "negative" : "positive";
            var words = r.References[0].Split(' ');
            var pool = task.Name.StartsWith("translation", StringComparison.Ordinal) ? German : English;
            return string.Join(' ', words.Select(w => rng.NextDouble() < 0.8 ? w : pool[rng.Next(pool.Length)]));
        });
    }

    /// <summary>Classic baselines: a lexicon that is right on 80% of reviews, the source copied, the first sentence of the text.</summary>
    public static string ClassicBaselines(string root, string data)
    {
        var rng = new Random(3);
        return WriteEval(root, data, "classic-baselines", "baseline", AllTasks, (task, r, i) =>
            task.IsClassification ? (rng.NextDouble() < 0.8 ? r.References[0] : r.References[0] == "positive" ? "negative" : "positive")
            : task.Name.StartsWith("translation", StringComparison.Ordinal) ? r.Input
            : string.Join(' ', r.Input.Split(' ').Take(12)));
    }
}
