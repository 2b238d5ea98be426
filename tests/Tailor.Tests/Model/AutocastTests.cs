using Tailor.Model;
using Tailor.Torch;
using static TorchSharp.torch;

namespace Tailor.Tests.Model;

[Collection("TorchSharp")]
public class AutocastTests
{
    [Fact]
    public void Matmul_runs_in_bf16_inside_the_scope_and_fp32_after()
    {
        Assert.True(Autocast.IsAvailable);
        using var a = randn(8, 8);
        using (Autocast.Bf16())
        {
            using var inside = a.matmul(a);
            Assert.Equal(ScalarType.BFloat16, inside.dtype);
        }
        using var after = a.matmul(a);
        Assert.Equal(ScalarType.Float32, after.dtype);
    }

    [Fact]
    public void Training_losses_with_bf16_autocast_track_the_fp32_losses()
    {
        double[] Run(bool bf16)
        {
            var config = LlamaConfig.Preset("tiny", 256);
            using var model = LlamaForCausalLM.FromConfig(config, seed: 5);
            using var opt = Tailor.Training.Optimizers.AdamW(model, 3e-3, 0.1);
            var gen = new TorchSharp.torch.Generator(42);
            var losses = new double[20];
            for (int step = 0; step < losses.Length; step++)
            {
                using var scope = NewDisposeScope();
                var ids = randint(0, 64, [4, 33], dtype: ScalarType.Int64, generator: gen);   // a learnable, small-alphabet stream
                Tensor loss;
                using (Autocast.Bf16(bf16))
                {
                    var logits = model.call(ids.narrow(1, 0, 32));
                    loss = nn.functional.cross_entropy(logits.view(-1, 256).to_type(ScalarType.Float32), ids.narrow(1, 1, 32).reshape(-1));
                }
                loss.backward();
                opt.step();
                model.zero_grad();
                losses[step] = loss.item<float>();
            }
            return losses;
        }
        var fp32 = Run(false);
        var bf16 = Run(true);
        for (int i = 0; i < fp32.Length; i++)
            Assert.True(Math.Abs(fp32[i] - bf16[i]) < 0.02 * fp32[i], $"step {i}: fp32 {fp32[i]:F4} vs bf16 {bf16[i]:F4}");
        Assert.True(bf16[^1] < bf16[0]);
    }
}
