using System.Globalization;
using Tailor.Text;
using Tailor.Training;
using Tailor.Data.Instructions;

namespace Tailor.Recipes;

/// <summary>
/// Instruction tuning (FLAN-style): a mixture of tasks, examples-proportional with a cap, each example phrased with an
/// instruction template drawn from the task's train pool (or its vague pool, for the ablation) and laid out as a ChatML
/// conversation (user: the instruction, assistant: the answer). The ChatML template is written into the tokenizer, so
/// the model folder prompts the same way everywhere. Full or LoRA; the loop is <see cref="SupervisedTraining"/>. A base
/// whose tokenizer lacks &lt;|im_start|&gt;/&lt;|im_end|&gt; (GPT-2) gets them first, its embeddings grown to match
/// (<see cref="ChatVocabulary"/>, TRL's setup_chat_format).
/// </summary>
public static class Instruct
{
    /// <summary>Runs the recipe. Cancelling <paramref name="cancel"/> (Ctrl-C) saves a checkpoint and returns.</summary>
    public static TuneResult Run(TuneOptions o, Action<TrainProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.TaskList().Count == 0 && o.DataFiles().Count == 0)
            throw new TailorException("instruct needs --tasks TASK,... and/or --data FILE,...: the mixture is empty.");
        return SupervisedTraining.Run(o, (tokenizer, say) => BuildData(o, tokenizer, say), progress, cancel, chatTokens: true);
    }

    /// <summary>Draws, phrases and encodes the mixture and the per-task dev examples (ChatML).</summary>
    public static TuneData BuildData(TuneOptions o, TextTokenizer tokenizer, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(say);
        if (tokenizer.ChatTemplate is null) ChatTemplate.Install(tokenizer);   // base models ship without one
        var encoder = new ExampleEncoder(tokenizer, PromptFormat.ChatMl, o.Model);
        var pool = o.Pool;
        var policy = o.Truncation;

        // Components: the tasks (records + templates) and the user's files (examples as they are).
        var sets = new Dictionary<string, TaskTemplateSet>(StringComparer.Ordinal);
        var records = new Dictionary<string, IReadOnlyList<TaskRecord>>(StringComparer.Ordinal);
        var userData = new Dictionary<string, IReadOnlyList<ChatExample>>(StringComparer.Ordinal);
        var sizes = new List<KeyValuePair<string, int>>();
        foreach (string task in o.TaskList())
        {
            var (set, _) = TaskFiles.PlainTemplate(o.Templates, task);
            if (set.Pool(pool).Count == 0) throw new TailorException($"{set.Source}: task {task} has no {o.Pool} templates.");
            sets[task] = set;
            records[task] = TaskTemplates.ReadRecords(TaskFiles.Split(o.TaskData, task, "train"));
            sizes.Add(KeyValuePair.Create(task, records[task].Count));
        }
        foreach (string file in o.DataFiles())
        {
            var read = InstructionReader.Read(file, new InstructionReadOptions(SkipBad: o.SkipBad));
            if (read.Skipped.Total > 0) say(read.Skipped.ToString());
            string name = Path.GetFileNameWithoutExtension(file);
            if (sets.ContainsKey(name) || userData.ContainsKey(name))
                throw new TailorException($"{file}: a mixture component named '{name}' already exists; rename the file.");
            userData[name] = read.Examples;
            sizes.Add(KeyValuePair.Create(name, read.Examples.Count));
            say($"{file}: {read.Format} format, {read.Examples.Count:N0} examples");
        }
        if (sizes.Any(s => s.Value == 0))
            throw new TailorException($"mixture component '{sizes.First(s => s.Value == 0).Key}' has no examples.");

        var mixture = new ExamplesProportionalMixture(sizes, o.MixtureCap);
        say($"mixture of {o.Examples:N0} examples, cap {o.MixtureCap:N0}, {o.Pool} templates: " + string.Join(", ",
            sizes.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key} {s.Value:N0} → {mixture.Rates[s.Key]:P1}"))));
        var draws = mixture.Sample(o.Examples, unchecked((int)o.Seed));
        var train = new List<ChatExample>(draws.Count);
        for (int i = 0; i < draws.Count; i++)
        {
            var d = draws[i];
            // The template is a hash of (seed + draw number, record id): a record drawn twice gets two phrasings.
            train.Add(sets.TryGetValue(d.Task, out var set)
                ? set.ToChatExample(records[d.Task][d.Index], pool, unchecked((int)o.Seed + i))
                : userData[d.Task][d.Index]);
        }

        var dev = new Dictionary<string, IReadOnlyList<EncodedExample>>(StringComparer.Ordinal);
        if (o.DevExamples > 0)
        {
            foreach (var (task, set) in sets)
            {
                string devPath = TaskFiles.Split(o.TaskData, task, "dev", required: false);
                if (!File.Exists(devPath)) continue;
                var devRecords = TaskFiles.Sample(TaskTemplates.ReadRecords(devPath), o.DevExamples, o.Seed);
                dev[task] = encoder.EncodeAll([.. devRecords.Select(r => set.ToChatExample(r, pool, unchecked((int)o.Seed)))], o.Sequence, policy).Examples;
            }
        }
        var encoded = encoder.EncodeAll(train, o.Sequence, policy);
        return new TuneData("instruct", PromptFormat.ChatMl, encoded.Examples, dev, encoded.Stats, [.. sizes.Select(s => s.Key)]);
    }
}
