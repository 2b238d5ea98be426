using System.Text;

namespace Tailor.Data;

/// <summary>Checks that a file is UTF-8 text before a reader decodes it (a decoder would silently turn bad bytes into U+FFFD).</summary>
public static class Utf8Text
{
    /// <summary>
    /// Reads <paramref name="path"/> once, in blocks, and throws a <see cref="TailorException"/> naming the file, line and
    /// byte when it is UTF-16 (a UTF-16 byte-order mark), holds a NUL byte (a binary file, or UTF-16 without a mark) or a
    /// byte sequence that is not UTF-8 (Latin-1, Windows-1252 ...). A UTF-8 byte-order mark is fine.
    /// </summary>
    public static void Require(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.OpenRead(path);
        byte[] buffer = new byte[1 << 16];
        int carry = 0;
        long offset = 0, line = 1;
        bool first = true;
        while (true)
        {
            int read = stream.ReadAtLeast(buffer.AsSpan(carry), buffer.Length - carry, throwOnEndOfStream: false);
            int length = carry + read;
            bool end = length < buffer.Length;
            var span = buffer.AsSpan(0, length);
            if (first && length >= 2 && (span[..2].SequenceEqual(new byte[] { 0xFF, 0xFE }) || span[..2].SequenceEqual(new byte[] { 0xFE, 0xFF })))
                throw new TailorException($"{path}: the file is UTF-16 (it starts with a UTF-16 byte-order mark); Tailor reads UTF-8. Convert it: iconv -f UTF-16 -t UTF-8 {path} > {Path.GetFileNameWithoutExtension(path)}.utf8{Path.GetExtension(path)}");
            first = false;
            int i = 0;
            while (i < length)
            {
                byte b = span[i];
                if (b < 0x80)
                {
                    if (b == 0)
                        throw new TailorException($"{path}:{line}: byte {offset + i} is NUL, so this is a binary file or UTF-16 without a byte-order mark, not UTF-8 text. Give a UTF-8 text or JSONL file (convert UTF-16 with iconv -f UTF-16 -t UTF-8).");
                    if (b == '\n') line++;
                    i++;
                    continue;
                }
                var status = Rune.DecodeFromUtf8(span[i..], out _, out int consumed);
                if (status == System.Buffers.OperationStatus.Done)
                {
                    i += consumed;
                    continue;
                }
                if (status == System.Buffers.OperationStatus.NeedMoreData && !end) break;        // finish it with the next block
                throw new TailorException($"{path}:{line}: byte {offset + i} (0x{b:X2}) is not valid UTF-8; Tailor reads UTF-8 text. Convert the file (for Latin-1: iconv -f LATIN1 -t UTF-8) or fix the line.");
            }
            if (end) return;
            carry = length - i;
            span[i..].CopyTo(buffer);
            offset += i;
        }
    }
}
