using System.Runtime.InteropServices;
using Tailor.Generation;

namespace Tailor.Tests.Generation;

public sealed class HugePagesTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3 << 20)]                  // 6 MiB of ushort: three huge pages exactly
    [InlineData((3 << 20) + 5)]            // and a little more: a fourth, whole
    public void Blocks_start_on_a_huge_page_and_hold_their_last_page_whole(int length)
    {
        var (array, offset) = HugePages.Allocate<ushort>(length);
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);                                  // already pinned: this reads the address
        long address = handle.AddrOfPinnedObject() + (long)offset * sizeof(ushort);
        handle.Free();
        Assert.Equal(0, address % HugePages.Size);
        long pages = ((long)length * sizeof(ushort) + HugePages.Size - 1) / HugePages.Size;
        Assert.True(offset + pages * HugePages.Size / sizeof(ushort) <= array.Length);
        array.AsSpan(offset, length).Fill(7);
        HugePages.Collapse(array, offset, length);                                                // a hint: true or false, never a change
        Assert.True(array.AsSpan(offset, length).IndexOfAnyExcept((ushort)7) < 0);
    }

    [Fact]
    public void A_block_too_large_for_one_array_is_refused_before_allocating()
    {
        var error = Assert.Throws<TailorException>(() => HugePages.Allocate<float>(int.MaxValue - 64));
        Assert.Contains("too large for one array", error.Message);
    }
}
