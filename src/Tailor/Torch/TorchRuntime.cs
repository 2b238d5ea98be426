using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Torch;

/// <summary>Device and thread selection shared by every command that runs a model.</summary>
public static class TorchRuntime
{
    /// <summary>
    /// Resolves "cpu", "cuda" or "cuda:N". CUDA needs TorchSharp's CUDA runtime package in place of
    /// libtorch-cpu-linux-x64; without it this throws a <see cref="TailorException"/> that says so.
    /// </summary>
    public static Device SelectDevice(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return CPU;
        if (n == "cuda" || n.StartsWith("cuda:", StringComparison.Ordinal))
        {
            bool available;
            try { available = cuda.is_available(); }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { available = false; }
            if (!available)
                throw new TailorException(
                    $"--device {name}: CUDA is not available. This build references libtorch-cpu-linux-x64; build with " +
                    "TorchSharp's CUDA runtime package (libtorch-cuda-*) on a machine with an NVIDIA driver, or use --device cpu.");
            if (n == "cuda") return CUDA;
            if (!int.TryParse(n.AsSpan(5), out int index) || index < 0 || index >= cuda.device_count())
                throw new TailorException($"--device {name}: no such CUDA device; {cuda.device_count()} present.");
            return new Device(DeviceType.CUDA, index);
        }
        throw new TailorException($"--device {name}: unknown device; use cpu, cuda or cuda:N.");
    }

    /// <summary>
    /// The most intra-op threads accepted: 4 per core. More only contend for the cores (compute-bound kernels gain
    /// nothing past one thread per core), and a typo such as 100000 would start a thread storm that hangs for minutes.
    /// </summary>
    public static int MaxThreads => 4 * Environment.ProcessorCount;

    /// <summary>Sets libtorch's intra-op thread count (null keeps its default, the number of cores).</summary>
    /// <exception cref="TailorException">Fewer than 1 or more than <see cref="MaxThreads"/>.</exception>
    public static void SetThreads(int? threads)
    {
        CheckThreads(threads);
        if (threads is null) return;
        set_num_threads(threads.Value);
    }

    /// <summary>Throws a <see cref="TailorException"/> unless <paramref name="threads"/> is null or within 1..<see cref="MaxThreads"/>.</summary>
    public static void CheckThreads(int? threads)
    {
        if (threads < 1) throw new TailorException($"--threads {threads}: must be 1 or more.");
        if (threads > MaxThreads)
            throw new TailorException($"--threads {threads}: at most {MaxThreads} (4 per core; this machine has {Environment.ProcessorCount}); more threads only contend for the cores.");
    }
}
