using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Torch;

/// <summary>
/// The CPU training path: precision and two CPU speed-ups, chosen per machine by <see cref="Choose"/> (each option
/// <c>auto</c> by default, <c>true</c> or <c>false</c> to force it). The speed-ups:
/// <list type="bullet">
/// <item><see cref="EnableMklAvx512"/>: libtorch links oneMKL statically, and that MKL picks its kernels by vendor:
/// on an AMD CPU it takes the AVX2 path even where AVX-512 exists (fp32 matmuls at ~40% of this machine's FMA peak).
/// MKL asks an exported internal, <c>mkl_serv_intel_cpu_true</c>, whether the CPU is Intel; making that answer 1
/// lets it choose its AVX-512 kernels (~2.3x on fp32 matmuls, 1.4-1.8x on fp32 training steps here). The function's
/// first instructions are rewritten in this process's memory (nothing on disk changes). It is an undocumented MKL
/// internal, so a libtorch update may drop it: forced on, that is an error; on auto, one line and the plain path.</item>
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

    /// <summary>
    /// Stops glibc from mmap-ing and trimming large blocks (see the class summary) until <see cref="RestoreMalloc"/>.
    /// Returns what it did.
    /// </summary>
    public static string TuneMalloc()
    {
        lock (Gate)
        {
            string outcome = SetMallocOptions();
            MallocTuned = _mallocApplied;
            return outcome;
        }
    }

    /// <summary>Whether glibc runs with the training loop's malloc tuning now (between <see cref="TuneMalloc"/> and <see cref="RestoreMalloc"/>).</summary>
    public static bool MallocTuned { get; private set; }

    /// <summary>
    /// Ends <see cref="TuneMalloc"/>: glibc's default thresholds again (blocks of 128 KiB and more mmap-ed, the heap
    /// trimmed above 128 KiB) and every free page of the heap returned to the OS (malloc_trim). Without this a process
    /// that trains and then does other work keeps its peak: the main job, which trains, then evaluates nine models in
    /// one process, grew to 16.6 GB and was killed by the kernel's OOM killer.
    /// </summary>
    public static void RestoreMalloc()
    {
        if (!OperatingSystem.IsLinux()) return;
        lock (Gate)
        {
            const int TrimThreshold = -1, MmapThreshold = -3, MmapMax = -4;   // glibc's malloc.h
            try
            {
                mallopt(MmapMax, 65536);
                mallopt(MmapThreshold, 128 * 1024);
                mallopt(TrimThreshold, 128 * 1024);
                malloc_trim(0);
                MallocTuned = false;
            }
            catch (EntryPointNotFoundException)
            {
                // not glibc: TuneMalloc changed nothing either
            }
        }
    }

    /// <summary>
    /// Resolves the training path for <paramref name="device"/> and applies it; call before the process's first matmul.
    /// On the CPU, <c>auto</c> means the fastest path that trains to the same losses, decided from the CPU's features
    /// and measured on this project's machines (README, "Performance"; bench/compare-pytorch.sh):
    /// <list type="bullet">
    /// <item>malloc tuning on (glibc): +5-8% on every fp32 and bf16 step; freed memory stays in the process until the
    /// returned path is disposed (the training loop's end), which restores glibc's defaults and trims the heap.</item>
    /// <item>oneMKL's AVX-512 kernels wherever the CPU has AVX-512 and the patch verifies itself (on Intel, MKL picks
    /// them anyway): 1.4-2.3x on fp32 steps, and the fp32 matmuls left under autocast; where the patch cannot apply,
    /// one line says so and MKL keeps its own choice.</item>
    /// <item>precision: bf16 autocast wherever the CPU computes bf16 natively (AVX-512 BF16 or AMX): on this project's
    /// Zen 5, side by side in one process (<c>tailor bench --only train --precision both --mkl-avx512 --malloc-tuning
    /// --threads 1</c>), it trained 1.45x (6.9M) and 1.39x (17.3M) faster per step than fp32 on MKL's AVX-512 kernels,
    /// as in the research notes' quiet-day rounds (1.12x, 1.19x); fp32 elsewhere (emulated bf16 is 10-70x slower).</item>
    /// </list>
    /// Returns the path; <paramref name="say"/> gets one line naming it and why, plus a line per fallback.
    /// </summary>
    public static TrainingPath Choose(CpuSpeedOptions speed, Device device, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(speed);
        ArgumentNullException.ThrowIfNull(say);
        var (precision, mklAvx512, mallocTuning) = (speed.Precision, speed.MklAvx512, speed.MallocTuning);
        if (device.type != DeviceType.CPU)
        {
            if (mklAvx512 == Toggle.True || mallocTuning == Toggle.True) say("mkl_avx512 / malloc_tuning apply to CPU training only; ignored on " + device);
            var gpu = new TrainingPath(false, false, false, $"training path: {device}, fp32");
            say(gpu.Description);
            return gpu;
        }

        bool malloc = false;
        if (mallocTuning == Toggle.True) { say(TuneMalloc()); malloc = true; }
        else if (mallocTuning == Toggle.Auto)
        {
            try { TuneMalloc(); malloc = _mallocApplied; }
            catch (TailorException e) { say(e.Message + " (auto: continuing without it)"); }
        }

        bool mkl = false;
        if (mklAvx512 == Toggle.True) { say(EnableMklAvx512()); mkl = _mklAvx512InUse; }
        else if (mklAvx512 == Toggle.Auto && CpuFeatures.Avx512F)
        {
            try { EnableMklAvx512(); mkl = _mklAvx512InUse; }
            catch (TailorException e) { say(e.Message + " (auto: MKL keeps its own kernel choice)"); }
        }

        string why;
        bool bf16;
        if (precision != Precision.Auto) { bf16 = precision == Precision.Bf16; why = "as asked"; }
        else if (Autocast.CpuHasNativeBf16) { bf16 = true; why = "auto: this CPU computes bf16 natively"; }
        else { bf16 = false; why = "auto: no native bf16 on this CPU"; }
        if (bf16 && !Autocast.CpuHasNativeBf16 && precision == Precision.Bf16)
            why += "; this CPU emulates bf16, so expect it to be many times slower than fp32";

        var path = new TrainingPath(bf16, mkl, malloc,
            $"training path: {(bf16 ? "bf16 autocast" : "fp32")}" +
            (mkl ? ", oneMKL AVX-512 kernels" : "") + (malloc ? ", malloc tuning" : "") + $" ({why})");
        say(path.Description);
        return path;
    }

    private static bool _mklAvx512InUse;
    private static bool _mallocApplied;

    private static string PatchMkl()
    {
        string outcome = PatchMkl("mkl_serv_intel_cpu_true");
        _mklAvx512InUse = CpuFeatures.Avx512F && !outcome.Contains("nothing to do", StringComparison.Ordinal);
        return outcome;
    }

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
        string outcome = SetMallocOptionsCore();
        _mallocApplied = !outcome.Contains("nothing", StringComparison.Ordinal);
        return outcome;
    }

    private static string SetMallocOptionsCore()
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

    [DllImport("libc")]
    private static extern int malloc_trim(nuint pad);
}

/// <summary>
/// What <see cref="CpuTuning.Choose"/> resolved: bf16 autocast or fp32, and which speed-ups are in effect. Dispose it
/// when the training loop ends: the malloc tuning is for the loop only (<see cref="CpuTuning.RestoreMalloc"/>).
/// </summary>
/// <param name="Bf16">Train under CPU bf16 autocast.</param>
/// <param name="MklAvx512">oneMKL takes its AVX-512 kernels.</param>
/// <param name="MallocTuning">glibc keeps large blocks in the heap.</param>
/// <param name="Description">The one line that names the path and why (for the log).</param>
public sealed record TrainingPath(bool Bf16, bool MklAvx512, bool MallocTuning, string Description) : IDisposable
{
    /// <summary>Ends the malloc tuning, if it was applied.</summary>
    public void Dispose()
    {
        if (MallocTuning) CpuTuning.RestoreMalloc();
    }
}
