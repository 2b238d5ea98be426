using Tailor.Text;
using Tailor.Training;
using Tailor.Data.Instructions;

namespace Tailor.Recipes;

/// <summary>
/// Task fine-tuning without instructions (the seed's "fine-tuned on a smaller, task-specific dataset"): every example is
/// the bare input, a fixed separator and the answer — <c>input + "\n\n### Response:\n" + answer + EOS</c>
/// (<see cref="PromptFormat.Plain"/>) — so the model learns the task from the data alone, never from a phrasing. One
/// model on several tasks gets each input followed by its task's name (<see cref="TaskFiles.TaskTag"/>, T5's task prefix):
/// the same English sentence is an en→de and an en→fr item, and nothing else would say which is asked.
/// Full or LoRA; the loop is <see cref="SupervisedTraining"/>.
/// </summary>
public static class Finetune
{
    /// <summary>Runs the recipe. Cancelling <paramref name="cancel"/> (Ctrl-C) saves a checkpoint and returns.</summary>
    public static TuneResult Run(TuneOptions o, Action<TrainProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Task is null && o.DataFiles().Count == 0)
            throw new TailorException("finetune needs --task TASK (one of data/tasks) or --data FILE,... (your own JSONL).");
        return SupervisedTraining.Run(o, (tokenizer, say) => BuildData(o, tokenizer, say), progress, cancel);
    }

    /// <summary>Reads and encodes the training and dev examples (plain format).</summary>
    public static TuneData BuildData(TuneOptions o, TextTokenizer tokenizer, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(say);
        var encoder = new ExampleEncoder(tokenizer, PromptFormat.Plain, o.Model);
        var policy = o.Truncation;
        List<ChatExample> train = [];
        var dev = new Dictionary<string, IReadOnlyList<ChatExample>>(StringComparer.Ordinal);
        List<string> tasks = [];
        var taskNames = RecipeOptions.List(o.Task);
        if (taskNames.Count == 1)
        {
            string task = taskNames[0];
            var (set, plain) = TaskFiles.PlainTemplate(o.Templates, task);
            var records = TaskTemplates.ReadRecords(TaskFiles.Split(o.TaskData, task, "train"));
            train.AddRange(TaskFiles.Sample(records, Math.Min(o.Examples, records.Count), o.Seed).Select(r => set.Apply(r, plain).ToChatExample()));
            tasks.Add(task);
            say($"task {task}: {train.Count:N0} of {records.Count:N0} training records, plain format (input, \"### Response:\", answer, EOS)");
        }
        else if (taskNames.Count > 1)
        {
            // Several tasks without instructions: the same capped examples-proportional mixture as instruct, each
            // example in the plain format with its task's name after the input (no instruction; evaluation adds the same tag).
            var sets = new Dictionary<string, (TaskTemplateSet Set, TaskTemplate Plain, IReadOnlyList<TaskRecord> Records)>(StringComparer.Ordinal);
            foreach (string task in taskNames)
            {
                var (set, plain) = TaskFiles.PlainTemplate(o.Templates, task, tagged: true);
                sets[task] = (set, plain, TaskTemplates.ReadRecords(TaskFiles.Split(o.TaskData, task, "train")));
                tasks.Add(task);
            }
            var mixture = new ExamplesProportionalMixture([.. sets.Select(kv => KeyValuePair.Create(kv.Key, kv.Value.Records.Count))], o.MixtureCap);
            foreach (var d in mixture.Sample(o.Examples, unchecked((int)o.Seed)))
                train.Add(sets[d.Task].Set.Apply(sets[d.Task].Records[d.Index], sets[d.Task].Plain).ToChatExample());
            say($"tasks {string.Join(", ", taskNames)}: {train.Count:N0} examples (cap {o.MixtureCap:N0}: " +
                string.Join(", ", taskNames.Select(t => $"{t} {mixture.Rates[t]:P1}")) + "), plain format (input, \"### Task: TASK\", \"### Response:\", answer, EOS)");
        }
        foreach (string task in taskNames)
        {
            var (set, plain) = TaskFiles.PlainTemplate(o.Templates, task, tagged: taskNames.Count > 1);
            string devPath = TaskFiles.Split(o.TaskData, task, "dev", required: false);
            if (o.DevExamples > 0 && File.Exists(devPath))
            {
                var devRecords = TaskTemplates.ReadRecords(devPath);
                dev[task] = [.. TaskFiles.Sample(devRecords, Math.Min(o.DevExamples, devRecords.Count), o.Seed).Select(r => set.Apply(r, plain).ToChatExample())];
            }
        }
        foreach (string file in o.DataFiles())
        {
            var read = InstructionReader.Read(file, new InstructionReadOptions(SkipBad: o.SkipBad));
            if (read.Skipped.Total > 0) say(read.Skipped.ToString());
            var examples = TaskFiles.Sample(read.Examples, Math.Min(o.Examples, read.Examples.Count), o.Seed);
            train.AddRange(examples);
            tasks.Add(Path.GetFileNameWithoutExtension(file));
            say($"{file}: {read.Format} format, {examples.Count:N0} of {read.Examples.Count:N0} examples");
        }
        var encoded = encoder.EncodeAll(train, o.Sequence, policy);
        var devEncoded = dev.ToDictionary(kv => kv.Key, kv => encoder.EncodeAll(kv.Value, o.Sequence, policy).Examples, StringComparer.Ordinal);
        return new TuneData("finetune", PromptFormat.Plain, encoded.Examples, devEncoded, encoded.Stats, tasks, TaskPrefix: taskNames.Count > 1);
    }
}
