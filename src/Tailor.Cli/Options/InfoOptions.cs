using System.ComponentModel;

namespace Tailor.Cli.Options;

/// <summary>Every option of <c>tailor info</c>.</summary>
public sealed record InfoOptions
{
    /// <summary>JSON output.</summary>
    [Description("print the information as JSON")]
    public bool Json { get; set; }

    /// <summary>Every tensor.</summary>
    [Description("list every tensor; off lists them only when there are at most 40")]
    public bool Tensors { get; set; }
}
