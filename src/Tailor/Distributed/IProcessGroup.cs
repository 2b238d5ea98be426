using static TorchSharp.torch;

namespace Tailor.Distributed;

/// <summary>
/// The processes of one data-parallel job, numbered 0 … <see cref="Size"/> − 1. Every collective call must be made by
/// every rank in the same order (as in MPI); a rank that skips one leaves the others waiting.
/// </summary>
/// <remarks>
/// Implementations: <see cref="SingleProcess"/> (no communication: the run is the whole job), <see cref="MpiProcessGroup"/>
/// (Open MPI's libmpi through P/Invoke, CPU tensors) and <see cref="NcclProcessGroup"/> (libnccl on CUDA tensors).
/// <see cref="ProcessGroups.Current"/> picks one from the environment the process was launched in.
/// </remarks>
public interface IProcessGroup
{
    /// <summary>This process's rank; rank 0 writes checkpoints, logs and the final model.</summary>
    int Rank { get; }

    /// <summary>Number of processes in the job (1 outside mpirun).</summary>
    int Size { get; }

    /// <summary>What the group runs on, for the log (e.g. "Open MPI, 2 ranks").</summary>
    string Description { get; }

    /// <summary>
    /// Replaces <paramref name="buffer"/> on every rank by the element-wise sum of all ranks' buffers. The tensor must be
    /// contiguous float32; it stays owned by the caller.
    /// </summary>
    void AllReduceSum(Tensor buffer);

    /// <summary>Replaces <paramref name="buffer"/> on every rank by rank <paramref name="root"/>'s (contiguous, any dtype).</summary>
    void Broadcast(Tensor buffer, int root = 0);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();
}

/// <summary>The group of a run that is the whole job: rank 0 of 1, every collective a no-op.</summary>
public sealed class SingleProcess : IProcessGroup
{
    /// <summary>The one instance.</summary>
    public static SingleProcess Instance { get; } = new();

    private SingleProcess()
    {
    }

    /// <inheritdoc/>
    public int Rank => 0;

    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public string Description => "one process";

    /// <inheritdoc/>
    public void AllReduceSum(Tensor buffer)
    {
    }

    /// <inheritdoc/>
    public void Broadcast(Tensor buffer, int root = 0)
    {
    }

    /// <inheritdoc/>
    public void Barrier()
    {
    }
}
