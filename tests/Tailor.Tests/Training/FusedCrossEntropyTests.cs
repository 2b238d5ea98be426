using System.Runtime.Intrinsics;
using Tailor.Model;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Tests.Training;

/// <summary>A fact about the fused kernel itself: it runs only where the CPU has AVX-512 (elsewhere libtorch's loss runs, tested below).</summary>
public sealed class Avx512FactAttribute : FactAttribute
{
    public Avx512FactAttribute()
    {
        if (!Vector512.IsHardwareAccelerated) Skip = "this CPU has no AVX-512: the fused cross-entropy is not used here (FusedCrossEntropy.Supports).";
    }
}

/// <summary>The fused loss and gradient against libtorch's cross_entropy and autograd on the same logits.</summary>
[Collection("TorchSharp")]
public class FusedCrossEntropyTests
{
    // Rows of a vocabulary that is not a multiple of 16 (the vector tail runs), logits on the scale of a trained model's,
    // and an ignored row.
    private static (Tensor Logits, Tensor Labels) Case(ScalarType dtype, int n = 37, int v = 1003)
    {
        var gen = new TorchSharp.torch.Generator(7);
        var logits = (randn(n, v, generator: gen) * 4).to_type(dtype);
        var labels = randint(0, v, [n], dtype: ScalarType.Int64, generator: gen);
        if (n > 5) labels[5] = FusedCrossEntropy.IgnoreIndex;
        return (logits, labels);
    }

    // libtorch: the sum of the rows' losses times scale, and its gradient with respect to the logits in their dtype.
    private static (double Loss, Tensor Gradient) Reference(Tensor logits, Tensor labels, double scale)
    {
        var leaf = logits.detach().requires_grad_(true);
        var loss = nn.functional.cross_entropy(leaf.to_type(ScalarType.Float32), labels, reduction: nn.Reduction.Sum) * scale;
        loss.backward();
        return (loss.item<float>(), leaf.grad!.to_type(ScalarType.Float32));
    }

    [Avx512Fact]
    public void Bf16_logits_give_libtorch_s_loss_and_its_gradient_to_a_bf16_rounding()
    {
        using var scope = NewDisposeScope();
        var (logits, labels) = Case(ScalarType.BFloat16);
        double scale = 1.0 / 36;
        var (loss, gradient) = FusedCrossEntropy.LossAndGradient(logits, labels, scale);
        var (expected, reference) = Reference(logits, labels, scale);
        Assert.Equal(ScalarType.BFloat16, gradient.dtype);
        Assert.True(Math.Abs(loss.item<float>() - expected) < 1e-5 * Math.Abs(expected), $"loss {loss.item<float>()} vs {expected}");
        var g = gradient.to_type(ScalarType.Float32);
        // Both round fp32 values to bf16; exp implementations may differ in the last fp32 bit, so one bf16 step apart at most.
        double worst = (g - reference).abs().sub(reference.abs() * (1.0 / 128)).max().item<float>();
        Assert.True(worst <= 1e-9, $"gradient off by more than one bf16 step: {worst}");
        Assert.Equal(0f, g[5].abs().sum().item<float>());                     // the ignored row
        Assert.Equal(0.0, g.sum(1).abs().max().item<float>(), 2);             // softmax − onehot sums to 0 per row
    }

    [Avx512Fact]
    public void Fp32_logits_give_libtorch_s_loss_and_gradient()
    {
        using var scope = NewDisposeScope();
        var (logits, labels) = Case(ScalarType.Float32);
        var (loss, gradient) = FusedCrossEntropy.LossAndGradient(logits, labels, 0.5);
        var (expected, reference) = Reference(logits, labels, 0.5);
        Assert.Equal(expected, loss.item<float>(), 3);
        Assert.True(gradient.allclose(reference, rtol: 1e-5, atol: 1e-8), $"max difference {(gradient - reference).abs().max().item<float>()}");
    }

    [Avx512Fact]
    public void A_label_outside_the_vocabulary_is_an_error_that_says_so()
    {
        using var scope = NewDisposeScope();
        var (logits, labels) = Case(ScalarType.BFloat16, 4, 32);
        labels[2] = 32;
        var e = Assert.Throws<TailorException>(() => FusedCrossEntropy.LossAndGradient(logits, labels, 1.0));
        Assert.Contains("label 32 is outside the vocabulary (0 to 31)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_training_step_through_it_gives_every_parameter_libtorch_s_gradient()
    {
        // The recipe's way (Loss, then Backward) against cross_entropy + backward on the same tiny model and batch:
        // on an AVX-512 CPU the fused path, elsewhere libtorch's own.
        var config = LlamaConfig.Preset("tiny", 256);
        using var ids = randint(0, 256, [3, 17], dtype: ScalarType.Int64, generator: new TorchSharp.torch.Generator(3));
        Dictionary<string, Tensor> Gradients(bool fused)
        {
            using var model = LlamaForCausalLM.FromConfig(config, seed: 11);
            using (var scope = NewDisposeScope())
            {
                var logits = model.call(ids.narrow(1, 0, 16)).flatten(0, 1);           // (B·T, V)
                var labels = ids.narrow(1, 1, 16).reshape(-1);
                if (fused)
                {
                    var loss = FusedCrossEntropy.Loss(logits, labels, 1.0 / logits.shape[0], out var gradient);
                    Assert.Equal(FusedCrossEntropy.Supports(logits), gradient is not null);
                    FusedCrossEntropy.Backward(logits, loss, gradient);
                }
                else nn.functional.cross_entropy(logits, labels).backward();
            }
            return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        }
        var mine = Gradients(true);
        var theirs = Gradients(false);
        foreach (var (name, g) in theirs)
            Assert.True(mine[name].allclose(g, rtol: 1e-4, atol: 1e-7), $"{name}: max difference {(mine[name] - g).abs().max().item<float>()}");
    }

    [Fact]
    public void Cuda_tensors_and_other_shapes_take_libtorch_s_path()
    {
        using var scope = NewDisposeScope();
        Assert.False(FusedCrossEntropy.Supports(zeros(2, 3, 4)));
        Assert.False(FusedCrossEntropy.Supports(zeros(new long[] { 2, 3 }, dtype: ScalarType.Float64)));
        var logits = randn(4, 9).requires_grad_(true);
        var loss = FusedCrossEntropy.Loss(logits.to_type(ScalarType.Float64), randint(0, 9, [4], dtype: ScalarType.Int64), 0.25, out var gradient);
        Assert.Null(gradient);
        FusedCrossEntropy.Backward(logits, loss, gradient);
        Assert.NotNull(logits.grad);
    }
}
