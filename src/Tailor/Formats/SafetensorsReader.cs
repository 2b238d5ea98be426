using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>How a <see cref="SafetensorsReader"/> gets tensor bytes from the file.</summary>
public enum SafetensorsReadMode
{
    /// <summary>Map the file and copy from the mapping (no read syscalls; the usual choice).</summary>
    MemoryMapped,

    /// <summary>Positional reads straight into each tensor's storage (no mapping; for file systems that cannot map).</summary>
    Streamed,
}

/// <summary>
/// An open safetensors file: its validated <see cref="Header"/>, and tensors read on demand by name.
/// </summary>
/// <remarks>
/// Opening reads and validates the header only; tensor bytes are copied when asked for, straight into the storage of a
/// fresh CPU tensor (or of a destination tensor with <see cref="ReadInto"/>). The reader keeps the file open until
/// disposed; tensors it returned stay valid after that, because they own copies of their bytes.
/// If another process truncates the file while it is mapped, reading may fault; save checkpoints through
/// <see cref="Safetensors.Save"/> or <see cref="HfCheckpoint.Save(string, IReadOnlyDictionary{string, Tensor}, string, HfSaveOptions?)"/>,
/// which replace files by rename rather than rewriting them in place.
/// </remarks>
public sealed unsafe class SafetensorsReader : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _mapped;
    private bool _disposed;

    private SafetensorsReader(string path, SafeFileHandle file, SafetensorsHeader header, SafetensorsReadMode mode)
    {
        FilePath = path;
        _file = file;
        Header = header;
        Mode = mode;
        if (mode == SafetensorsReadMode.MemoryMapped)
        {
            _map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _mapped = pointer + _view.PointerOffset;
        }
    }

    /// <summary>The file this reader reads.</summary>
    public string FilePath { get; }

    /// <summary>The validated header: names, dtypes, shapes and byte ranges of all tensors.</summary>
    public SafetensorsHeader Header { get; }

    /// <summary>How tensor bytes are read.</summary>
    public SafetensorsReadMode Mode { get; }

    /// <summary>Opens a safetensors file and validates its header against the file's length.</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <param name="mode">Memory-mapped (default) or streamed reads.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The file is truncated, its header is corrupt, a dtype is unknown,
    /// or the tensors' byte ranges do not tile the data buffer exactly.</exception>
    public static SafetensorsReader Open(string path, SafetensorsReadMode mode = SafetensorsReadMode.MemoryMapped)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeFileHandle file = System.IO.File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long length = RandomAccess.GetLength(file);
            Span<byte> prefix = stackalloc byte[SafetensorsHeaderParser.LengthPrefixBytes];
            if (length >= prefix.Length)
                ReadExactly(path, file, prefix, 0);
            long headerLength = SafetensorsHeaderParser.ReadHeaderLength(path, prefix, length);

            // ReadHeaderLength has bounded the length by the file size and the format's limit before we allocate.
            var json = new byte[headerLength];
            ReadExactly(path, file, json, SafetensorsHeaderParser.LengthPrefixBytes);
            SafetensorsHeader header = SafetensorsHeaderParser.Parse(path, json, length);
            return new SafetensorsReader(path, file, header, mode);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads one tensor into a new CPU tensor of the file's dtype and shape. The caller owns (disposes) it.</summary>
    /// <exception cref="CheckpointFormatException">The file has no tensor with this name.</exception>
    public Tensor Read(string name) => Read(Find(name));

    /// <summary>Reads one tensor (described by an entry of <see cref="Header"/>) into a new CPU tensor the caller owns.</summary>
    public Tensor Read(SafetensorsTensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Offsets are only safe to follow for entries this file's header validated.
        if (!Header.TryGet(info.Name, out SafetensorsTensorInfo? own) || !ReferenceEquals(own, info))
            throw new ArgumentException($"'{info.Name}' is not an entry of {FilePath}'s header; pass an entry of this reader's Header.", nameof(info));
        Tensor tensor = torch.empty(info.Shape, info.ScalarType, device: torch.CPU);
        try
        {
            CopyBytesInto(info, tensor);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies one tensor into <paramref name="destination"/>, which must have the file's shape; its dtype and device
    /// may differ (the values are converted as <c>copy_</c> converts them). When the destination is a contiguous CPU
    /// tensor of the file's dtype the bytes go straight into its storage with no temporary tensor.
    /// Runs under <c>no_grad</c>, so the destination may be a parameter.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file has no such tensor, or its shape differs from the destination's.</exception>
    public void ReadInto(string name, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ObjectDisposedException.ThrowIf(_disposed, this);
        SafetensorsTensorInfo info = Find(name);
        if (!destination.shape.AsSpan().SequenceEqual(info.Shape))
            FormatThrow.ShapeMismatch(FilePath, name, info.Shape, destination.shape);

        using IDisposable noGrad = torch.no_grad();
        if (TensorBytes.IsDirectlyWritable(destination, info.ScalarType))
        {
            CopyBytesInto(info, destination);
            return;
        }

        using Tensor staged = Read(info);
        destination.copy_(staged);
    }

    /// <summary>Reads every tensor, in file order, into new CPU tensors the caller owns.</summary>
    public Dictionary<string, Tensor> ReadAll()
    {
        var tensors = new Dictionary<string, Tensor>(Header.Tensors.Count, StringComparer.Ordinal);
        try
        {
            foreach (SafetensorsTensorInfo info in Header.Tensors)
                tensors.Add(info.Name, Read(info));
            return tensors;
        }
        catch
        {
            foreach (Tensor tensor in tensors.Values)
                tensor.Dispose();
            throw;
        }
    }

    /// <summary>Unmaps and closes the file. Tensors already read stay valid.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _map?.Dispose();
        _file.Dispose();
    }

    private SafetensorsTensorInfo Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!Header.TryGet(name, out SafetensorsTensorInfo? info))
            FormatThrow.Tensor(FilePath, name, "the file has no tensor of this name. Check the name against the file's header (Safetensors.ReadHeader).");
        return info;
    }

    private void CopyBytesInto(SafetensorsTensorInfo info, Tensor destination)
    {
        long start = Header.DataStart + info.Begin;
        if (_mapped is not null)
        {
            byte* source = _mapped + start;
            TensorBytes.ForEachChunk(destination, (chunk, offset) => new ReadOnlySpan<byte>(source + offset, chunk.Length).CopyTo(chunk));
        }
        else
        {
            TensorBytes.ForEachChunk(destination, (chunk, offset) => ReadExactly(FilePath, _file, chunk, start + offset));
        }
    }

    private static void ReadExactly(string path, SafeFileHandle file, Span<byte> buffer, long fileOffset)
    {
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(file, buffer, fileOffset);
            if (read == 0)
                FormatThrow.File(path, $"the file ended at byte {fileOffset} while reading; it was truncated or replaced while open. Re-open it, and do not rewrite checkpoints in place.");
            buffer = buffer[read..];
            fileOffset += read;
        }
    }
}
