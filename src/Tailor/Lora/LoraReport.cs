using System.Globalization;

namespace Tailor.Lora;

/// <summary>
/// Trainable and total parameter counts after <see cref="LoraAdapter.Apply"/>; <see cref="ToString"/> prints PEFT's
/// <c>print_trainable_parameters</c> line.
/// </summary>
/// <param name="TrainableParameters">Elements of parameters with requires_grad (the adapters).</param>
/// <param name="TotalParameters">Elements of all parameters, adapters included (as PEFT counts them).</param>
/// <param name="AdaptedModules">State-dict paths of the adapted projections, e.g. <c>model.layers.0.self_attn.q_proj</c>.</param>
public sealed record LoraReport(long TrainableParameters, long TotalParameters, IReadOnlyList<string> AdaptedModules)
{
    /// <summary>100 × trainable / total.</summary>
    public double TrainablePercent => TotalParameters == 0 ? 0 : 100.0 * TrainableParameters / TotalParameters;

    /// <summary><c>trainable params: 3,584 || all params: 102,208 || trainable%: 3.5066</c>, as PEFT prints it.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"trainable params: {TrainableParameters:N0} || all params: {TotalParameters:N0} || trainable%: {TrainablePercent:F4}");
}
