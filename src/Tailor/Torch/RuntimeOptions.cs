using System.ComponentModel;

namespace Tailor.Torch;

/// <summary>
/// Where a command runs its model, shared by every command that runs one (pretrain, finetune, instruct, eval, run,
/// generate, serve, bench, finetune-encoder): the device and the intra-op threads. Options records hold it as a group
/// (its keys, <c>device</c> and <c>threads</c>, read as their own).
/// </summary>
public sealed record RuntimeOptions
{
    /// <summary>Device name.</summary>
    [Description("cpu, or cuda (cuda:N) where TorchSharp's CUDA runtime package is referenced")]
    public string Device { get; init; } = "cpu";

    /// <summary>Intra-op threads.</summary>
    [Description("intra-op threads, at most 4 per core; null = libtorch's default (all cores)")]
    public int? Threads { get; init; }

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value; touches no device.</summary>
    public void Validate()
    {
        string d = Device.Trim().ToLowerInvariant();
        if (d != "cpu" && d != "cuda" && !(d.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(d[5..], out int n) && n >= 0))
            throw new TailorException($"device = {Device}: use cpu, cuda or cuda:N.");
        TorchRuntime.CheckThreads(Threads);
    }
}

/// <summary>
/// The CPU speed options of the training loops (pretrain, finetune, instruct), resolved by <see cref="CpuTuning.Choose"/>
/// into the fastest path that trains to the same losses. Typed, so a record holding them is valid by construction.
/// </summary>
public sealed record CpuSpeedOptions
{
    /// <summary>Numeric precision of the training step.</summary>
    [Description("auto, fp32 or bf16 autocast (matmuls in bfloat16; weights, optimizer, loss stay fp32). auto = bf16 where the CPU computes bf16 natively (AVX-512 BF16, AMX: 1.4x fp32 steps on a Zen 5, measured side by side), fp32 elsewhere (emulated bf16 is far slower)")]
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>Let MKL take its AVX-512 kernels on AMD CPUs.</summary>
    [Description("auto, true or false: make libtorch's bundled oneMKL use its AVX-512 kernels on AMD CPUs (it picks AVX2 on non-Intel CPUs; 1.4-2.3x fp32 steps here) by patching an undocumented MKL internal in memory. auto = wherever the CPU has AVX-512 and the patch verifies itself, else one line and MKL's own choice; true = an error if it cannot. Losses match the plain path (tested)")]
    public Toggle MklAvx512 { get; init; } = Toggle.Auto;

    /// <summary>Keep large blocks in glibc's heap.</summary>
    [Description("auto, true or false: stop glibc's mmap/munmap of every large tensor each step (mallopt M_MMAP_MAX 0, no trimming) while the training loop runs; +5-8% steps here; when training ends, glibc's defaults come back and the freed heap goes back to the OS (malloc_trim). auto = on wherever glibc is the C library")]
    public Toggle MallocTuning { get; init; } = Toggle.Auto;
}

/// <summary>Numeric precision of a training step.</summary>
public enum Precision
{
    /// <summary>bf16 where the CPU computes it natively, else fp32.</summary>
    Auto,

    /// <summary>Everything in float32.</summary>
    Fp32,

    /// <summary>bf16 autocast: matmuls in bfloat16, weights, optimizer state and loss in float32.</summary>
    Bf16,
}

/// <summary>A speed-up that is on, off, or on wherever it applies.</summary>
public enum Toggle
{
    /// <summary>On wherever it applies and verifies itself; otherwise one line and off.</summary>
    Auto,

    /// <summary>On; an error where it cannot apply.</summary>
    True,

    /// <summary>Off.</summary>
    False,
}
