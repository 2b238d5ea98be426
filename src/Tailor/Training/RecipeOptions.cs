using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Training;

/// <summary>
/// Loads a recipe's typed options: defaults from the record itself, then a recipe file (JSON, or flat YAML
/// <c>key: value</c> lines), then <c>--key value</c> overrides. Keys are the properties' snake_case names; on the
/// command line kebab-case works too. Every property carries a <see cref="DescriptionAttribute"/> with its reason, and
/// <see cref="Describe{T}"/> prints all of them at the start of a run.
/// A property marked <see cref="OptionGroupAttribute"/> holds a shared group (runtime, CPU speed, optimizer, LoRA): its
/// options read as the owner's own, flat, with the group's key prefix; the group's record holds their defaults, reasons
/// and its one validator. Enum options take their members' snake_case names (<c>truncate_prompt_left</c>).
/// </summary>
public static class RecipeOptions
{
    /// <summary>The option keys of <typeparamref name="T"/> in declaration order (snake_case).</summary>
    public static IReadOnlyList<string> Keys<T>() => [.. Slots<T>().Select(s => s.Key)];

    /// <summary>Every option of <paramref name="options"/> as (snake_case key, value), in declaration order.</summary>
    public static IEnumerable<(string Key, object? Value)> Values<T>(T options) =>
        Slots<T>().Select(s => (s.Key, s.Get(options!)));

    /// <summary>The reason text of each key.</summary>
    public static string Reason<T>(string key) => Slots<T>().First(s => s.Key == key).Reason;

    /// <summary>Whether the option <paramref name="key"/> of <typeparamref name="T"/> takes a list (repeatable flag, JSON array).</summary>
    public static bool IsList<T>(string key) => Slots<T>().First(s => s.Key == key).Type == typeof(IReadOnlyList<string>);

    /// <summary>
    /// The value placeholder of the option <paramref name="key"/> in help: null for a true/false switch (a nullable one
    /// stays null until given), the choices
    /// for an enum (<c>auto|fp32|bf16</c>), else <c>VALUE</c>.
    /// </summary>
    public static string? ValueHint<T>(string key)
    {
        var type = Slots<T>().First(s => s.Key == key).Type;
        if (type == typeof(bool) || type == typeof(bool?)) return null;
        var inner = Nullable.GetUnderlyingType(type) ?? type;
        return inner.IsEnum ? string.Join('|', Enum.GetNames(inner).Select(SnakeCase)) : "VALUE";
    }

    /// <summary>The option-file and command-line text of an enum member: its name in snake_case (<c>TruncatePromptLeft</c> → <c>truncate_prompt_left</c>).</summary>
    public static string Name(Enum value) => SnakeCase((value ?? throw new ArgumentNullException(nameof(value))).ToString());

    /// <summary>Defaults, then <paramref name="file"/> (if any), then <paramref name="overrides"/> (key → value text).</summary>
    public static T Load<T>(string? file, IEnumerable<KeyValuePair<string, string>> overrides) where T : new() =>
        Load(file, overrides, new T());

    /// <summary>
    /// As <see cref="Load{T}(string?, IEnumerable{KeyValuePair{string, string}})"/>, starting from
    /// <paramref name="initial"/> (a recipe's own defaults) instead of the type's; <paramref name="initial"/> is changed in place.
    /// </summary>
    public static T Load<T>(string? file, IEnumerable<KeyValuePair<string, string>> overrides, T initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        object options = initial;
        if (file is not null)
        {
            if (!File.Exists(file)) throw new TailorException($"{file}: recipe file not found.");
            string text = File.ReadAllText(file);
            var pairs = file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? ParseJson(text, file) : ParseYaml(text, file);
            foreach (var (key, value, line) in pairs) Set<T>(options, key, value, line > 0 ? $"{file}:{line}" : file);
        }
        foreach (var (key, value) in overrides) Set<T>(options, key, value, "--" + key.Replace('_', '-'));
        return (T)options;
    }

    /// <summary>Every option as <c>key = value  # reason</c>, one per line.</summary>
    public static string Describe<T>(T options)
    {
        var sb = new StringBuilder();
        var slots = Slots<T>();
        int width = slots.Max(s => s.Key.Length + Format(s.Get(options!)).Length) + 5;
        foreach (var s in slots)
        {
            string left = $"{s.Key} = {Format(s.Get(options!))}";
            sb.Append("  ").Append(left.PadRight(width)).Append("# ").AppendLine(s.Reason);
        }
        return sb.ToString();
    }

