using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

using Tailor.Distributed;

namespace Tailor.Training;

/// <summary>
/// The few steps that turn a one-process training loop into a data-parallel one: the same parameters on every rank at
/// the start, each rank's share of a global batch, gradients summed over ranks into one flat bucket after backward, and
/// the agreement on when to stop. With one rank each is a no-op, so a recipe calls them unconditionally.
/// </summary>
/// <remarks>
/// Why the numbers equal one process with the whole batch: every rank scales its loss as its share of the global loss
/// (its token sum divided by the global token count, or its mean divided by the rank count when every rank has as many
/// tokens), so the sum of the ranks' gradients is the gradient of the global loss; the optimizer then takes the same
/// step on every rank. Only the order of the floating-point sums differs.
/// </remarks>
public static class DataParallel
{
    /// <summary>Copies rank 0's parameters to every rank (a random init agrees even if the ranks' seeds did not).</summary>
    public static void BroadcastParameters(IProcessGroup group, nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(model);
        if (group.Size == 1) return;
        using var _ = no_grad();
        foreach (var p in model.parameters())
        {
            if (p.is_contiguous()) group.Broadcast(p);
            else
            {
                using var copy = p.contiguous();
                group.Broadcast(copy);
                p.copy_(copy);
            }
        }
    }

    /// <summary>
    /// Sums the gradients of <paramref name="parameters"/> over all ranks: copied into one flat float32 bucket, reduced
    /// with one all-reduce, copied back. Parameters without a gradient (frozen) are skipped; every rank has the same
    /// ones. Returns the bucket's size in bytes (0 with one rank).
    /// </summary>
    public static long AllReduceGradients(IProcessGroup group, IEnumerable<TorchSharp.Modules.Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(parameters);
        if (group.Size == 1) return 0;
        using var scope = NewDisposeScope();
        var grads = parameters.Where(p => p.requires_grad && p.grad is not null).Select(p => p.grad!).ToList();
        if (grads.Count == 0) return 0;
        var bucket = cat([.. grads.Select(g => g.detach().reshape(-1).to_type(ScalarType.Float32))]);   // (sum of numel,)
        group.AllReduceSum(bucket);
        long offset = 0;
        using (no_grad())
        {
            foreach (var g in grads)
            {
                long n = g.numel();
                g.copy_(bucket.narrow(0, offset, n).view(g.shape));
                offset += n;
            }
        }
        return offset * sizeof(float);
    }

    /// <summary>Sums a (small, float32) tensor over the ranks in place, e.g. a running loss before it is logged.</summary>
    public static void SumInPlace(IProcessGroup group, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(value);
        if (group.Size == 1) return;
        if (value.device_type == DeviceType.CPU || group is NcclProcessGroup)
        {
            group.AllReduceSum(value);
            return;
        }
        using var host = value.cpu();
        group.AllReduceSum(host);
        value.copy_(host);
    }

    /// <summary>True on every rank when <paramref name="local"/> is true on any (so all ranks leave the loop at the same step).</summary>
    public static bool Any(IProcessGroup group, bool local)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (group.Size == 1) return local;
        using var flag = tensor(new[] { local ? 1f : 0f });   // a CPU tensor: under NCCL it goes through MPI
        (group is NcclProcessGroup nccl ? nccl.Host : group).AllReduceSum(flag);
        return flag.item<float>() > 0;
    }

    /// <summary>
    /// Rows [r·n/N, (r+1)·n/N) of a global batch of n rows for rank r of N: consecutive shares, so concatenating the
    /// ranks' shares in rank order gives the global batch.
    /// </summary>
    public static IReadOnlyList<T> Share<T>(IProcessGroup group, IReadOnlyList<T> global)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(global);
        if (group.Size == 1) return global;
        int start = group.Rank * global.Count / group.Size, end = (group.Rank + 1) * global.Count / group.Size;
        return [.. global.Skip(start).Take(end - start)];
    }

    /// <summary>
    /// Throws a one-line <see cref="TailorException"/> when the checkpoint in <paramref name="folder"/> was written by a
    /// job with another number of ranks: its batches were cut for that number, so resuming with another would not
    /// repeat the run. Checkpoints without the field were written by one process.
    /// </summary>
    public static void RefuseOtherRankCount(IProcessGroup group, string folder)
    {
        ArgumentNullException.ThrowIfNull(group);
        int ranks = RanksOf(folder);
        if (ranks != group.Size)
            throw new TailorException($"--resume: {folder} was written by a run of {ranks} rank{(ranks == 1 ? "" : "s")}, this one has {group.Size}; "
                + $"resume with the same number ({(ranks == 1 ? "without mpirun" : $"mpirun -np {ranks}")}), since the batches are cut per rank.");
    }

    /// <summary>The rank count a checkpoint's trainer_state.json records (1 when absent).</summary>
    public static int RanksOf(string folder)
    {
        string path = Path.Combine(folder, Checkpoint.StateFile);
        if (!File.Exists(path)) return 1;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["ranks"]?.GetValue<int>() ?? 1;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new TailorException($"{path}: field \"ranks\" is not an integer ({e.Message.Split('\n')[0]}); the checkpoint is corrupt.");
        }
    }
}
