namespace Tailor.Distributed;

/// <summary>
/// Finds the process group this process was launched into: under <c>mpirun</c> (Open MPI sets OMPI_COMM_WORLD_SIZE,
/// PMIx sets PMIX_RANK) it initializes MPI once and returns that group; otherwise the single-process group. So
/// <c>mpirun -np 2 tailor pretrain …</c> needs no flag, and a plain <c>tailor pretrain …</c> never touches libmpi.
/// </summary>
public static class ProcessGroups
{
    private static readonly Lock Gate = new();
    private static IProcessGroup? _current;
    private static NcclProcessGroup? _nccl;

    /// <summary>The group of this process (initialized on first use, finalized at process exit).</summary>
    public static IProcessGroup Current
    {
        get
        {
            lock (Gate)
            {
                return _current ??= LaunchedByMpi(Environment.GetEnvironmentVariable) ? MpiProcessGroup.InitWorld() : SingleProcess.Instance;
            }
        }
    }

    /// <summary>
    /// The group for tensors on <paramref name="device"/>: NCCL for CUDA tensors in a job of several ranks (made once),
    /// otherwise <see cref="Current"/>.
    /// </summary>
    public static IProcessGroup For(TorchSharp.torch.Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var current = Current;
        if (device.type != TorchSharp.DeviceType.CUDA || current is not MpiProcessGroup mpi) return current;
        lock (Gate) return _nccl ??= NcclProcessGroup.Create(mpi);
    }

    /// <summary>True when the environment says an MPI launcher started this process as one rank of a job.</summary>
    public static bool LaunchedByMpi(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return !string.IsNullOrEmpty(environment("OMPI_COMM_WORLD_SIZE")) || !string.IsNullOrEmpty(environment("PMIX_RANK"));
    }
}