    /// <summary>The options as a JSON object with snake_case keys (saved beside every checkpoint).</summary>
    public static string ToJson<T>(T options)
    {
        var obj = new JsonObject();
        foreach (var slot in Slots<T>())
        {
            obj[slot.Key] = slot.Get(options!) switch
            {
                null => null,
                string s => JsonValue.Create(s),
                Enum e => JsonValue.Create(SnakeCase(e.ToString())),
                TimeSpan t => JsonValue.Create(t.TotalSeconds),
                IReadOnlyList<string> list => new JsonArray([.. list.Select(x => JsonValue.Create(x))]),
                bool b => JsonValue.Create(b),
                int i => JsonValue.Create(i),
                long l => JsonValue.Create(l),
                double d => JsonValue.Create(d),
                var other => JsonValue.Create(other.ToString()),
            };
        }
        return obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The items of a comma-separated option value (<c>"a, b,,c"</c> → a, b, c); none for null.</summary>
    public static IReadOnlyList<string> List(string? value) =>
        value is null ? [] : [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>PascalCase → snake_case (LearningRate → learning_rate).</summary>
    public static string SnakeCase(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c) && i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]))) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>One option: its key, and the property that holds it (inside a group when <see cref="Group"/> is set).</summary>
    private sealed record Slot(string Key, PropertyInfo Property, PropertyInfo? Group)
    {
        public Type Type => Property.PropertyType;

        public string Reason => Property.GetCustomAttribute<DescriptionAttribute>()?.Description ?? "";

        public object? Get(object owner) => Property.GetValue(Group is null ? owner : Group.GetValue(owner));

        /// <summary>
        /// Sets the option. A group is copied before it is changed and the copy put back, so a record made with
        /// <c>with</c> (which shares its groups with the original) never changes the original's options.
        /// </summary>
        public void Set(object owner, object? value)
        {
            if (Group is null)
            {
                Property.SetValue(owner, value);
                return;
            }
            object group = Group.GetValue(owner) ?? throw new InvalidOperationException($"option group {Group.Name} is null");
            object copy = MemberwiseCloneMethod.Invoke(group, null)!;
            Property.SetValue(copy, value);
            Group.SetValue(owner, copy);
        }
    }

    private static readonly MethodInfo MemberwiseCloneMethod =
        typeof(object).GetMethod("MemberwiseClone", BindingFlags.NonPublic | BindingFlags.Instance)!;

    private static IEnumerable<PropertyInfo> Described(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && (p.GetCustomAttribute<DescriptionAttribute>() is not null || p.GetCustomAttribute<OptionGroupAttribute>() is not null))
            .OrderBy(p => p.MetadataToken);

    /// <summary>The options of <typeparamref name="T"/> in declaration order, each group's in its place.</summary>
    private static List<Slot> Slots<T>()
    {
        var slots = new List<Slot>();
        foreach (var p in Described(typeof(T)))
        {
            if (p.GetCustomAttribute<OptionGroupAttribute>() is { } group)
                slots.AddRange(Described(p.PropertyType).Select(q => new Slot(group.Prefix + SnakeCase(q.Name), q, p)));
            else slots.Add(new Slot(SnakeCase(p.Name), p, null));
        }
        return slots;
    }

    private static void Set<T>(object options, string key, string? value, string where)
    {
        string normalized = key.Trim().TrimStart('-').Replace('-', '_');
        var slot = Slots<T>().FirstOrDefault(s => s.Key == normalized)
            ?? throw new TailorException($"{where}: unknown option '{key}'. Known: {string.Join(", ", Keys<T>())}.");
        var type = Nullable.GetUnderlyingType(slot.Type) ?? slot.Type;
        bool nullable = !slot.Type.IsValueType || Nullable.GetUnderlyingType(slot.Type) is not null;
        if (value is null || value == "null")
        {
            if (!nullable || type == typeof(IReadOnlyList<string>)) throw new TailorException($"{where}: {normalized} cannot be null.");
            slot.Set(options, null);
            return;
        }
        object parsed;
        var inv = CultureInfo.InvariantCulture;
        if (type == typeof(string)) parsed = value;
        else if (type == typeof(int) && int.TryParse(value, NumberStyles.Integer, inv, out int i)) parsed = i;
        else if (type == typeof(long) && long.TryParse(value, NumberStyles.Integer, inv, out long l)) parsed = l;
        else if (type == typeof(ulong) && ulong.TryParse(value, NumberStyles.Integer, inv, out ulong u)) parsed = u;
        else if (type == typeof(double) && double.TryParse(value, NumberStyles.Float, inv, out double d) && double.IsFinite(d)) parsed = d;
        else if (type == typeof(bool) && bool.TryParse(value, out bool b)) parsed = b;
        else if (type == typeof(TimeSpan) && double.TryParse(value, NumberStyles.Float, inv, out double seconds) && double.IsFinite(seconds)
                 && Math.Abs(seconds) < TimeSpan.MaxValue.TotalSeconds) parsed = TimeSpan.FromSeconds(seconds);
        else if (type.IsEnum)
        {
            var names = Enum.GetNames(type);
            string? match = names.FirstOrDefault(n => SnakeCase(n) == value.Trim());
            if (match is null)
                throw new TailorException(Bad(where, normalized, value, $"use {string.Join(", ", names.Select(SnakeCase).Take(names.Length - 1))} or {SnakeCase(names[^1])}."));
            parsed = Enum.Parse(type, match);
        }
        else if (type == typeof(IReadOnlyList<string>)) parsed = ParseList(value);
        else throw new TailorException(Bad(where, normalized, value, $"not a valid {TypeName(type)}."));
        slot.Set(options, parsed);
    }

    /// <summary>A bad value's message: <c>--key value: what</c> for a flag, <c>file:line: key = 'value': what</c> in a file.</summary>
    private static string Bad(string where, string key, string value, string what) =>
        where.StartsWith("--", StringComparison.Ordinal) ? $"{where} {value}: {what}" : $"{where}: {key} = '{value}': {what}";

    /// <summary>A list option's text: a JSON array of strings (from a file, or a flag given several times), else one item.</summary>
    private static IReadOnlyList<string> ParseList(string value)
    {
        if (!value.StartsWith('[')) return [value];
        try { return JsonSerializer.Deserialize<string[]>(value) ?? []; }
        catch (JsonException) { return [value]; }
    }

    private static string TypeName(Type t) => t == typeof(int) || t == typeof(long) || t == typeof(ulong) ? "whole number"
        : t == typeof(double) ? "number" : t == typeof(TimeSpan) ? "number of seconds" : t == typeof(bool) ? "true/false" : t.Name;

    /// <summary>An option's value as option files and the command line write it (<c>null</c>, <c>true</c>, <c>truncate_prompt_left</c>, <c>0.001</c>).</summary>
    public static string Text(object? value) => Format(value);

    private static string Format(object? value) => value switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
        Enum e => SnakeCase(e.ToString()),
        TimeSpan t => t.TotalSeconds.ToString("G", CultureInfo.InvariantCulture),
        IReadOnlyList<string> list => JsonSerializer.Serialize(list),
        double d => d.ToString("G", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static IEnumerable<(string Key, string? Value, int Line)> ParseJson(string text, string file)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(text); }
        catch (JsonException e) { throw new TailorException($"{file}:{e.LineNumber + 1}: not valid JSON: {e.Message.Split('\n')[0]}"); }
        if (root is not JsonObject obj) throw new TailorException($"{file}: a recipe file must be a JSON object of option: value.");
        foreach (var (key, node) in obj)
        {
            string? value = node switch
            {
                null => null,
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonValue v => v.ToJsonString(),
                JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue<string>(out _)) => a.ToJsonString(),
                _ => throw new TailorException($"{file}: option '{key}' must be a single value, not {node.GetValueKind()}."),
            };
            yield return (key, value, 0);
        }
    }

    private static IEnumerable<(string Key, string? Value, int Line)> ParseYaml(string text, string file)
    {
        int n = 0;
        foreach (string raw in text.Split('\n'))
        {
            n++;
            string line = raw;
            int hash = line.IndexOf(" #", StringComparison.Ordinal);
            if (hash >= 0) line = line[..hash];
            line = line.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line == "---") continue;
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) throw new TailorException($"{file}:{n}: expected 'key: value' (flat YAML), got '{line}'.");
            string key = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' && value[^1] == '"' || value[0] == '\'' && value[^1] == '\'')) value = value[1..^1];
            yield return (key, value is "" or "~" or "null" ? null : value, n);
        }
    }
}

/// <summary>
/// Marks an options record's property that holds a shared group of options (<c>RuntimeOptions</c>,
/// <c>OptimizerOptions</c>, <c>LoraOptions</c>): the group's options are read, printed and saved as the owner's own
/// keys, each after <see cref="Prefix"/>.
/// </summary>
/// <param name="prefix">Put before each of the group's keys (<c>lora_</c> makes <c>Rank</c> the key <c>lora_rank</c>).</param>
[AttributeUsage(AttributeTargets.Property)]
public sealed class OptionGroupAttribute(string prefix = "") : Attribute
{
    /// <summary>Put before each of the group's keys.</summary>
    public string Prefix { get; } = prefix;
}
