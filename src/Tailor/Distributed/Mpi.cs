using System.Runtime.InteropServices;
using System.Text;
using Tailor.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Distributed;

/// <summary>
/// <see cref="IProcessGroup"/> over MPI_COMM_WORLD of Open MPI (libmpi.so.40, Debian's openmpi-bin), called through
/// function pointers: no MPI binding package, only the C ABI. Buffers travel in 1 GiB pieces (MPI counts are int). Tensors must be CPU tensors (a CUDA build uses
/// <see cref="NcclProcessGroup"/>).
/// </summary>
/// <remarks>
/// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are not integers as in MPICH but the addresses of exported
/// global objects (ompi_mpi_comm_world, ompi_mpi_float, ompi_mpi_op_sum), so they are resolved with
/// <see cref="NativeLibrary.GetExport"/>. libmpi is opened RTLD_GLOBAL first because its plugins (mca_*.so) resolve
/// symbols against it. Errors return (MPI_ERRORS_RETURN on the world communicator) and become one-line
/// <see cref="TailorException"/>s; a dead peer is normally reported by mpirun, which then stops the whole job.
/// </remarks>
public sealed unsafe class MpiProcessGroup : IProcessGroup
{
    private const int ThreadSerialized = 2;   // MPI_THREAD_SERIALIZED: calls from any thread, one at a time (ProcessExit runs on another thread)
    private const int MaxErrorString = 256;   // MPI_MAX_ERROR_STRING in Open MPI's mpi.h
    private static readonly nint InPlace = 1;  // MPI_IN_PLACE is (void*)1 in Open MPI

    private readonly Api _api;
    private readonly Lock _gate = new();
    private bool _finalized;

    private MpiProcessGroup(Api api, int rank, int size)
    {
        _api = api;
        Rank = rank;
        Size = size;
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public string Description => $"Open MPI, rank {Rank} of {Size}";

    /// <summary>
    /// Initializes MPI (MPI_Init_thread, serialized) and returns MPI_COMM_WORLD's group. At process exit MPI_Finalize
    /// runs after a success; after a failure (non-zero exit code) MPI_Abort stops the whole job instead, because
    /// MPI_Finalize would wait for ranks that are themselves waiting in a collective for this one.
    /// Throws a <see cref="TailorException"/> saying what to install when libmpi cannot be loaded.
    /// </summary>
    public static MpiProcessGroup InitWorld()
    {
        var api = Api.Load();
        int flag;
        Check(api, api.Initialized(&flag), "MPI_Initialized");
        if (flag == 0)
        {
            int provided;
            Check(api, api.InitThread(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
            if (provided < ThreadSerialized)
                throw new TailorException($"MPI_Init_thread: this MPI provides thread level {provided}, Tailor needs MPI_THREAD_SERIALIZED ({ThreadSerialized}).");
        }
        Check(api, api.CommSetErrhandler(api.CommWorld, api.ErrorsReturn), "MPI_Comm_set_errhandler");
        int rank, size;
        Check(api, api.CommRank(api.CommWorld, &rank), "MPI_Comm_rank");
        Check(api, api.CommSize(api.CommWorld, &size), "MPI_Comm_size");
        var group = new MpiProcessGroup(api, rank, size);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (Environment.ExitCode != 0 && group.Size > 1) group.Abort(Environment.ExitCode);
            else group.FinalizeOnce();
        };
        return group;
    }

    /// <inheritdoc/>
    public void AllReduceSum(Tensor buffer)
    {
        Require(buffer, ScalarType.Float32, "AllReduceSum");
        lock (_gate)
        {
            TensorBytes.ForEachChunk(buffer, (chunk, _) =>
            {
                fixed (byte* p = chunk)
                    Check(_api, _api.Allreduce(InPlace, (nint)p, chunk.Length / sizeof(float), _api.Float, _api.OpSum, _api.CommWorld), "MPI_Allreduce");
            });
        }
    }

    /// <inheritdoc/>
    public void Broadcast(Tensor buffer, int root = 0)
    {
        Require(buffer, null, "Broadcast");
        lock (_gate)
        {
            TensorBytes.ForEachChunk(buffer, (chunk, _) =>   // any dtype travels as its bytes
            {
                fixed (byte* p = chunk)
                    Check(_api, _api.Bcast((nint)p, chunk.Length, _api.Byte, root, _api.CommWorld), "MPI_Bcast");
            });
        }
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        lock (_gate) Check(_api, _api.Barrier(_api.CommWorld), "MPI_Barrier");
    }

    /// <summary>Stops every rank of the job with <paramref name="exitCode"/> (MPI_Abort); for a rank that cannot go on.</summary>
    public void Abort(int exitCode) => _api.Abort(_api.CommWorld, exitCode);

    private void FinalizeOnce()
    {
        lock (_gate)
        {
            if (_finalized) return;
            _finalized = true;
            int done;
            if (_api.Finalized(&done) == 0 && done == 0) _api.Finalize();
        }
    }

    private static void Require(Tensor buffer, ScalarType? dtype, string what)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.device_type != DeviceType.CPU || !buffer.is_contiguous() || (dtype is { } d && buffer.dtype != d))
            throw new TailorException($"MPI {what}: needs a contiguous CPU{(dtype is null ? "" : " " + dtype)} tensor, got {buffer.dtype} on {buffer.device} "
                + "(a GPU build uses the NCCL group).");
    }

