using System.Text;
using System.Text.Json;
using Tailor.Text;

namespace Tailor.Data.Instructions;

/// <summary>Which use a template is reserved for.</summary>
public enum TemplatePool
{
    /// <summary>Phrasings used to build training examples.</summary>
    Train,

    /// <summary>Phrasings held out for evaluation (never trained on), to measure generalisation to new wordings.</summary>
    Eval,

    /// <summary>Deliberately uninformative phrasings ("Do something with this text: ...") for the instruction-quality ablation.</summary>
    Vague,
}

/// <summary>One phrasing of a task.</summary>
/// <param name="Id">Unique within its file, e.g. <c>sentiment-04</c>.</param>
/// <param name="Pool">What it is reserved for.</param>
/// <param name="Prompt">The user message with placeholders: the task's input fields (<c>{text}</c>, <c>{source}</c>),
/// <c>{options}</c> (the answer options as "a or b", "a, b or c") and <c>{options_list}</c> (one "- option" per line);
/// <c>{{</c> and <c>}}</c> are literal braces.</param>
public sealed record TaskTemplate(string Id, TemplatePool Pool, string Prompt);

/// <summary>One record of a task file (data/tasks/*.jsonl): its string fields by name.</summary>
/// <param name="Id">The record's <c>id</c> field, or <c>line N</c> when it has none; seeds the template choice.</param>
/// <param name="Fields">The string-valued fields.</param>
/// <param name="Source">The file it came from.</param>
/// <param name="Line">1-based line in <paramref name="Source"/>.</param>
public sealed record TaskRecord(string Id, IReadOnlyDictionary<string, string> Fields, string? Source, int Line);

/// <summary>A task record phrased with one template.</summary>
/// <param name="Template">The template used.</param>
/// <param name="Prompt">The filled-in user message.</param>
/// <param name="Answer">The reference answer (the assistant message).</param>
/// <param name="Source">Where the record came from.</param>
/// <param name="Line">Its line.</param>
public sealed record TemplatedRecord(TaskTemplate Template, string Prompt, string Answer, string? Source, int Line)
{
    /// <summary>The user prompt and the answer as a conversation (what training encodes).</summary>
    public ChatExample ToChatExample() =>
        new([new ChatMessage(ChatRole.User, Prompt), new ChatMessage(ChatRole.Assistant, Answer)], Source, Line);

    /// <summary>The user prompt alone (what a model is asked at evaluation).</summary>
    public IReadOnlyList<ChatMessage> PromptMessages => [new ChatMessage(ChatRole.User, Prompt)];
}

/// <summary>
/// The templates of one task (a file in data/templates/) and how to apply them. FLAN-style: many phrasings of one task,
/// a few held out for evaluation, a seeded choice per record.
/// </summary>
public sealed class TaskTemplateSet
{
    private readonly Dictionary<TemplatePool, TaskTemplate[]> _pools;

    internal TaskTemplateSet(string task, IReadOnlyList<string> inputs, string answer, IReadOnlyList<string> options, IReadOnlyList<TaskTemplate> templates, string source)
    {
        Task = task;
        Inputs = inputs;
        Answer = answer;
        Options = options;
        Templates = templates;
        Source = source;
        _pools = Enum.GetValues<TemplatePool>().ToDictionary(p => p, p => templates.Where(t => t.Pool == p).ToArray());
    }

    /// <summary>Task name, as in data/tasks file names (<c>sentiment</c>, <c>translation-en-de</c>).</summary>
    public string Task { get; }

    /// <summary>The record fields prompts may use.</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>The answer pattern, e.g. <c>{label}</c>; its field never appears in a prompt.</summary>
    public string Answer { get; }

    /// <summary>The closed set of answers (sentiment: positive, negative); empty for generation tasks.</summary>
    public IReadOnlyList<string> Options { get; }

    /// <summary>All templates in file order.</summary>
    public IReadOnlyList<TaskTemplate> Templates { get; }

    /// <summary>The file the set was loaded from.</summary>
    public string Source { get; }

    /// <summary>The templates reserved for <paramref name="pool"/>.</summary>
    public IReadOnlyList<TaskTemplate> Pool(TemplatePool pool) => _pools[pool];

    /// <summary>
    /// The template of <paramref name="pool"/> for a record: a hash of (<paramref name="seed"/>, record id) picks it, so
    /// the choice is the same whatever order or subset the records are read in, and changes with the seed.
    /// </summary>
    /// <exception cref="TailorException">The pool is empty.</exception>
    public TaskTemplate Choose(TaskRecord record, TemplatePool pool, int seed)
    {
        ArgumentNullException.ThrowIfNull(record);
        TaskTemplate[] candidates = _pools[pool];
        if (candidates.Length == 0) throw new TailorException($"{Source}: task {Task} has no {pool.ToString().ToLowerInvariant()} templates.");
        ulong h = StableHash.Mix(StableHash.Of(record.Id) ^ StableHash.Mix((ulong)(uint)seed));
        return candidates[(int)(h % (ulong)candidates.Length)];
    }

