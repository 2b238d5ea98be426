using Tailor.Distributed;
using Tailor.Model;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Tests.Distributed;

/// <summary>The arithmetic data parallelism rests on, checked in one process.</summary>
[Collection("TorchSharp")]
public sealed class DataParallelTests
{
    private static LlamaForCausalLM TinyModel() => LlamaForCausalLM.FromConfig(LlamaConfig.Preset("tiny", 300), 7);

    private static Dictionary<string, Tensor> Gradients(LlamaForCausalLM model, Tensor ids, int shares)
    {
        model.zero_grad();
        long rows = ids.shape[0];
        for (int r = 0; r < shares; r++)
        {
            using var scope = NewDisposeScope();
            var part = ids.narrow(0, r * rows / shares, rows / shares);
            var logits = model.call(part.narrow(1, 0, ids.shape[1] - 1));
            var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), part.narrow(1, 1, ids.shape[1] - 1).reshape(-1)) / shares;
            loss.backward();
        }
        return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
    }

    [Fact]
    public void Half_batches_scaled_by_the_rank_count_sum_to_the_whole_batch_gradient()
    {
        using var model = TinyModel();
        var random = new Random(3);
        using var ids = tensor(Enumerable.Range(0, 4 * 33).Select(_ => (long)random.Next(300)).ToArray(), [4, 33]);
        var whole = Gradients(model, ids, 1);
        var halves = Gradients(model, ids, 2);
        foreach (var (name, g) in whole)
        {
            double scale = g.abs().max().item<float>();
            double diff = (g - halves[name]).abs().max().item<float>();
            Assert.True(diff <= 1e-5 * Math.Max(scale, 1e-12), $"{name}: max |difference| {diff:E2} against max |gradient| {scale:E2}");
        }
    }

    [Fact]
    public void An_AdamW_step_on_summed_half_batch_gradients_gives_the_loss_of_the_whole_batch_step()
    {
        var random = new Random(3);
        using var ids = tensor(Enumerable.Range(0, 4 * 33).Select(_ => (long)random.Next(300)).ToArray(), [4, 33]);
        using var next = tensor(Enumerable.Range(0, 4 * 33).Select(_ => (long)random.Next(300)).ToArray(), [4, 33]);
        double Run(int shares)
        {
            using var model = TinyModel();
            using var opt = Optimizers.AdamW(model, 1e-3, 0.1);
            Optimizers.SetLearningRate(opt, 5e-4);
            Gradients(model, ids, shares);
            nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            opt.step();
            using var scope = NewDisposeScope();
            var logits = model.call(next.narrow(1, 0, 32));
            return nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), next.narrow(1, 1, 32).reshape(-1)).item<float>();
        }
        double a = Run(1), b = Run(2);
        Assert.True(Math.Abs(a - b) <= 1e-6 * a, $"after one step: whole batch {a:R}, two halves {b:R}");
    }

    [Fact]
    public void Shares_of_a_global_batch_are_consecutive_and_cover_it()
    {
        Assert.Equal([1, 2, 3], DataParallel.Share(SingleProcess.Instance, [1, 2, 3]));
        Assert.Equal(1, DataParallel.RanksOf(Path.Combine(Path.GetTempPath(), "no-such-checkpoint-" + Guid.NewGuid())));
    }

    [Fact]
    public void An_mpi_launch_is_recognised_from_the_environment()
    {
        Assert.True(ProcessGroups.LaunchedByMpi(k => k == "OMPI_COMM_WORLD_SIZE" ? "2" : null));
        Assert.True(ProcessGroups.LaunchedByMpi(k => k == "PMIX_RANK" ? "0" : null));
        Assert.False(ProcessGroups.LaunchedByMpi(_ => null));
    }
}
