namespace Tailor.Text;

/// <summary>
/// GPT-2's byte-to-character table: every byte value gets a printable character so that byte strings can be JSON
/// vocabulary keys. Printable Latin-1 bytes map to themselves; the other 68 (controls, space, NBSP, soft hyphen) map to
/// U+0100 upwards in byte order, which is why a leading space shows up as 'Ġ' (U+0120) in vocabularies.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers has this table too but keeps it internal; the trainer, the writer and the loader's
/// validation need it, so it is rebuilt here (the definition is GPT-2's <c>bytes_to_unicode</c>).
/// </remarks>
internal static class ByteLevelAlphabet
{
    /// <summary>Character for each byte value.</summary>
    public static readonly char[] ByteToChar = Build();

    // Inverse of ByteToChar over U+0000..U+0143; -1 where a character is not in the alphabet.
    private static readonly short[] CharToByte = BuildInverse();

    /// <summary>The byte a character stands for, or -1 when it is not one of the 256 alphabet characters.</summary>
    public static int ToByte(char c) => c < CharToByte.Length ? CharToByte[c] : -1;

    /// <summary>Writes the alphabet form of <paramref name="bytes"/> (one char per byte).</summary>
    public static string ToToken(ReadOnlySpan<byte> bytes)
    {
        char[] chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>True when every character of <paramref name="token"/> is in the alphabet.</summary>
    public static bool IsAlphabetToken(string token)
    {
        foreach (char c in token)
        {
            if (ToByte(c) < 0)
                return false;
        }

        return true;
    }

    private static char[] Build()
    {
        char[] map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static short[] BuildInverse()
    {
        short[] inverse = new short[256 + 68];
        Array.Fill(inverse, (short)-1);
        for (int b = 0; b < 256; b++)
            inverse[ByteToChar[b]] = (short)b;
        return inverse;
    }
}
