using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>Raw access to the bytes of a contiguous CPU tensor, in spans of at most <see cref="ChunkBytes"/>.</summary>
/// <remarks>
/// TorchSharp's <c>Tensor.bytes</c> is a <see cref="Span{T}"/> over the tensor's own storage, so filling it copies
/// file bytes straight into the tensor (one memcpy, no per-element work). A span holds at most 2 GiB, so a larger
/// tensor (a 128k × 4096 f32 embedding is 2.1 GB) is walked through 1 GiB slices of its flattened view.
/// </remarks>
internal static class TensorBytes
{
    internal const int ChunkBytes = 1 << 30;

    internal delegate void ChunkAction(Span<byte> chunk, long byteOffset);

    /// <summary>Calls <paramref name="action"/> on consecutive spans covering all of <paramref name="tensor"/>'s bytes.</summary>
    /// <param name="tensor">A contiguous CPU tensor.</param>
    /// <param name="action">Receives each span and its byte offset from the start of the tensor.</param>
    internal static void ForEachChunk(Tensor tensor, ChunkAction action)
    {
        long elementSize = tensor.ElementSize;
        long elements = tensor.NumberOfElements;
        if (elements == 0)
            return;

        if (elements * elementSize <= ChunkBytes)
        {
            action(tensor.bytes, 0);
            return;
        }

        long perChunk = ChunkBytes / elementSize;
        using Tensor flat = tensor.view(-1);
        for (long start = 0; start < elements; start += perChunk)
        {
            using Tensor part = flat.narrow(0, start, Math.Min(perChunk, elements - start));
            action(part.bytes, start * elementSize);
        }
    }

    /// <summary>Whether the tensor's storage can be filled directly with bytes of dtype <paramref name="type"/>.</summary>
    internal static bool IsDirectlyWritable(Tensor tensor, ScalarType type) =>
        tensor.device_type == DeviceType.CPU && tensor.dtype == type && tensor.is_contiguous();
}
