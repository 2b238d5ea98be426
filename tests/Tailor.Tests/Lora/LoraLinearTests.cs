using Tailor.Lora;
using static TorchSharp.torch;

namespace Tailor.Tests.Lora;

[Collection("TorchSharp")]
public class LoraLinearTests
{
    private static (TorchSharp.Modules.Linear Base, Tensor W, Tensor B) NewBase(long inF = 6, long outF = 5, bool bias = true)
    {
        random.manual_seed(7);
        var linear = nn.Linear(inF, outF, hasBias: bias);
        return (linear, linear.weight.detach().clone(), bias ? linear.bias!.detach().clone() : zeros(outF));
    }

    [Fact]
    public void Forward_is_bit_identical_to_the_base_layer_at_initialisation()
    {
        var (linear, _, _) = NewBase();
        using var x = randn(3, 4, 6);
        using var expected = linear.call(x);
        using var lora = new LoraLinear(linear, rank: 2, alpha: 4);
        using var actual = lora.call(x);
        Assert.True(expected.Equals(actual), "LoRA with B = 0 must not change the output at all");
    }

    [Fact]
    public void Init_takes_over_and_freezes_the_base_and_draws_kaiming_A_and_zero_B()
    {
        var (linear, w, b) = NewBase(inF: 64, outF: 16);
        var weight = linear.weight;
        using var lora = new LoraLinear(linear, rank: 8, alpha: 16);
        Assert.Same(weight, lora.Weight);                                      // taken over, not copied
        Assert.False(lora.Weight.requires_grad);
        Assert.False(lora.Bias!.requires_grad);
        Assert.True(lora.Weight.Equals(w));
        Assert.True(lora.Bias.Equals(b));
        Assert.Equal([8L, 64L], lora.LoraA.shape);
        Assert.Equal([16L, 8L], lora.LoraB.shape);
        Assert.Equal(0.0, lora.LoraB.abs().max().item<float>());
        // kaiming_uniform_(a = √5) on (r, in): U(-1/√in, 1/√in); 512 draws fill most of that range.
        double bound = 1 / Math.Sqrt(64), max = lora.LoraA.abs().max().item<float>();
        Assert.InRange(max, 0.9 * bound, bound);
        Assert.Equal(["weight", "bias", "lora_A.weight", "lora_B.weight"], lora.state_dict().Keys);
    }

    [Theory]
    [InlineData(false, 2.0)]             // alpha / r = 8 / 4
    [InlineData(true, 4.0)]              // alpha / √r = 8 / 2
    public void Forward_adds_the_scaled_low_rank_path(bool rsLora, double expectedScaling)
    {
        var (linear, w, b) = NewBase();
        using var lora = new LoraLinear(linear, rank: 4, alpha: 8, useRsLora: rsLora);
        Assert.Equal(expectedScaling, lora.Scaling, 12);
        using var a = randn(4, 6);
        using var bb = randn(5, 4);
        using (no_grad())
        {
            lora.LoraA.copy_(a);
            lora.LoraB.copy_(bb);
        }
        using var x = randn(2, 3, 6);
        using var actual = lora.call(x);
        // Written out in float64, one matrix product at a time: x Wᵀ + b + s · (x Aᵀ) Bᵀ.
        using var x64 = x.to_type(ScalarType.Float64);
        using var expected = x64.matmul(w.to_type(ScalarType.Float64).t()) + b.to_type(ScalarType.Float64)
            + expectedScaling * x64.matmul(a.to_type(ScalarType.Float64).t()).matmul(bb.to_type(ScalarType.Float64).t());
        double diff = (actual.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(diff < 1e-5, $"max |diff| {diff:E2}");
    }

    [Fact]
    public void Dropout_touches_only_the_adapter_path_and_only_in_training()
    {
        var (linear, _, _) = NewBase();
        using var lora = new LoraLinear(linear, rank: 2, alpha: 2, dropout: 0.5);
        using var x = randn(8, 6);
        lora.train();
        using (var baseOut = nn.functional.linear(x, lora.Weight, lora.Bias))
        using (var trainOut = lora.call(x))
            Assert.True(baseOut.Equals(trainOut), "with B = 0 dropout must not reach the base path");

        using (no_grad()) lora.LoraB.normal_();
        using var first = lora.call(x);
        using var second = lora.call(x);
        Assert.False(first.Equals(second), "training-mode dropout should draw a new mask per call");
        lora.eval();
        using var evalA = lora.call(x);
        using var evalB = lora.call(x);
        Assert.True(evalA.Equals(evalB));
    }

    [Fact]
    public void Delta_weight_is_B_times_A_times_scaling()
    {
        var (linear, _, _) = NewBase();
        using var lora = new LoraLinear(linear, rank: 3, alpha: 6);
        using (no_grad())
        {
            lora.LoraA.copy_(tensor(new float[] { 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 }, [3, 6]));
            lora.LoraB.fill_(0.5f);
        }
        using var delta = lora.DeltaWeight();                                     // (5, 6)
        // B·A puts 0.5 in columns 0..2 of every row; scaling 6 / 3 = 2 makes that 1.
        using var expected = cat([ones(5, 3), zeros(5, 3)], 1);
        Assert.True(delta.Equals(expected));
    }
}
