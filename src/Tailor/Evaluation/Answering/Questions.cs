using Tailor.Data.Instructions;
using Tailor.Text;

namespace Tailor.Evaluation.Answering;

/// <summary>One question: a test record asked one way.</summary>
/// <param name="Record">The test record.</param>
/// <param name="Template">Template id, or "plain".</param>
/// <param name="Render">Renders the prompt for an input and a number of shots (prompts that do not fit re-render shorter).</param>
public sealed record Question(EvalRecord Record, string Template, Func<string, int, Prompt> Render)
{
    /// <summary>Solved examples the prompt starts with, at most.</summary>
    public int Shots { get; init; }
}

/// <summary>A rendered prompt: chat messages (chat format) or text (base and plain formats).</summary>
public sealed record Prompt(IReadOnlyList<ChatMessage>? Messages, string? Text);

/// <summary>What a model answered; <paramref name="FinishReason"/> is stop, length or repetition where the model generated it.</summary>
public sealed record Answer(string Prompt, string Text, int Tokens, string? FinishReason = null);

/// <summary>
/// How test records become questions: a seeded subset, inputs cut to a word budget, and each record phrased for a prompt
/// format (base text with k solved examples, the plain fine-tuning layout, ChatML with an instruction template, or the
/// bare input for baselines).
/// </summary>
public static class Questions
{
    /// <summary>A seeded subset of <paramref name="limit"/> records (all when 0 or more than there are), in file order.</summary>
    public static IReadOnlyList<EvalRecord> Subset(IReadOnlyList<EvalRecord> records, int limit, long seed)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (limit <= 0 || limit >= records.Count) return records;
        var keep = records.Select((r, i) => (Key: StableHash.Mix(StableHash.Of(r.Id) ^ (ulong)seed), Index: i))
            .OrderBy(x => x.Key).Take(limit).Select(x => x.Index).Order().ToList();
        return [.. keep.Select(i => records[i])];
    }

    /// <summary>
    /// The <paramref name="k"/> solved examples one item is asked with, drawn from <paramref name="train"/> with
    /// <paramref name="seed"/>. For a classification task (two or more options) the labels take turns, starting from a
    /// seeded one, so k shots hold every label ⌊k/L⌋ or ⌈k/L⌉ times: a random draw can show a small model four
    /// "negative" examples and so measure the copying of the majority label rather than the task. The chosen examples
    /// are then put in a seeded order, so the label of the last one (the one a model copies most) varies per item.
    /// Other tasks take a seeded subset.
    /// </summary>
    public static IReadOnlyList<EvalRecord> ShotsFor(IReadOnlyList<EvalRecord> train, IReadOnlyList<string> options, int k, long seed)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        if (k <= 0 || train.Count == 0) return [];
        var byLabel = options.Select(label => Subset([.. train.Where(r => r.References.Count > 0 && r.References[0] == label)], k, seed ^ (long)StableHash.Of(label)))
            .Where(pool => pool.Count > 0).ToList();
        if (options.Count < 2 || byLabel.Count < 2) return Subset(train, k, seed);
        // Each label's examples in a seeded order, then round-robin over the labels from a seeded first one.
        var queues = byLabel.Select(pool => new Queue<EvalRecord>(pool.OrderBy(r => StableHash.Mix(StableHash.Of(r.Id) ^ (ulong)seed)))).ToList();
        int first = (int)(StableHash.Mix((ulong)seed) % (ulong)queues.Count);
        var chosen = new List<EvalRecord>(k);
        for (int j = 0; chosen.Count < k && queues.Any(q => q.Count > 0); j++)
        {
            var q = queues[(first + j) % queues.Count];
            if (q.Count > 0) chosen.Add(q.Dequeue());
        }
        return [.. chosen.OrderBy(r => StableHash.Mix(StableHash.Of(r.Id) ^ (ulong)seed ^ 0x5eed))];
    }

    /// <summary>Every record with its input cut to <paramref name="words"/> words (all records unchanged when 0).</summary>
    public static IReadOnlyList<EvalRecord> Cut(IReadOnlyList<EvalRecord> records, int words) =>
        words <= 0 ? records : [.. records.Select(r => r with { Input = Clip(r.Input, words) })];

    /// <summary>Phrases every record of a task for the given prompt format (base, plain, chatml, baseline).</summary>
    public static IReadOnlyList<Question> Phrase(EvalOptions o, EvalTask task, IReadOnlyList<EvalRecord> records, string format, bool taskPrefix = false)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(records);
        IReadOnlyList<EvalRecord> train = o.Shots > 0 && task.TrainFile is not null && format is "base" or "chatml" ? task.Read(task.TrainFile!) : [];
        IReadOnlyList<EvalRecord> Shots(EvalRecord r) => train.Count == 0 ? [] :
            [.. ShotsFor(train, task.Options, o.Shots, o.Seed ^ (long)StableHash.Of(r.Id)).Select(s => s with { Input = Clip(s.Input, 48) })];

        var questions = new List<Question>();
        switch (format)
        {
            case "baseline":
                questions.AddRange(records.Select(r => new Question(r, "plain", (input, _) => new Prompt(null, input))));
                break;
            case "plain":
                // A multi-task fine-tune reads each input with its task's name, as it was trained (TaskFiles.TaskTag).
                string tag = taskPrefix ? TaskFiles.TaskTag(task.TemplateTask) : "";
                questions.AddRange(records.Select(r => new Question(r, "plain", (input, _) => new Prompt(null, input + tag))));
                break;
            case "base":
                foreach (var r in records)
                {
                    var shots = Shots(r);
                    string Prefix(int k) => string.Concat(shots.Take(k).Select(s => task.BasePrompt.Replace("{input}", s.Input, StringComparison.Ordinal) + " " + s.References[0] + "\n\n"));
                    questions.Add(new Question(r, "plain", (input, k) => new Prompt(null, Prefix(k) + task.BasePrompt.Replace("{input}", input, StringComparison.Ordinal))) { Shots = shots.Count });
                }
                break;
            case "chatml":
            {
                TaskTemplateSet? set = null;
                IReadOnlyList<TaskTemplate> pool = [];
                if (File.Exists(Path.Combine(o.Templates, task.TemplateTask + ".json")))
                {
                    set = TaskTemplates.Load(Path.Combine(o.Templates, task.TemplateTask + ".json"));
                    pool = set.Pool(o.Pool);
                }
                for (int i = 0; i < records.Count; i++)
                {
                    var r = records[i];
                    var shots = Shots(r);
                    if (set is null || pool.Count == 0)
                    {
                        // A user task: its own instruction (or none) before the input.
                        string Ask(string input) => r.Instruction is null ? input : r.Instruction + "\n\n" + input;
                        questions.Add(new Question(r, "user", (input, k) => new Prompt(
                            [.. shots.Take(k).SelectMany(s => new[] { new ChatMessage(ChatRole.User, Ask(s.Input)), new ChatMessage(ChatRole.Assistant, s.References[0]) }),
                             new ChatMessage(ChatRole.User, Ask(input))], null)) { Shots = shots.Count });
                        continue;
                    }
                    var chosen = o.TemplateMode == TemplateMode.All ? pool : [pool[(int)((StableHash.Of(r.Id) ^ (ulong)o.Seed) % (ulong)pool.Count)]];
                    foreach (var template in chosen)
                    {
                        ChatMessage[] ShotTurns(int k) => [.. shots.Take(k).SelectMany(s => new[]
                        {
                            new ChatMessage(ChatRole.User, set.Apply(ToTaskRecord(task, s), template).Prompt),
                            new ChatMessage(ChatRole.Assistant, s.References[0]),
                        })];
                        questions.Add(new Question(r, template.Id, (input, k) => new Prompt(
                            [.. ShotTurns(k), new ChatMessage(ChatRole.User, set.Apply(ToTaskRecord(task, r with { Input = input }), template).Prompt)], null)) { Shots = shots.Count });
                    }
                }
                break;
            }
            default:
                throw new TailorException($"unknown prompt format '{format}'.");
        }
        return questions;
    }

    private static TaskRecord ToTaskRecord(EvalTask task, EvalRecord r)
    {
        var fields = new Dictionary<string, string>(r.Fields ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [task.InputField] = r.Input,
            [task.AnswerField] = r.References[0],
        };
        return new TaskRecord(r.Id, fields, null, 0);
    }

    /// <summary>The first <paramref name="words"/> words of a text (all of it when shorter).</summary>
    public static string Clip(string text, int words)
    {
        ArgumentNullException.ThrowIfNull(text);
        var w = text.Split(' ');
        return w.Length <= words ? text : string.Join(' ', w.Take(words)) + " …";
    }
}
