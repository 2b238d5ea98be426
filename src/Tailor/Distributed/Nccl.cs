using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Distributed;

/// <summary>
/// <see cref="IProcessGroup"/> for CUDA tensors over NVIDIA's NCCL (libnccl.so.2), bootstrapped by MPI: rank 0 makes the
/// NCCL unique id and broadcasts it with MPI_Bcast, then every rank joins one NCCL communicator on the GPU numbered by
/// its local rank (OMPI_COMM_WORLD_LOCAL_RANK). Collectives are enqueued on CUDA's legacy default stream, which libtorch
/// also uses unless told otherwise (TorchSharp exposes no stream API), so they are ordered with the backward pass and
/// the optimizer step without an explicit synchronization.
/// </summary>
/// <remarks>
/// Compiled, but not run by the test suite: the machine Tailor is developed on has no GPU and no libnccl. The MPI group
/// carries the same recipes' tests. The tensor's device address comes from LibTorchSharp's THSTensor_data export.
/// </remarks>
public sealed unsafe class NcclProcessGroup : IProcessGroup, IDisposable
{
    private const int NcclUint8 = 1, NcclFloat32 = 7, NcclSum = 0;   // ncclDataType_t / ncclRedOp_t values in nccl.h
    private const int UniqueIdBytes = 128;                           // NCCL_UNIQUE_ID_BYTES

    private readonly MpiProcessGroup _mpi;
    private readonly Api _api;
    private nint _comm;

    private NcclProcessGroup(MpiProcessGroup mpi, Api api, nint comm)
    {
        _mpi = mpi;
        _api = api;
        _comm = comm;
    }

    /// <inheritdoc/>
    public int Rank => _mpi.Rank;

    /// <inheritdoc/>
    public int Size => _mpi.Size;

    /// <summary>The MPI group under it, for host-side collectives (flags, barriers).</summary>
    public MpiProcessGroup Host => _mpi;

    /// <inheritdoc/>
    public string Description => $"NCCL over CUDA, rank {Rank} of {Size} (bootstrapped by Open MPI)";

    /// <summary>Joins every rank of <paramref name="mpi"/> into one NCCL communicator (a collective call).</summary>
    public static NcclProcessGroup Create(MpiProcessGroup mpi)
    {
        ArgumentNullException.ThrowIfNull(mpi);
        var api = Api.Load();
        int localRank = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_RANK"), out int l) ? l : 0;
        CheckCuda(api.CudaSetDevice(localRank), $"cudaSetDevice({localRank})");
        using var id = zeros(UniqueIdBytes, ScalarType.Byte);
        if (mpi.Rank == 0)
        {
            fixed (byte* p = id.bytes) api.Check(api.GetUniqueId(p), "ncclGetUniqueId");
        }
        mpi.Broadcast(id, 0);
        UniqueId unique;
        id.bytes.CopyTo(new Span<byte>(unique.Bytes, UniqueIdBytes));
        nint comm;
        api.Check(api.CommInitRank(&comm, mpi.Size, unique, mpi.Rank), "ncclCommInitRank");
        return new NcclProcessGroup(mpi, api, comm);
    }

    /// <inheritdoc/>
    public void AllReduceSum(Tensor buffer)
    {
        nint data = DevicePointer(buffer, ScalarType.Float32);
        _api.Check(_api.AllReduce(data, data, (nuint)buffer.NumberOfElements, NcclFloat32, NcclSum, _comm, 0), "ncclAllReduce");
    }

    /// <inheritdoc/>
    public void Broadcast(Tensor buffer, int root = 0)
    {
        nint data = DevicePointer(buffer, null);
        _api.Check(_api.Broadcast(data, data, (nuint)(buffer.NumberOfElements * buffer.ElementSize), NcclUint8, root, _comm, 0), "ncclBroadcast");
    }

    /// <inheritdoc/>
    public void Barrier() => _mpi.Barrier();

    /// <summary>Destroys the NCCL communicator (MPI stays up until process exit).</summary>
    public void Dispose()
    {
        if (_comm == 0) return;
        _api.CommDestroy(_comm);
        _comm = 0;
    }

    private nint DevicePointer(Tensor buffer, ScalarType? dtype)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.device_type != DeviceType.CUDA || !buffer.is_contiguous() || (dtype is { } d && buffer.dtype != d))
            throw new TailorException($"NCCL: needs a contiguous CUDA{(dtype is null ? "" : " " + dtype)} tensor, got {buffer.dtype} on {buffer.device}.");
        return _api.TensorData(buffer.Handle);
    }

    private static void CheckCuda(int code, string call)
    {
        if (code != 0) throw new TailorException($"{call} failed with CUDA error {code}; is there a GPU for every rank on this host?");
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct UniqueId
    {
        public fixed byte Bytes[UniqueIdBytes];
    }

    private sealed class Api
    {
        public required delegate* unmanaged<byte*, int> GetUniqueId;
        public required delegate* unmanaged<nint*, int, UniqueId, int, int> CommInitRank;
        public required delegate* unmanaged<nint, int> CommDestroy;
        public required delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int> AllReduce;
        public required delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int> Broadcast;
        public required delegate* unmanaged<int, nint> GetErrorString;
        public required delegate* unmanaged<int, int> CudaSetDevice;
        public required delegate* unmanaged<nint, nint> TensorData;

        public void Check(int code, string call)
        {
            if (code != 0)
                throw new TailorException($"{call} failed with NCCL error {code}: {Marshal.PtrToStringAnsi(GetErrorString(code))}. If a rank died, see mpirun's report; restart with --resume.");
        }

        public static Api Load()
        {
            nint nccl = Open(["libnccl.so.2", "libnccl.so"], "libnccl.so.2 (NVIDIA's NCCL) is needed to train on several GPUs; install it or train on CPU with MPI alone.");
            nint cudart = Open(["libcudart.so.12", "libcudart.so.11.0", "libcudart.so"], "libcudart (the CUDA runtime) cannot be loaded.");
            nint torchSharp = NativeLibrary.Load("LibTorchSharp", typeof(torch).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories);
            return new Api
            {
                GetUniqueId = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(nccl, "ncclGetUniqueId"),
                CommInitRank = (delegate* unmanaged<nint*, int, UniqueId, int, int>)NativeLibrary.GetExport(nccl, "ncclCommInitRank"),
                CommDestroy = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(nccl, "ncclCommDestroy"),
                AllReduce = (delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int>)NativeLibrary.GetExport(nccl, "ncclAllReduce"),
                Broadcast = (delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int>)NativeLibrary.GetExport(nccl, "ncclBroadcast"),
                GetErrorString = (delegate* unmanaged<int, nint>)NativeLibrary.GetExport(nccl, "ncclGetErrorString"),
                CudaSetDevice = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(cudart, "cudaSetDevice"),
                TensorData = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(torchSharp, "THSTensor_data"),
            };
        }

        private static nint Open(string[] names, string hint)
        {
            foreach (string name in names)
                if (NativeLibrary.TryLoad(name, out nint lib)) return lib;
            throw new TailorException(hint);
        }
    }
}