    private static void Check(Api api, int code, string call)
    {
        if (code == 0) return;
        var text = new byte[MaxErrorString + 1];
        int length = 0;
        fixed (byte* t = text)
        {
            if (api.ErrorString(code, t, &length) != 0) length = 0;
        }
        string message = length > 0 ? Encoding.ASCII.GetString(text, 0, length).Trim() : "unknown error";
        throw new TailorException($"{call} failed with MPI error {code}: {message}. If a rank died, see mpirun's report above; the last checkpoint is intact, restart with --resume.");
    }

    /// <summary>The libmpi entry points and predefined handles this class uses.</summary>
    private sealed class Api
    {
        public required delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
        public required delegate* unmanaged<int*, int> Initialized;
        public required delegate* unmanaged<int*, int> Finalized;
        public required delegate* unmanaged<int> Finalize;
        public required delegate* unmanaged<nint, int*, int> CommRank;
        public required delegate* unmanaged<nint, int*, int> CommSize;
        public required delegate* unmanaged<nint, nint, int> CommSetErrhandler;
        public required delegate* unmanaged<nint, nint, int, nint, nint, nint, int> Allreduce;
        public required delegate* unmanaged<nint, int, nint, int, nint, int> Bcast;
        public required delegate* unmanaged<nint, int> Barrier;
        public required delegate* unmanaged<nint, int, int> Abort;
        public required delegate* unmanaged<int, byte*, int*, int> ErrorString;
        public required nint CommWorld, Float, Byte, OpSum, ErrorsReturn;

        public static Api Load()
        {
            nint lib = Open();
            nint F(string name) => NativeLibrary.GetExport(lib, name);
            try
            {
                return new Api
                {
                    InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread"),
                    Initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized"),
                    Finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized"),
                    Finalize = (delegate* unmanaged<int>)F("MPI_Finalize"),
                    CommRank = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_rank"),
                    CommSize = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_size"),
                    CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)F("MPI_Comm_set_errhandler"),
                    Allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)F("MPI_Allreduce"),
                    Bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)F("MPI_Bcast"),
                    Barrier = (delegate* unmanaged<nint, int>)F("MPI_Barrier"),
                    Abort = (delegate* unmanaged<nint, int, int>)F("MPI_Abort"),
                    ErrorString = (delegate* unmanaged<int, byte*, int*, int>)F("MPI_Error_string"),
                    CommWorld = F("ompi_mpi_comm_world"),
                    Float = F("ompi_mpi_float"),
                    Byte = F("ompi_mpi_byte"),
                    OpSum = F("ompi_mpi_op_sum"),
                    ErrorsReturn = F("ompi_mpi_errors_return"),
                };
            }
            catch (EntryPointNotFoundException e)
            {
                throw new TailorException($"libmpi: {e.Message.Split('\n')[0]}; Tailor speaks Open MPI's ABI (libmpi.so.40, Debian's openmpi-bin), not MPICH's.");
            }
        }

        private static nint Open()
        {
            foreach (string name in new[] { "libmpi.so.40", "libmpi.so" })
            {
                // RTLD_NOW | RTLD_GLOBAL, before .NET opens it (RTLD_LOCAL): Open MPI's plugins need libmpi's symbols.
                if (dlopen(name, 0x2 | 0x100) != 0 && NativeLibrary.TryLoad(name, out nint lib)) return lib;
            }
            throw new TailorException("mpirun started this process but libmpi.so.40 cannot be loaded; install Open MPI (scripts/setup-system.sh, or apt-get install openmpi-bin libopenmpi-dev).");
        }

        [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        private static extern nint dlopen(string file, int mode);
    }
}