    /// <summary>Fills <paramref name="template"/> with <paramref name="record"/>'s fields.</summary>
    /// <exception cref="TailorException">The record lacks a field, or its answer is not one of <see cref="Options"/>.</exception>
    public TemplatedRecord Apply(TaskRecord record, TaskTemplate template)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(template);
        string where = $"{record.Source ?? Task}:{record.Line}";
        string prompt = TaskTemplates.Fill(template.Prompt, name => Value(record, name, where, template.Id));
        string answer = TaskTemplates.Fill(Answer, name => Value(record, name, where, template.Id));
        if (Options.Count > 0 && !Options.Contains(answer, StringComparer.Ordinal))
            throw new TailorException($"{where}: answer '{answer}' is not one of the options of task {Task} ({string.Join(", ", Options)}). Fix the record or the options in {Source}.");
        return new TemplatedRecord(template, prompt, answer, record.Source, record.Line);
    }

    /// <summary>Fills the template <see cref="Choose"/> picks.</summary>
    public TemplatedRecord Apply(TaskRecord record, TemplatePool pool, int seed) => Apply(record, Choose(record, pool, seed));

    /// <summary>A training example for <paramref name="record"/>, phrased with a seeded choice from <paramref name="pool"/>.</summary>
    public ChatExample ToChatExample(TaskRecord record, TemplatePool pool, int seed) => Apply(record, pool, seed).ToChatExample();

    private string Value(TaskRecord record, string name, string where, string templateId)
    {
        if (name == "options") return TaskTemplates.JoinOptions(Options);
        if (name == "options_list") return string.Join("\n", Options.Select(o => "- " + o));
        return record.Fields.TryGetValue(name, out string? value)
            ? value
            : throw new TailorException($"{where}: record has no string field \"{name}\", which template {templateId} of {Source} needs. Check that the records belong to task {Task}.");
    }
}

