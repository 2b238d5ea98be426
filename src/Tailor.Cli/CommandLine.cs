using System.Globalization;
using System.Text;

namespace Tailor.Cli;

/// <summary>A user mistake on the command line; printed with a pointer to --help, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>One option a command accepts.</summary>
/// <param name="Name">The flag, with its dashes (<c>--max-new-tokens</c>).</param>
/// <param name="Value">Placeholder for its value (<c>N</c>), or null for a switch that takes none.</param>
/// <param name="Help">One line of help; say the default.</param>
/// <param name="Repeatable">Whether it may be given more than once (<c>--ref A --ref B</c>).</param>
public sealed record OptionSpec(string Name, string? Value, string Help, bool Repeatable = false);

/// <summary>
/// A strict command-line parser: <c>--key value</c> or <c>--key=value</c>, switches without values, positional
/// arguments where the command declares them. Unknown flags, missing values and values of the wrong type are
/// errors that name the flag, never silently ignored.
/// </summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly List<string> _positionals = [];
    private readonly string _command;

    private CommandLine(string command) => _command = command;

    /// <summary>Options every model-running command shares.</summary>
    public static readonly OptionSpec[] RuntimeOptions =
    [
        new("--device", "cpu|cuda", "where to run (default cpu; cuda needs TorchSharp's CUDA package)"),
        new("--threads", "N", "intra-op threads (default: the number of cores; at most 4 per core)"),
    ];

    /// <summary>Positional arguments, in order.</summary>
    public IReadOnlyList<string> Positionals => _positionals;

    /// <summary>Whether --help or -h was given.</summary>
    public bool HelpRequested { get; private set; }

    /// <summary>Whether --verbose was given (stack traces on errors).</summary>
    public bool Verbose => Has("--verbose");

    /// <summary>Parses <paramref name="args"/> against <paramref name="specs"/>; <paramref name="maxPositionals"/> bounds the bare arguments.</summary>
    public static CommandLine Parse(string command, string[] args, IReadOnlyList<OptionSpec> specs, int maxPositionals = 0)
    {
        var byName = specs.ToDictionary(s => s.Name, StringComparer.Ordinal);
        byName.TryAdd("--verbose", new OptionSpec("--verbose", null, "print stack traces on errors"));
        var cl = new CommandLine(command);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h")
            {
                cl.HelpRequested = true;
                continue;
            }
            if (a == "--")
            {
                cl._positionals.AddRange(args[(i + 1)..]);
                break;
            }
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
            {
                cl._positionals.Add(a);
                continue;
            }
            string name = a;
            string? value = null;
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                name = a[..eq];
                value = a[(eq + 1)..];
            }
            if (!byName.TryGetValue(name, out var spec))
            {
                string? close = byName.Keys.OrderBy(k => Distance(k, name)).FirstOrDefault(k => Distance(k, name) <= 3);
                string hint = close is null ? "" : $" Did you mean {close}?";
                throw new UsageException($"unknown option {name} for 'tailor {command}'.{hint}");
            }
            if (spec.Value is null)
            {
                if (value is not null && value is not ("true" or "false"))
                    throw new UsageException($"{name} is a switch and takes no value (got '{value}').");
                // A switch may also be written --switch true / --switch false, as option files write it.
                if (value is null && i + 1 < args.Length && args[i + 1] is "true" or "false") value = args[++i];
                value ??= "true";
            }
            else if (value is null)
            {
                if (i + 1 >= args.Length)
                    throw new UsageException($"{name} needs a value: {name} {spec.Value}.");
                value = args[++i];
            }
            // A pretrained encoder's name (all-MiniLM-L6-v2, ...) stands for its converted folder wherever a model is
            // asked for, as a hub id would; the folder is made on first use.
            if (name is "--model" or "--base" && Tailor.Model.PretrainedEncoders.Find(value) is not null)
                value = Tailor.Model.PretrainedEncoders.Resolve(value, m => Console.Error.WriteLine($"tailor: {m}"));
            if (!cl._values.TryGetValue(name, out var list)) cl._values[name] = list = [];
            if (list.Count > 0 && !spec.Repeatable) throw new UsageException($"{name} was given twice; give it once.");
            list.Add(value);
        }
        if (!cl.HelpRequested && cl._positionals.Count > maxPositionals)
        {
            string extra = cl._positionals[maxPositionals];
            throw new UsageException(maxPositionals == 0
                ? $"'tailor {command}' takes no bare arguments (got '{extra}'); options start with --."
                : $"too many arguments for 'tailor {command}' (unexpected '{extra}').");
        }
        return cl;
    }

    /// <summary>Whether the option was given.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>A switch: true when given (or given =true).</summary>
    public bool Flag(string name) => _values.TryGetValue(name, out var v) && v[^1] == "true";

    /// <summary>A string option, or <paramref name="fallback"/>.</summary>
    public string? String(string name, string? fallback = null) => _values.TryGetValue(name, out var v) ? v[^1] : fallback;

    /// <summary>A string option that must be present.</summary>
    public string Required(string name) =>
        String(name) ?? throw new UsageException($"'tailor {_command}' needs {name}.");

    /// <summary>Every value of a repeatable option.</summary>
    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var v) ? v : [];

    /// <summary>One of a fixed set of strings.</summary>
    public string Choice(string name, string fallback, params string[] choices)
    {
        string value = String(name, fallback)!;
        if (!choices.Contains(value, StringComparer.Ordinal))
            throw new UsageException($"{name} {value}: expected one of {string.Join(", ", choices)}.");
        return value;
    }

    /// <summary>An integer option within [min, max].</summary>
    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        IntOrNull(name, min, max) ?? fallback;

    /// <summary>An integer option within [min, max], or null when absent.</summary>
    public int? IntOrNull(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        string? s = String(name);
        if (s is null) return null;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
            throw new UsageException($"{name} {s}: expected a whole number.");
        if (v < min || v > max)
            throw new UsageException(max == int.MaxValue ? $"{name} {v}: must be at least {min}." : $"{name} {v}: must be between {min} and {max}.");
        return v;
    }

    /// <summary>A number option within [min, max].</summary>
    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        string? s = String(name);
        if (s is null) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new UsageException($"{name} {s}: expected a number.");
        if (v < min || v > max)
        {
            string low = min == double.Epsilon ? "greater than 0" : min == double.MinValue ? "" : $"at least {min}";
            string high = max == double.MaxValue ? "" : $"at most {max}";
            throw new UsageException($"{name} {v}: must be {string.Join(" and ", new[] { low, high }.Where(x => x.Length > 0))}.");
        }
        return v;
    }

    /// <summary>Formats a command's help: usage line, description, options with their help.</summary>
    public static string Help(string usage, string description, IReadOnlyList<OptionSpec> specs)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"usage: {usage}").AppendLine().AppendLine(description).AppendLine().AppendLine("options:");
        var rows = specs.Append(new OptionSpec("--verbose", null, "print stack traces on errors"))
            .Append(new OptionSpec("--help", null, "show this help"))
            .Select(s => (Left: s.Value is null ? s.Name : $"{s.Name} {s.Value}", s.Help)).ToList();
        int width = rows.Max(r => r.Left.Length) + 2;
        foreach (var (left, help) in rows) sb.Append("  ").Append(left.PadRight(width)).AppendLine(help);
        return sb.ToString();
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
