namespace Tailor.Data.Instructions;

/// <summary>
/// The shipped tasks' files: TASK.{train,dev,test}.jsonl in the task data folder, TASK.json templates in the templates
/// folder, and the seeded sample every tuning recipe draws from them.
/// </summary>
public static class TaskFiles
{
    /// <summary>
    /// The task's template set and its "plain" template: the bare first input field (<c>{text}</c>, <c>{source}</c>),
    /// so that the answer field and options checks of the template file still apply; <paramref name="tagged"/> puts
    /// <see cref="TaskTag"/> after it.
    /// </summary>
    public static (TaskTemplateSet Set, TaskTemplate Plain) PlainTemplate(string templates, string task, bool tagged = false)
    {
        ArgumentNullException.ThrowIfNull(templates);
        string path = Path.Combine(templates, task + ".json");
        if (!File.Exists(path))
            throw new TailorException($"{path}: no template file for task '{task}'. Known tasks are the files of {templates}; check --task/--tasks or --templates.");
        var set = TaskTemplates.Load(path);
        return (set, new TaskTemplate("plain", TemplatePool.Train, "{" + set.Inputs[0] + "}" + (tagged ? TaskTag(task) : "")));
    }

    /// <summary>
    /// The task's name as a field after the input ("…\n\n### Task: translation-en-de", then the plain format's
    /// "### Response:"): what tells the tasks of a multi-task fine-tune apart when their inputs look alike (the same
    /// English sentence is an en→de or an en→fr item). T5's task prefixes, and the "dataset name" arm of FLAN's
    /// ablation: a fixed tag, no instruction. After the input rather than before it, so that an input cut from the left
    /// to fit (truncate_prompt_left, evaluation's word cut) keeps it.
    /// </summary>
    public static string TaskTag(string task) => "\n\n### Task: " + task;

    /// <summary>TASK.SPLIT.jsonl in the task data folder (data/tasks), checked to exist unless <paramref name="required"/> is false.</summary>
    public static string Split(string taskData, string task, string split, bool required = true)
    {
        ArgumentNullException.ThrowIfNull(taskData);
        string path = Path.Combine(taskData, $"{task}.{split}.jsonl");
        if (required && !File.Exists(path))
            throw new TailorException($"{path}: not found. Task data lives in {taskData} as TASK.{{train,dev,test}}.jsonl (rebuild with scripts/data/build-all.sh, or point --task-data elsewhere).");
        return path;
    }

    /// <summary>The first <paramref name="count"/> items of a permutation seeded by <paramref name="seed"/> (all items, shuffled, when count ≥ size).</summary>
    public static IReadOnlyList<T> Sample<T>(IReadOnlyList<T> items, int count, long seed)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0 || count <= 0) return [];
        var mixture = new ExamplesProportionalMixture([KeyValuePair.Create("all", items.Count)], items.Count);
        return [.. mixture.Sample(Math.Min(count, items.Count), unchecked((int)seed)).Select(d => items[d.Index])];
    }
}
