using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using Tailor.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Tailor.Lora;

/// <summary>
/// A linear layer with a low-rank adapter (LoRA, Hu et al. 2021, arXiv:2106.09685), as PEFT's <c>lora.Linear</c> and
/// torchtune's <c>LoRALinear</c> compute it:
/// <code>
///   y = x Wᵀ + b + (dropout(x) Aᵀ Bᵀ) · scaling        scaling = alpha / r   (rsLoRA: alpha / √r)
/// </code>
/// with x (…, in), the frozen base weight W (out, in) and bias b (out), and the trainable A (r, in) and B (out, r).
/// A starts Kaiming-uniform with a = √5 (bound 1/√in, PEFT's and nn.Linear's default) and B starts at zero, so the layer
/// computes exactly the base layer until the first optimizer step. Dropout touches only the adapter's input, and only
/// in training mode.
/// <para><b>Conv1D (GPT-2).</b> HF's Conv1D stores its weight transposed, (in, out), computing x W + b. Wrapping one gives
/// PEFT's <c>fan_in_fan_out = true</c> layer: the same A (r, in) and B (out, r), the same adapter output, and a merge that
/// adds (B·A·scaling)ᵀ so the base keeps its (in, out) layout.</para>
/// </summary>
/// <remarks>
/// <para><b>Names.</b> The base weight and bias stay on this module as <c>weight</c> and <c>bias</c> (torchtune's choice,
/// not PEFT's nested <c>base_layer</c>), so <c>model.layers.0.self_attn.q_proj.weight</c> keeps its HF key and base
/// checkpoints load unchanged. The adapter adds <c>lora_A.weight</c> and <c>lora_B.weight</c>: PEFT's names once its
/// adapter name ("default") is dropped, which is what PEFT writes to <c>adapter_model.safetensors</c>.</para>
/// <para><b>Ownership.</b> The base <see cref="Parameter"/>s are taken over from the wrapped <see cref="Linear"/>, not
/// copied; the wrapped Linear must not be disposed or used afterwards. <see cref="LoraAdapter.Merge"/> hands them back in a new
/// plain Linear.</para>
/// <para>The adapter parameters take the base weight's dtype and device.</para>
/// </remarks>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    // Frozen base. Not readonly: Module.to(dtype/device) replaces parameters through these fields.
    [ComponentName(Name = "weight")] private Parameter _weight;          // (out, in); (in, out) when fan-in-fan-out
    [ComponentName(Name = "bias")] private Parameter? _bias;             // (out) or none
    [ComponentName(Name = "lora_A")] private readonly Linear _loraA;     // weight (r, in)
    [ComponentName(Name = "lora_B")] private readonly Linear _loraB;     // weight (out, r)
    private readonly double _dropout;
    private readonly bool _fanInFanOut;
    private bool _released;

    /// <summary>
    /// Wraps <paramref name="baseLayer"/>: takes over its weight and bias, freezes them (requires_grad false), and adds
    /// A (rank, in) and B (out, rank) initialised as described on the class.
    /// </summary>
    /// <param name="baseLayer">The layer to adapt; its parameters now belong to this module.</param>
    /// <param name="rank">r, the adapter's rank (≥ 1).</param>
    /// <param name="alpha">The LoRA alpha (&gt; 0); scaling is alpha / r, or alpha / √r with <paramref name="useRsLora"/>.</param>
    /// <param name="dropout">Dropout probability on the adapter's input, in [0, 1).</param>
    /// <param name="useRsLora">Rank-stabilised scaling alpha / √r (Kalajdzievski 2023) instead of alpha / r.</param>
    public LoraLinear(Linear baseLayer, int rank, double alpha, double dropout = 0.0, bool useRsLora = false)
        : this(baseLayer?.weight!, baseLayer?.bias, fanInFanOut: false, rank, alpha, dropout, useRsLora)
    {
    }

    /// <summary>
    /// Wraps a GPT-2 <see cref="Conv1D"/> (weight (in, out)) the same way: PEFT's fan_in_fan_out layer. The base's
    /// parameters now belong to this module.
    /// </summary>
    public LoraLinear(Conv1D baseLayer, int rank, double alpha, double dropout = 0.0, bool useRsLora = false)
        : this(baseLayer?.Weight!, baseLayer?.Bias, fanInFanOut: true, rank, alpha, dropout, useRsLora)
    {
    }

    private LoraLinear(Parameter weight, Parameter? bias, bool fanInFanOut, int rank, double alpha, double dropout, bool useRsLora)
        : base(nameof(LoraLinear))
    {
        ArgumentNullException.ThrowIfNull(weight, "baseLayer");
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be a positive number.");
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");

        _weight = weight;
        _bias = bias;
        _fanInFanOut = fanInFanOut;
        _weight.requires_grad = false;
        if (_bias is not null) _bias.requires_grad = false;

        long inFeatures = InFeatures, outFeatures = OutFeatures;
        Rank = rank;
        Alpha = alpha;
        UseRsLora = useRsLora;
        Scaling = useRsLora ? alpha / Math.Sqrt(rank) : alpha / rank;
        _scaling = Scaling.ToScalar();   // held: TorchSharp does not keep a temporary Scalar alive across the native call
        _dropout = dropout;
        _loraA = nn.Linear(inFeatures, rank, hasBias: false, device: _weight.device, dtype: _weight.dtype);
        _loraB = nn.Linear(rank, outFeatures, hasBias: false, device: _weight.device, dtype: _weight.dtype);
        using (no_grad())
        {
            nn.init.kaiming_uniform_(_loraA.weight, a: Math.Sqrt(5));
            nn.init.zeros_(_loraB.weight);
        }
        RegisterComponents();
    }

    /// <summary>The adapter's rank r.</summary>
    public int Rank { get; }

    /// <summary>The LoRA alpha.</summary>
    public double Alpha { get; }

    /// <summary>True when the scaling is alpha / √r (rsLoRA).</summary>
    public bool UseRsLora { get; }

    /// <summary>The factor on the adapter's output: alpha / r, or alpha / √r with rsLoRA.</summary>
    public double Scaling { get; }

    private readonly Scalar _scaling;

    /// <summary>Dropout probability on the adapter's input (training mode only).</summary>
    public double DropoutProbability => _dropout;

    /// <summary>Input features (in).</summary>
    public long InFeatures => _weight.shape[_fanInFanOut ? 0 : 1];

    /// <summary>Output features (out).</summary>
    public long OutFeatures => _weight.shape[_fanInFanOut ? 1 : 0];

    /// <summary>True when the base is a Conv1D whose weight is stored (in, out) (PEFT's fan_in_fan_out).</summary>
    public bool FanInFanOut => _fanInFanOut;

    /// <summary>The frozen base weight W (out, in), or (in, out) with <see cref="FanInFanOut"/>; the module's own parameter, not a copy.</summary>
    public Parameter Weight => _weight;

    /// <summary>The frozen base bias b (out), or null.</summary>
    public Parameter? Bias => _bias;

    /// <summary>The trainable down-projection A (r, in); the module's own parameter, not a copy.</summary>
    public Parameter LoraA => _loraA.weight;

    /// <summary>The trainable up-projection B (out, r); the module's own parameter, not a copy.</summary>
    public Parameter LoraB => _loraB.weight;

    /// <summary>x (…, in) → (…, out): x Wᵀ + b + (dropout(x) Aᵀ Bᵀ) · scaling.</summary>
    public override Tensor forward(Tensor x)
    {
        ObjectDisposedException.ThrowIf(_released, this);
        var y = F.linear(x, _fanInFanOut ? _weight.t() : _weight, _bias);             // (…, out)
        var h = _dropout > 0 && training ? F.dropout(x, _dropout, training: true) : x; // (…, in)
        var delta = _loraB.call(_loraA.call(h));                                      // (…, r) → (…, out)
        return y.add(delta, alpha: _scaling);                                          // (…, out)
    }

    /// <summary>
    /// B·A·scaling (out, in) in the base weight's dtype, transposed to (in, out) with <see cref="FanInFanOut"/>: what
    /// merging adds to W. Computed in float32 when the weights
    /// are 16-bit (as PEFT does on CPU, where half-precision matmuls are slow and lossy). The caller owns the result.
    /// </summary>
    public Tensor DeltaWeight()
    {
        ObjectDisposedException.ThrowIf(_released, this);
        using var _ = no_grad();
        var a = _loraA.weight;                                                        // (r, in)
        var b = _loraB.weight;                                                        // (out, r)
        bool upcast = a.dtype is ScalarType.BFloat16 or ScalarType.Float16;
        using var a32 = upcast ? a.to_type(ScalarType.Float32) : a.alias();
        using var b32 = upcast ? b.to_type(ScalarType.Float32) : b.alias();
        using var product = b32.matmul(a32);                                          // (out, in)
        using var scaled = product.mul(_scaling);
        using var oriented = _fanInFanOut ? scaled.t().contiguous() : scaled.alias();  // W's layout
        return oriented.to_type(_weight.dtype);
    }

    /// <summary>
    /// Folds the adapter into the base (W ← W + B·A·scaling) and returns a plain <see cref="Linear"/> (or
    /// <see cref="Conv1D"/> with <see cref="FanInFanOut"/>) that holds the base weight and bias, keeping their requires_grad. The adapter's parameters are freed; this module keeps no
    /// parameter and must not be used again (disposing it is safe and frees nothing of the returned layer).
    /// </summary>
    internal nn.Module<Tensor, Tensor> MergeAndRelease()
    {
        ObjectDisposedException.ThrowIf(_released, this);
        using (no_grad())
        using (var delta = DeltaWeight())
        {
            _weight.add_(delta);
        }
        nn.Module<Tensor, Tensor> merged = _fanInFanOut ? new Conv1D(_weight, _bias!) : nn.Linear(_weight, _bias);
        // Drop every registration so that Dispose() frees neither the handed-over base nor anything twice.
        _internal_params.Remove("weight");
        if (_bias is not null) _internal_params.Remove("bias");
        _internal_submodules.Remove("lora_A");
        _internal_submodules.Remove("lora_B");
        _loraA.Dispose();
        _loraB.Dispose();
        _released = true;
        return merged;
    }
}
