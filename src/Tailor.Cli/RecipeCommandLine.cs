using System.Text.Json;
using Tailor.Training;


namespace Tailor.Cli;

/// <summary>
/// The command-line face of a typed options record (<see cref="RecipeOptions"/>): <c>--config FILE</c> plus one
/// <c>--key-name VALUE</c> per option, with the option's reason as its help, and loading in the order defaults →
/// file → flags. A true/false option is a switch (<c>--json</c>, or <c>--json false</c>); a list option is repeatable
/// (<c>--stop A --stop B</c>). Every command's options go through here.
/// </summary>
public static class RecipeCommandLine
{
    /// <summary>The option specs of <typeparamref name="T"/>, each help line ending in its default (<paramref name="defaults"/>'s, else the type's).</summary>
    public static OptionSpec[] Specs<T>(T? defaults = null) where T : class, new()
    {
        var values = RecipeOptions.Values(defaults ?? new T()).ToDictionary(kv => kv.Key, kv => kv.Value);
        return
        [
            new("--config", "FILE", "options file (JSON or flat YAML) listing only what differs from the defaults"),
            .. RecipeOptions.Keys<T>().Select(k => new OptionSpec(Flag(k), RecipeOptions.ValueHint<T>(k),
                $"{RecipeOptions.Reason<T>(k)} (default {RecipeOptions.Text(values[k])})", RecipeOptions.IsList<T>(k))),
        ];
    }

    /// <summary>Defaults (<paramref name="initial"/>), then the <c>--config</c> file, then the flags given.</summary>
    public static T Load<T>(CommandLine cl, T initial)
    {
        ArgumentNullException.ThrowIfNull(cl);
        var overrides = RecipeOptions.Keys<T>().Where(k => cl.Has(Flag(k))).Select(k => KeyValuePair.Create(k,
            RecipeOptions.IsList<T>(k) ? JsonSerializer.Serialize(cl.All(Flag(k))) : cl.String(Flag(k))!));
        try
        {
            return RecipeOptions.Load(cl.String("--config"), overrides, initial);
        }
        catch (TailorException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>
    /// Runs an options record's validator: a bad value is a usage error (exit 2) that names the flag
    /// (<c>port = 70000: ...</c> reads <c>--port 70000: ...</c>), before any model or data is loaded.
    /// </summary>
    public static void Validate<T>(Action validate)
    {
        ArgumentNullException.ThrowIfNull(validate);
        try
        {
            validate();
        }
        catch (TailorException e)
        {
            string message = e.Message;
            string? key = RecipeOptions.Keys<T>().Where(k => message.StartsWith(k + " = ", StringComparison.Ordinal)).MaxBy(k => k.Length);
            throw new UsageException(key is null ? message : Flag(key) + " " + message[(key.Length + 3)..]);
        }
    }

    private static string Flag(string key) => "--" + key.Replace('_', '-');
}
