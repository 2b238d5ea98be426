using System.Diagnostics;
using System.Globalization;
using Tailor.Evaluation;
using Tailor.Evaluation.Answering;
using Tailor.Training;

namespace Tailor.Recipes;

/// <summary>Progress of an evaluation: items answered of a task.</summary>
public sealed record EvalProgress(string Task, int Done, int Total, TimeSpan Elapsed);

/// <summary>
/// <c>tailor eval</c>: asks a model (a folder, an OpenAI-compatible endpoint, or a classic baseline) every test item of
/// each task, scores the answers with the exact metrics, flags off-task answers, and writes results.json and
/// predictions.jsonl. Straight-line: choose items → phrase them → answer (greedy generation on the chosen decoder, stop at end of turn
/// or newline; log-likelihood ranking for label tasks) → score → save.
/// </summary>
public static class Evaluate
{
    /// <summary>Runs an evaluation and saves it into <see cref="EvalOptions.Output"/>.</summary>
    public static (EvalRun Run, IReadOnlyList<EvalItem> Items) Run(EvalOptions o, Action<EvalProgress>? progress = null,
        Action<string>? say = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.Validate();
        say ??= _ => { };
        var tasks = new List<(EvalTask Task, IReadOnlyList<EvalRecord> Records)>();
        foreach (string name in o.TaskList())
        {
            var task = EvalTask.Get(name, o.TaskData, RecipeOptions.Name(o.Split));
            tasks.Add((task, Questions.Cut(Questions.Subset(task.ReadTest(), o.Limit, o.Seed), o.MaxInputWords)));
        }
        foreach (string file in o.DataFiles())
        {
            var (task, records) = EvalTask.FromUserFile(file);
            if (tasks.Any(t => t.Task.Name == task.Name)) throw new TailorException($"{file}: a task named '{task.Name}' is already evaluated; rename the file.");
            tasks.Add((task, Questions.Cut(Questions.Subset(records, o.Limit, o.Seed), o.MaxInputWords)));
        }

        var classifications = tasks.Where(t => t.Task.IsClassification).Select(t => t.Task).ToList();
        using var answerer = Answerer.Create(o, say);
        var items = new List<EvalItem>();
        var results = new List<TaskResult>();
        foreach (var (task, records) in tasks)
        {
            cancel.ThrowIfCancellationRequested();
            var questions = Questions.Phrase(o, task, records, answerer.Format, answerer.TaskPrefix);
            say($"{task.Name}: {questions.Count:N0} questions ({records.Count:N0} items{(questions.Count != records.Count ? ", every held-out template" : "")}), {answerer.Format} prompts{(o.Shots > 0 ? $", {o.Shots}-shot" : "")}");
            var clock = Stopwatch.StartNew();
            bool rankAnswers = task.IsClassification && RanksLabels(o.LabelAnswers, answerer);
            IReadOnlyList<(double Best, double BestNorm, string Choice, string Prompt)>? ranks = null;
            if (task.IsClassification && (o.Loglik || rankAnswers) && answerer.CanRank) ranks = answerer.Rank(task, questions, cancel);
            // Rank classification: the answer is the likeliest label, so nothing is generated.
            var answers = rankAnswers
                ? [.. ranks!.Select(r => new Answer(r.Prompt, r.Choice, 0, "rank"))]
                : answerer.Answer(task, questions, done => progress?.Invoke(new EvalProgress(task.Name, done, questions.Count, clock.Elapsed)), cancel);
            if (rankAnswers) progress?.Invoke(new EvalProgress(task.Name, questions.Count, questions.Count, clock.Elapsed));
            var foreignLabels = OffTask.ForeignLabels(task, records, classifications);
            var taskItems = new List<EvalItem>(questions.Count);
            for (int i = 0; i < questions.Count; i++)
            {
                var q = questions[i];
                var a = answers[i];
                var scores = TaskScoring.ItemScores(task, a.Text, q.Record.References);
                if (ranks is not null)
                {
                    scores["loglik_correct"] = ranks[i].Best;
                    scores["loglik_norm_correct"] = ranks[i].BestNorm;
                }
                // A loop cut short is a repetition however few words were kept (a run of dots is one "word").
                string? reason = a.FinishReason == "repetition" ? "repetition" : OffTask.Reason(task, q.Record.Input, a.Text, foreignLabels);
                taskItems.Add(new EvalItem(task.Name, q.Record.Id, q.Template, a.Prompt, a.Text, q.Record.References, reason is not null, reason, a.Tokens, scores,
                    q.Record.Input, a.FinishReason));
            }
            var result = TaskScoring.Summarize(task, taskItems, answerer.Mode ?? (rankAnswers ? "rank" : (answerer.Beams(task) > 1 ? $"beam search ({answerer.Beams(task)} beams)" : "generation") + (ranks is null ? "" : "+loglik")), clock.Elapsed.TotalSeconds);
            results.Add(result);
            items.AddRange(taskItems);
            say($"{task.Name}: " + string.Join(", ", result.Metrics.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:0.####}"))) +
                string.Create(CultureInfo.InvariantCulture, $"; off-task {result.OffTaskRate:P1}; {result.TokensPerItem:0.#} tokens/item; {result.ItemsPerSecond:0.#} items/s"));
        }

        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in RecipeOptions.Values(o))
            if (key != "api_key") config[key] = (value is Enum e ? RecipeOptions.Name(e) : Convert.ToString(value, CultureInfo.InvariantCulture)) ?? "null";   // the key is a secret
        config["format_used"] = answerer.Format;
        if (answerer is EndpointAnswerer endpoints) foreach (var (key, value) in endpoints.Metadata()) config[key] = value;
        var run = new EvalRun(answerer.Name, answerer.Source, answerer.Hash, answerer.Kind, o.Shots, DataHash(items), config, results,
            DateTime.UtcNow, "tailor " + typeof(Evaluate).Assembly.GetName().Version);
        run.Save(o.Output, items);
        return (run, items);
    }

    /// <summary>
    /// Whether label tasks are answered by rank classification: asked (<c>rank</c>, an error where the answerer
    /// cannot rank: an endpoint or a baseline), or on <c>auto</c> for base-format prompts of a model that can.
    /// </summary>
    internal static bool RanksLabels(LabelAnswers mode, Answerer answerer)
    {
        ArgumentNullException.ThrowIfNull(answerer);
        return mode switch
        {
            LabelAnswers.Rank when !answerer.CanRank => throw new TailorException($"label_answers = rank: {answerer.Name} cannot be ranked by log-likelihood (endpoints and baselines give no logits); use generate or auto."),
            LabelAnswers.Rank => true,
            LabelAnswers.Auto => answerer.CanRank && answerer.Format == "base",
            _ => false,
        };
    }

    private static string DataHash(IEnumerable<EvalItem> items) =>
        StableHash.Sha256(items.Select(i => i.Task + "\t" + i.Id + "\t" + i.Template + "\t" + string.Join("\t", i.References) + "\n"))[..16];
}
