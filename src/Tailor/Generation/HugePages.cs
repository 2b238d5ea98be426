using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tailor.Generation;

/// <summary>
/// Pinned arrays whose data starts on a 2 MiB boundary and, on Linux, lies in transparent huge pages: the memory
/// <see cref="CpuDecoder"/> streams its weights from at every token.
/// </summary>
/// <remarks>
/// Why: a model larger than the caches is read from memory at every token, and in 4 KiB pages that is a TLB miss every
/// 64 cache lines. Summing a 60 MB float array on one core of this project's Zen 5 VM ran at 17-30 GB/s in 4 KiB pages
/// and 24-37 GB/s in huge pages (a scratch loop, interleaved runs, 2026-12-07); CpuDecoder on the M shape (29.5M), the
/// same weights held both ways in one process, over eight processes: 0.93-1.24x in bfloat16, 0.95-1.21x in float32,
/// about 1.05x on average (the VM places two allocations in memory of different speed, hence the spread). Linux's
/// usual setting (transparent_hugepage "madvise") gives huge pages only to memory that asks, so this asks with
/// madvise(MADV_HUGEPAGE) before the values are written and madvise(MADV_COLLAPSE, Linux 6.1+) after, which also backs
/// pages already touched. Both are hints: where the kernel refuses (another OS, THP "never", an older kernel) the arrays
/// are ordinary pinned arrays. Managed arrays rather than native memory, so that no finalizer can free weights that a
/// running product still reads.
/// </remarks>
internal static class HugePages
{
    /// <summary>The size of an x86-64 huge page, and the alignment of <see cref="Allocate{T}"/>'s data.</summary>
    public const int Size = 2 << 20;

    private const int MadvHugePage = 14, MadvCollapse = 25;                      // <linux/mman.h>

    /// <summary>
    /// A pinned array with room for <paramref name="length"/> elements from element Offset, which lies on a 2 MiB
    /// boundary, with the last huge page whole; advised as huge pages where the OS takes the hint. Not initialised.
    /// </summary>
    public static unsafe (T[] Array, int Offset) Allocate<T>(int length) where T : unmanaged
    {
        long pages = ((long)length * sizeof(T) + Size - 1) / Size;               // the data's huge pages, the last one whole
        long total = (pages + 1) * Size / sizeof(T);                               // and one more to align the start
        if (total > Array.MaxLength)
            throw new TailorException($"a weight block of {length:N0} elements is too large for one array; CpuDecoder is meant for small models.");
        var array = GC.AllocateUninitializedArray<T>((int)total, pinned: true);   // pinned: the address never moves
        long address = (long)Unsafe.AsPointer(ref array[0]);
        int offset = (int)((Size - address % Size) % Size) / sizeof(T);
        Advise(array, offset, length, MadvHugePage);
        return (array, offset);
    }

    /// <summary>
    /// Asks the OS to back <paramref name="array"/>[offset, offset + length), a block from <see cref="Allocate{T}"/>,
    /// with huge pages now that its values are written; true when it did (always false off Linux).
    /// </summary>
    public static bool Collapse<T>(T[] array, int offset, int length) where T : unmanaged => Advise(array, offset, length, MadvCollapse);

    private static unsafe bool Advise<T>(T[] array, int offset, int length, int advice) where T : unmanaged
    {
        if (!OperatingSystem.IsLinux() || length == 0) return false;
        long start = (long)Unsafe.AsPointer(ref array[offset]);
        long bytes = ((long)length * sizeof(T) + Size - 1) / Size * Size;        // the last page whole: Allocate reserved it
        if (start % Size != 0 || offset + bytes / sizeof(T) > array.Length) return false;
        try
        {
            return madvise((nint)start, (nuint)bytes, advice) == 0;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);
}
