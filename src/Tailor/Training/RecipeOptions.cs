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
/// </summary>
public static class RecipeOptions
{
    /// <summary>The option keys of <typeparamref name="T"/> in declaration order (snake_case).</summary>
    public static IReadOnlyList<string> Keys<T>() => [.. Properties<T>().Select(p => SnakeCase(p.Name))];

    /// <summary>Every option of <paramref name="options"/> as (snake_case key, value), in declaration order.</summary>
    public static IEnumerable<(string Key, object? Value)> Values<T>(T options) =>
        Properties<T>().Select(p => (SnakeCase(p.Name), p.GetValue(options)));

    /// <summary>The reason text of each key.</summary>
    public static string Reason<T>(string key) =>
        Properties<T>().First(p => SnakeCase(p.Name) == key).GetCustomAttribute<DescriptionAttribute>()?.Description ?? "";

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
        var props = Properties<T>().ToList();
        int width = props.Max(p => SnakeCase(p.Name).Length + Format(p.GetValue(options)).Length) + 5;
        foreach (var p in props)
        {
            string left = $"{SnakeCase(p.Name)} = {Format(p.GetValue(options))}";
            string reason = p.GetCustomAttribute<DescriptionAttribute>()?.Description ?? "";
            sb.Append("  ").Append(left.PadRight(width)).Append("# ").AppendLine(reason);
        }
        return sb.ToString();
    }

    /// <summary>The options as a JSON object with snake_case keys (saved beside every checkpoint).</summary>
    public static string ToJson<T>(T options)
    {
        var obj = new JsonObject();
        foreach (var p in Properties<T>())
        {
            obj[SnakeCase(p.Name)] = p.GetValue(options) switch
            {
                null => null,
                string s => JsonValue.Create(s),
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

    private static IEnumerable<PropertyInfo> Properties<T>() =>
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetCustomAttribute<DescriptionAttribute>() is not null)
            .OrderBy(p => p.MetadataToken);

    private static void Set<T>(object options, string key, string? value, string where)
    {
        string normalized = key.Trim().TrimStart('-').Replace('-', '_');
        var prop = Properties<T>().FirstOrDefault(p => SnakeCase(p.Name) == normalized)
            ?? throw new TailorException($"{where}: unknown option '{key}'. Known: {string.Join(", ", Keys<T>())}.");
        var type = Nullable.GetUnderlyingType(prop.PropertyType) ?? prop.PropertyType;
        bool nullable = !prop.PropertyType.IsValueType || Nullable.GetUnderlyingType(prop.PropertyType) is not null;
        if (value is null || value == "null")
        {
            if (!nullable) throw new TailorException($"{where}: {normalized} cannot be null.");
            prop.SetValue(options, null);
            return;
        }
        object parsed;
        var inv = CultureInfo.InvariantCulture;
        if (type == typeof(string)) parsed = value;
        else if (type == typeof(int) && int.TryParse(value, NumberStyles.Integer, inv, out int i)) parsed = i;
        else if (type == typeof(long) && long.TryParse(value, NumberStyles.Integer, inv, out long l)) parsed = l;
        else if (type == typeof(double) && double.TryParse(value, NumberStyles.Float, inv, out double d) && double.IsFinite(d)) parsed = d;
        else if (type == typeof(bool) && bool.TryParse(value, out bool b)) parsed = b;
        else throw new TailorException($"{where}: {normalized} = '{value}' is not a valid {TypeName(type)}.");
        prop.SetValue(options, parsed);
    }

    private static string TypeName(Type t) => t == typeof(int) || t == typeof(long) ? "whole number"
        : t == typeof(double) ? "number" : t == typeof(bool) ? "true/false" : t.Name;

    private static string Format(object? value) => value switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
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
