using System.ComponentModel;
using Tailor.Generation;

namespace Tailor.Cli.Options;

/// <summary>Every option of <c>tailor pretrain ship</c>, with its default and reason.</summary>
public sealed record ShipOptions
{
    /// <summary>Run folder.</summary>
    [Description("a finished pre-training run folder (with final/, metrics.jsonl, recipe.json) (required)")]
    public string? Run { get; set; }

    /// <summary>Output folder.</summary>
    [Description("where to write the shipped model folder (required)")]
    public string? Output { get; set; }

    /// <summary>Name on the card.</summary>
    [Description("the model's name on its card; null = the output folder's name")]
    public string? Name { get; set; }

    /// <summary>Weights dtype.</summary>
    [Description("weights dtype to ship: bfloat16 halves the files and loads as float32 to within bf16 rounding; float32 is exact")]
    public WeightsDtype Dtype { get; set; } = WeightsDtype.Bfloat16;

    /// <summary>Throws a <see cref="TailorException"/> naming the first missing value.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Run)) throw new TailorException("give --run DIR.");
        if (string.IsNullOrEmpty(Output)) throw new TailorException("give --output DIR.");
    }
}
