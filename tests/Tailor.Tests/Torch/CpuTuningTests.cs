using System.Runtime.InteropServices;
using Tailor.Torch;
using TorchSharp;

namespace Tailor.Tests.Torch;

/// <summary>The malloc tuning of the training path lasts as long as the path (the training loop), not the process.</summary>
[Collection("TorchSharp")]
public class CpuTuningTests
{
    [Fact]
    public void The_malloc_tuning_ends_with_the_training_path_so_large_blocks_are_mmapped_and_returned_again()
    {
        if (!OperatingSystem.IsLinux()) return;
        var speed = new CpuSpeedOptions { Precision = Precision.Fp32, MklAvx512 = Toggle.False, MallocTuning = Toggle.True };
        using (var path = CpuTuning.Choose(speed, torch.CPU, _ => { }))
        {
            Assert.True(path.MallocTuning);
            Assert.Equal(0, MmappedBytesOfA16MiBBlock());   // while training: from the heap, kept for reuse
        }
        Assert.True(MmappedBytesOfA16MiBBlock() >= 16 << 20, "after training, glibc should mmap a 16 MiB block again (and unmap it when freed)");
    }

    // 16 MiB: above glibc's mmap threshold, and small enough for a thread's arena heap (64 MiB), which would mmap a
    // larger block even while mmap is off.
    private static long MmappedBytesOfA16MiBBlock()
    {
        long before = (long)mallinfo2().hblkhd;
        nint block = Marshal.AllocHGlobal(16 << 20);   // malloc on Unix
        long after = (long)mallinfo2().hblkhd;
        Marshal.FreeHGlobal(block);
        return after - before;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc")]
    private static extern MallInfo2 mallinfo2();
}
