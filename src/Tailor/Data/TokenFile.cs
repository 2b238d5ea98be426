using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;

namespace Tailor.Data;

/// <summary>
/// A flat file of token ids, tokenized once and memory-mapped for training (nanoGPT's train.bin, with a header).
/// Layout: a 64-byte header — magic "TAILTOK1", u32 version (1), u32 bytes per token (2 or 4), u32 vocabulary size,
/// u32 reserved, u64 token count, 32 bytes reserved — then the ids, little-endian. uint16 when the vocabulary fits.
/// </summary>
public sealed class TokenFile : IDisposable
{
    /// <summary>The eight bytes every token file starts with.</summary>
    public const string Magic = "TAILTOK1";

    /// <summary>Header size in bytes.</summary>
    public const int HeaderSize = 64;

    private const uint Version = 1;
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;

    private TokenFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, int bytesPerToken, int vocab, long count)
    {
        Path = path;
        _map = map;
        _view = view;
        BytesPerToken = bytesPerToken;
        VocabSize = vocab;
        Count = count;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>2 (uint16) or 4 (uint32).</summary>
    public int BytesPerToken { get; }

    /// <summary>Vocabulary size the ids were written for.</summary>
    public int VocabSize { get; }

    /// <summary>Number of token ids.</summary>
    public long Count { get; }

    /// <summary>
    /// Writes documents as one stream of ids, each document followed by <paramref name="separator"/> (usually EOS),
    /// atomically (temporary file, then rename). Returns the number of ids written.
    /// </summary>
    public static long Write(string path, IEnumerable<IReadOnlyList<int>> documents, int vocabSize, int? separator)
    {
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize));
        int width = vocabSize <= 65536 ? 2 : 4;
        string temp = path + ".tmp-" + Environment.ProcessId;
        long count = 0;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20))
        {
            stream.Write(new byte[HeaderSize]);
            var buffer = new byte[4];
            void Put(int id)
            {
                if ((uint)id >= (uint)vocabSize)
                    throw new TailorException($"{path}: token id {id} is outside the vocabulary [0, {vocabSize}); the tokenizer and vocab size disagree.");
                if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)id);
                else BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)id);
                stream.Write(buffer, 0, width);
                count++;
            }
            foreach (var doc in documents)
            {
                foreach (int id in doc) Put(id);
                if (separator is int s) Put(s);
            }
            stream.Position = 0;
            stream.Write(BuildHeader(width, vocabSize, count));
        }
        File.Move(temp, path, overwrite: true);
        return count;
    }

    /// <summary>Opens and validates a token file; errors name the file and what is wrong.</summary>
    public static TokenFile Open(string path)
    {
        if (!File.Exists(path)) throw new TailorException($"{path}: token file not found. Tokenize the corpus first (tailor pretrain does it).");
        long length = new FileInfo(path).Length;
        if (length < HeaderSize) throw new TailorException($"{path}: {length} bytes is shorter than the {HeaderSize}-byte header; the file is truncated. Delete it to re-tokenize.");
        var header = new byte[HeaderSize];
        using (var f = File.OpenRead(path)) f.ReadExactly(header);
        if (Encoding.ASCII.GetString(header, 0, 8) != Magic)
            throw new TailorException($"{path}: not a Tailor token file (magic is not {Magic}).");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        if (version != Version) throw new TailorException($"{path}: token file version {version}; this Tailor reads version {Version}. Re-tokenize.");
        int width = (int)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
        if (width is not (2 or 4)) throw new TailorException($"{path}: {width} bytes per token; expected 2 or 4.");
        int vocab = (int)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(16));
        long count = (long)BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(24));
        if (count < 0 || HeaderSize + count * width != length)
            throw new TailorException($"{path}: header says {count} tokens but the file holds {(length - HeaderSize) / width}; it is truncated or corrupt. Delete it to re-tokenize.");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        return new TokenFile(path, map, view, width, vocab, count);
    }

    /// <summary>Copies ids [offset, offset + destination.Length) into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<long> destination)
    {
        if (offset < 0 || offset + destination.Length > Count) throw new ArgumentOutOfRangeException(nameof(offset));
        long at = HeaderSize + offset * BytesPerToken;
        if (BytesPerToken == 2)
            for (int i = 0; i < destination.Length; i++) destination[i] = _view.ReadUInt16(at + 2L * i);
        else
            for (int i = 0; i < destination.Length; i++) destination[i] = _view.ReadUInt32(at + 4L * i);
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        _view.Dispose();
        _map.Dispose();
    }

    private static byte[] BuildHeader(int width, int vocab, long count)
    {
        var h = new byte[HeaderSize];
        Encoding.ASCII.GetBytes(Magic).CopyTo(h, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(12), (uint)width);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), (uint)vocab);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(24), (ulong)count);
        return h;
    }
}
