using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Torch;

/// <summary>
/// Two opt-in CPU speed-ups for training, measured in shared/research/perf-anchors.md:
/// <list type="bullet">
/// <item><see cref="EnableMklAvx512"/>: libtorch links oneMKL statically, and that MKL picks its kernels by vendor:
/// on an AMD CPU it takes the AVX2 path even where AVX-512 exists (fp32 matmuls at ~40% of this machine's FMA peak).
/// MKL asks an exported internal, <c>mkl_serv_intel_cpu_true</c>, whether the CPU is Intel; making that answer 1
/// lets it choose its AVX-512 kernels (~2.3x on fp32 matmuls, 1.4-1.8x on fp32 training steps here). The function's
/// first instructions are rewritten in this process's memory (nothing on disk changes). It is an undocumented MKL
/// internal, so a libtorch update may drop it; then this throws and says so.</item>
/// <item><see cref="TuneMalloc"/>: glibc serves allocations of 128 KiB and more with mmap and gives them back with
/// munmap, so every training step maps, faults in and unmaps its activations again (a quarter of the run in system
/// time here). Turning that off (M_MMAP_MAX 0) and never trimming the heap (M_TRIM_THRESHOLD at its maximum) keeps
/// the memory in the process for reuse: +5-8% on fp32 steps, at the cost of not returning freed memory to the OS.</item>
/// </list>
/// Both change speed only: the same kernels' arithmetic is IEEE fp32 either way (losses agree to rounding; tested).
/// </summary>
public static unsafe class CpuTuning
{
    private static readonly object Gate = new();
    private static string? _mklOutcome;
    private static string? _mallocOutcome;

    /// <summary>
    /// Makes the bundled oneMKL take its Intel (AVX-512) code paths. Call before the process's first matmul: MKL
    /// chooses its kernels on first use. Returns a one-line account of what it did (idempotent).
    /// </summary>
    public static string EnableMklAvx512()
    {
        lock (Gate)
        {
            return _mklOutcome ??= PatchMkl();
        }
    }

    /// <summary>Stops glibc from mmap-ing and trimming large blocks (see the class summary). Returns what it did (idempotent).</summary>
    public static string TuneMalloc()
    {
        lock (Gate)
        {
            return _mallocOutcome ??= SetMallocOptions();
        }
    }

    /// <summary>Applies whichever of the two an options record asked for, and reports each once through <paramref name="say"/>.</summary>
    public static void Apply(bool mklAvx512, bool mallocTuning, Device device, Action<string> say)
    {
        if (device.type != DeviceType.CPU)
        {
            if (mklAvx512 || mallocTuning) say("mkl_avx512 / malloc_tuning apply to CPU training only; ignored on " + device);
            return;
        }
        if (mklAvx512) say(EnableMklAvx512());
        if (mallocTuning) say(TuneMalloc());
    }

    private static string PatchMkl() => PatchMkl("mkl_serv_intel_cpu_true");

    /// <summary>The patch, with the symbol as a parameter so that a test can reach the missing-export error.</summary>
    internal static string PatchMkl(string symbol)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return "mkl_avx512: nothing to do (only Linux x64 builds of libtorch bundle MKL this way)";
        _ = ones(1);   // make sure TorchSharp has loaded libtorch_cpu (creating a tensor runs no matmul)
        nint function = FindExport(symbol);
        if (function == 0)
            throw new TailorException(
                $"mkl_avx512: this libtorch does not export {symbol} (an MKL internal), so MKL's kernel choice " +
                "cannot be changed; run without mkl_avx512 (or with precision bf16, which does not go through MKL).");
        var isIntel = (delegate* unmanaged<int>)function;
        if (isIntel() != 0) return "mkl_avx512: MKL already takes its Intel paths on this CPU; nothing changed";

        // mov eax, 1 ; ret
        ReadOnlySpan<byte> patch = [0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3];
        long page = Environment.SystemPageSize;
        nint start = (nint)((long)function & ~(page - 1));
        nint length = (nint)((long)function + patch.Length - start);
        const int Read = 1, Write = 2, Exec = 4;
        if (mprotect(start, length, Read | Write | Exec) != 0)
            throw new TailorException($"mkl_avx512: the process may not write to its code pages (mprotect errno {Marshal.GetLastPInvokeError()}); run without mkl_avx512.");
        patch.CopyTo(new Span<byte>((void*)function, patch.Length));
        mprotect(start, length, Read | Exec);
        if (isIntel() != 1) throw new TailorException("mkl_avx512: the patch did not take; run without mkl_avx512.");
        return "mkl_avx512: oneMKL will take its AVX-512 (Intel) kernels on this CPU (mkl_serv_intel_cpu_true patched in memory)";
    }

    private static string SetMallocOptions()
    {
        if (!OperatingSystem.IsLinux()) return "malloc_tuning: nothing to do (glibc only)";
        const int TrimThreshold = -1, MmapMax = -4;   // M_TRIM_THRESHOLD, M_MMAP_MAX in glibc's malloc.h
        try
        {
            if (mallopt(MmapMax, 0) != 1 || mallopt(TrimThreshold, int.MaxValue) != 1)
                throw new TailorException("malloc_tuning: glibc refused mallopt; run without malloc_tuning.");
        }
        catch (EntryPointNotFoundException)
        {
            return "malloc_tuning: this C library has no mallopt (not glibc); nothing changed";
        }
        return "malloc_tuning: glibc keeps large blocks in the heap (no mmap per tensor, no trimming)";
    }

    private static nint FindExport(string symbol)
    {
        foreach (string name in new[] { "libtorch_cpu.so", "libtorch_cpu" })
        {
            if ((NativeLibrary.TryLoad(name, typeof(TorchSharp.torch).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories, out nint lib)
                 || NativeLibrary.TryLoad(name, out lib))
                && NativeLibrary.TryGetExport(lib, symbol, out nint address))
                return address;
        }
        return 0;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(nint address, nint length, int protection);

    [DllImport("libc")]
    private static extern int mallopt(int parameter, int value);
}
