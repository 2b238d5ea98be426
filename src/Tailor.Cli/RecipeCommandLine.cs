using Tailor.Training;

namespace Tailor.Cli;

/// <summary>
/// The command-line face of a typed options record (<see cref="RecipeOptions"/>): <c>--config FILE</c> plus one
/// <c>--key-name VALUE</c> per property, with the property's reason as its help, and loading in the order defaults →
/// file → flags. Shared by pretrain, finetune, instruct, eval and run.
/// </summary>
public static class RecipeCommandLine
{
    /// <summary>The option specs of <typeparamref name="T"/>.</summary>
    public static OptionSpec[] Specs<T>() =>
    [
        new("--config", "FILE", "options file (JSON or flat YAML) listing only what differs from the defaults"),
        .. RecipeOptions.Keys<T>().Select(k => new OptionSpec(Flag(k), "VALUE", RecipeOptions.Reason<T>(k))),
    ];

    /// <summary>Defaults (<paramref name="initial"/>), then the <c>--config</c> file, then the flags given.</summary>
    public static T Load<T>(CommandLine cl, T initial)
    {
        ArgumentNullException.ThrowIfNull(cl);
        var overrides = RecipeOptions.Keys<T>().Where(k => cl.Has(Flag(k))).Select(k => KeyValuePair.Create(k, cl.String(Flag(k))!));
        return RecipeOptions.Load(cl.String("--config"), overrides, initial);
    }

    private static string Flag(string key) => "--" + key.Replace('_', '-');
}