/// <summary>
/// Loads the FLAN-style task templates of data/templates/ and reads task records of data/tasks/.
/// </summary>
/// <remarks>
/// A template file: <c>{"task", "inputs": [fields], "answer": "{field}", "options": [..], "templates": [{"id", "pool":
/// "train|eval|vague", "prompt"}]}</c>. Loading checks every placeholder against <c>inputs</c> (and <c>options</c>), that
/// no prompt uses the answer's field, and that ids are unique; a problem names the file and the template.
/// </remarks>
public static class TaskTemplates
{
    /// <summary>Loads one template file.</summary>
    /// <exception cref="TailorException">The file is missing, not the expected JSON, or a template is inconsistent.</exception>
    public static TaskTemplateSet Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new TailorException($"{path}: template file not found.");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new TailorException($"{path}: not valid JSON ({e.Message.Split('\n')[0]}).", e);
        }

        using (doc)
        {
            JsonElement root = doc.RootElement;
            string task = ReadString(root, "task", path);
            List<string> inputs = Strings(root, "inputs", path, required: true);
            string answer = ReadString(root, "answer", path);
            List<string> options = Strings(root, "options", path, required: false);
            List<string> answerFields = Placeholders(answer, path, "answer");
            if (answerFields.Count == 0) throw new TailorException($"{path}: \"answer\" has no placeholder; it must name the record field that holds the answer, e.g. \"{{label}}\".");
            HashSet<string> allowed = [.. inputs];
            if (options.Count > 0) allowed.UnionWith(["options", "options_list"]);

            if (!root.TryGetProperty("templates", out JsonElement list) || list.ValueKind != JsonValueKind.Array)
                throw new TailorException($"{path}: \"templates\" must be an array of {{\"id\", \"pool\", \"prompt\"}} objects.");
            List<TaskTemplate> templates = [];
            HashSet<string> ids = new(StringComparer.Ordinal);
            int i = 0;
            foreach (JsonElement item in list.EnumerateArray())
            {
                string at = $"{path}: templates[{i}]";
                if (item.ValueKind != JsonValueKind.Object) throw new TailorException($"{at} is not an object.");
                string id = ReadString(item, "id", at);
                at = $"{path}: template {id}";
                if (!ids.Add(id)) throw new TailorException($"{at}: the id is used twice; ids must be unique.");
                TemplatePool pool = ReadString(item, "pool", at) switch
                {
                    "train" => TemplatePool.Train,
                    "eval" => TemplatePool.Eval,
                    "vague" => TemplatePool.Vague,
                    string other => throw new TailorException($"{at}: pool '{other}' is not one of train, eval, vague."),
                };
                string prompt = ReadString(item, "prompt", at);
                foreach (string name in Placeholders(prompt, at, "prompt"))
                {
                    if (answerFields.Contains(name))
                        throw new TailorException($"{at}: the prompt uses {{{name}}}, the answer's field; a prompt must not contain its answer.");
                    if (!allowed.Contains(name))
                        throw new TailorException($"{at}: unknown placeholder {{{name}}}; use one of {string.Join(", ", allowed.Order(StringComparer.Ordinal).Select(a => "{" + a + "}"))}.");
                }

                templates.Add(new TaskTemplate(id, pool, prompt));
                i++;
            }

            return new TaskTemplateSet(task, inputs, answer, options, templates, path);
        }
    }

    /// <summary>Loads every <c>*.json</c> of a folder, by task name.</summary>
    /// <exception cref="TailorException">The folder is missing, or two files name the same task.</exception>
    public static IReadOnlyDictionary<string, TaskTemplateSet> LoadAll(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder)) throw new TailorException($"{folder}: template folder not found (the repository keeps them in data/templates).");
        Dictionary<string, TaskTemplateSet> sets = new(StringComparer.Ordinal);
        foreach (string file in Directory.GetFiles(folder, "*.json").Order(StringComparer.Ordinal))
        {
            TaskTemplateSet set = Load(file);
            if (!sets.TryAdd(set.Task, set)) throw new TailorException($"{file}: task {set.Task} is also defined in {sets[set.Task].Source}.");
        }

        return sets;
    }

    /// <summary>The task a data/tasks file belongs to: its name up to the first dot
    /// (<c>translation-en-de.freedict.train.jsonl</c> → <c>translation-en-de</c>).</summary>
    public static string TaskOf(string path)
    {
        string name = Path.GetFileName(path);
        int dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? name : name[..dot];
    }

    /// <summary>Reads task records (JSONL, one object per line; blank lines skipped). Non-string fields are left out.</summary>
    /// <exception cref="TailorException">A line is not a JSON object (names file:line).</exception>
    public static IReadOnlyList<TaskRecord> ReadRecords(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new TailorException($"{path}: task file not found.");
        List<TaskRecord> records = [];
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            Dictionary<string, string> fields = new(StringComparer.Ordinal);
            try
            {
                using JsonDocument doc = JsonDocument.Parse(text);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TailorException($"{path}:{line}: expected a JSON object.");
                foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                {
                    if (p.Value.ValueKind == JsonValueKind.String) fields[p.Name] = p.Value.GetString()!;
                }
            }
            catch (JsonException e)
            {
                throw new TailorException($"{path}:{line}: not valid JSON ({e.Message.Split('\n')[0]}).", e);
            }

            records.Add(new TaskRecord(fields.GetValueOrDefault("id") ?? $"line {line}", fields, path, line));
        }

        return records;
    }

    internal static string JoinOptions(IReadOnlyList<string> options) => options.Count switch
    {
        0 => "",
        1 => options[0],
        _ => string.Join(", ", options.Take(options.Count - 1)) + " or " + options[^1],
    };

    // Replaces {name} by value(name); {{ and }} are literal braces.
    internal static string Fill(string pattern, Func<string, string> value)
    {
        StringBuilder text = new(pattern.Length * 2);
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if ((c == '{' || c == '}') && i + 1 < pattern.Length && pattern[i + 1] == c)
            {
                text.Append(c);
                i++;
            }
            else if (c == '{')
            {
                int close = pattern.IndexOf('}', i + 1);
                text.Append(value(pattern[(i + 1)..close]));
                i = close;
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    private static List<string> Placeholders(string pattern, string at, string field)
    {
        List<string> names = [];
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if ((c == '{' || c == '}') && i + 1 < pattern.Length && pattern[i + 1] == c)
            {
                i++;
                continue;
            }

            if (c == '}') throw new TailorException($"{at}: unmatched '}}' in \"{field}\" at character {i}; write }}}} for a literal brace.");
            if (c != '{') continue;
            int close = pattern.IndexOf('}', i + 1);
            string name = close < 0 ? "" : pattern[(i + 1)..close];
            if (close < 0 || name.Length == 0 || !name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_'))
                throw new TailorException($"{at}: bad placeholder in \"{field}\" at character {i}; write {{field}}, or {{{{ for a literal brace.");
            names.Add(name);
            i = close;
        }

        return names;
    }

    private static string ReadString(JsonElement obj, string name, string at)
    {
        if (!obj.TryGetProperty(name, out JsonElement value) || value.ValueKind != JsonValueKind.String || value.GetString()!.Length == 0)
            throw new TailorException($"{at}: field \"{name}\" is missing or not a non-empty string.");
        return value.GetString()!;
    }

    private static List<string> Strings(JsonElement obj, string name, string at, bool required)
    {
        if (!obj.TryGetProperty(name, out JsonElement value))
        {
            if (required) throw new TailorException($"{at}: field \"{name}\" is missing; it lists the record fields prompts may use.");
            return [];
        }

        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
            throw new TailorException($"{at}: field \"{name}\" must be an array of strings.");
        return [.. value.EnumerateArray().Select(v => v.GetString()!)];
    }
}
