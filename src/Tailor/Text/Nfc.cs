using System.Text;

namespace Tailor.Text;

/// <summary>
/// Unicode Normalization Form C (UAX #15), written by hand.
/// </summary>
/// <remarks>
/// Why by hand: the build sets <c>InvariantGlobalization</c>, and in that mode .NET's <see cref="string.Normalize()"/> is a
/// no-op; Microsoft.ML.Tokenizers has no NFC normalizer either. Qwen 2/3 tokenizer.json files start with an NFC
/// normalizer, so without this "cafe\u0301" would encode differently from the reference tokenizers.
/// The data tables (NfcTables.g.cs) are generated from the Unicode Character Database; the algorithm is the textbook one:
/// full canonical decomposition, canonical ordering of combining marks, canonical composition. Conformance is tested
/// against the Unicode NormalizationTest.txt.
/// </remarks>
internal static partial class Nfc
{
    // Hangul syllables decompose and compose arithmetically (Unicode chapter 3.12).
    private const int SBase = 0xAC00;
    private const int LBase = 0x1100;
    private const int VBase = 0x1161;
    private const int TBase = 0x11A7;
    private const int LCount = 19;
    private const int VCount = 21;
    private const int TCount = 28;
    private const int NCount = VCount * TCount;
    private const int SCount = LCount * NCount;

    private static readonly Dictionary<int, int> Classes = BuildClasses();
    private static readonly Dictionary<int, (int First, int Second)> Decompositions = BuildDecompositions();
    private static readonly Dictionary<long, int> Compositions = BuildCompositions();

    // One bit per BMP code unit: set when the character may change under NFC (a combining mark or NFC_QC No/Maybe).
    // Text with none of them set (and no astral characters that need work) is returned as is.
    private static readonly ulong[] BmpNeedsWork = BuildBmpNeedsWork();

    /// <summary>Returns <paramref name="text"/> in NFC; the same instance when it already is.</summary>
    public static string Normalize(string text)
    {
        if (IsQuickYes(text))
            return text;

        List<int> buffer = new(text.Length + 8);
        foreach (Rune rune in text.EnumerateRunes())
            Decompose(rune.Value, buffer);
        SortCombiningMarks(buffer);
        Compose(buffer);

        StringBuilder result = new(buffer.Count);
        foreach (int codePoint in buffer)
            result.Append(char.ConvertFromUtf32(codePoint));
        return result.ToString();
    }

    /// <summary>Returns <paramref name="text"/> in NFD (full canonical decomposition, canonical order); BERT's
    /// strip_accents decomposes and then drops the combining marks.</summary>
    public static string Decompose(string text)
    {
        List<int> buffer = new(text.Length + 8);
        foreach (Rune rune in text.EnumerateRunes())
            Decompose(rune.Value, buffer);
        SortCombiningMarks(buffer);
        StringBuilder result = new(buffer.Count);
        foreach (int codePoint in buffer)
            result.Append(char.ConvertFromUtf32(codePoint));
        return result.ToString();
    }

    private static bool IsQuickYes(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int codePoint = char.ConvertToUtf32(c, text[i + 1]);
                if (Classes.ContainsKey(codePoint) || InRanges(QuickCheckRanges, codePoint))
                    return false;
                i++;
            }
            else if ((BmpNeedsWork[c >> 6] & (1UL << (c & 63))) != 0)
            {
                return false;
            }
        }

        return true;
    }

    private static int CombiningClass(int codePoint) => Classes.TryGetValue(codePoint, out int value) ? value : 0;

    private static void Decompose(int codePoint, List<int> output)
    {
        int s = codePoint - SBase;
        if (s is >= 0 and < SCount)
        {
            output.Add(LBase + (s / NCount));
            output.Add(VBase + (s % NCount / TCount));
            if (s % TCount != 0)
                output.Add(TBase + (s % TCount));
            return;
        }

        if (Decompositions.TryGetValue(codePoint, out (int First, int Second) pair))
        {
            Decompose(pair.First, output);
            if (pair.Second >= 0)
                Decompose(pair.Second, output);
            return;
        }

        output.Add(codePoint);
    }

    // Canonical ordering: within each run of non-starters, a stable sort by combining class.
    private static void SortCombiningMarks(List<int> buffer)
    {
        for (int i = 1; i < buffer.Count; i++)
        {
            int cc = CombiningClass(buffer[i]);
            if (cc == 0)
                continue;
            int j = i;
            int current = buffer[i];
            while (j > 0 && CombiningClass(buffer[j - 1]) > cc)
            {
                buffer[j] = buffer[j - 1];
                j--;
            }

            buffer[j] = current;
        }
    }

    // Canonical composition: each character after a starter joins it when a primary composite exists and nothing
    // between them blocks it (a blocker has a class of 0 or at least the character's own class).
    private static void Compose(List<int> buffer)
    {
        if (buffer.Count == 0)
            return;

        int starterIndex = 0;
        int starter = buffer[0];
        int lastClass = CombiningClass(starter);
        if (lastClass != 0)
            lastClass = 256; // text that begins with a mark: nothing may compose with it
        int write = 1;

        for (int read = 1; read < buffer.Count; read++)
        {
            int c = buffer[read];
            int cc = CombiningClass(c);
            if ((lastClass < cc || lastClass == 0) && TryCompose(starter, c, out int composite))
            {
                buffer[starterIndex] = composite;
                starter = composite;
                continue;
            }

            if (cc == 0)
            {
                starterIndex = write;
                starter = c;
            }

            lastClass = cc;
            buffer[write++] = c;
        }

        buffer.RemoveRange(write, buffer.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        int l = first - LBase;
        int v = second - VBase;
        if (l is >= 0 and < LCount && v is >= 0 and < VCount)
        {
            composite = SBase + (((l * VCount) + v) * TCount);
            return true;
        }

        int s = first - SBase;
        int t = second - TBase;
        if (s is >= 0 and < SCount && s % TCount == 0 && t is > 0 and < TCount)
        {
            composite = first + t;
            return true;
        }

        return Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static bool InRanges(ReadOnlySpan<int> ranges, int codePoint)
    {
        int lo = 0;
        int hi = (ranges.Length / 2) - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (codePoint < ranges[2 * mid])
                hi = mid - 1;
            else if (codePoint > ranges[(2 * mid) + 1])
                lo = mid + 1;
            else
                return true;
        }

        return false;
    }

    private static Dictionary<int, int> BuildClasses()
    {
        ReadOnlySpan<int> data = CombiningClassData;
        Dictionary<int, int> classes = new(data.Length / 2);
        for (int i = 0; i < data.Length; i += 2)
            classes[data[i]] = data[i + 1];
        return classes;
    }

    private static Dictionary<int, (int, int)> BuildDecompositions()
    {
        ReadOnlySpan<int> data = DecompositionData;
        Dictionary<int, (int, int)> decompositions = new(data.Length / 3);
        for (int i = 0; i < data.Length; i += 3)
            decompositions[data[i]] = (data[i + 1], data[i + 2]);
        return decompositions;
    }

    private static Dictionary<long, int> BuildCompositions()
    {
        ReadOnlySpan<int> data = DecompositionData;
        Dictionary<long, int> compositions = new();
        for (int i = 0; i < data.Length; i += 3)
        {
            if (data[i + 2] < 0 || InRanges(CompositionExclusionRanges, data[i]))
                continue;
            compositions[((long)data[i + 1] << 21) | (uint)data[i + 2]] = data[i];
        }

        return compositions;
    }

    private static ulong[] BuildBmpNeedsWork()
    {
        ulong[] bits = new ulong[65536 / 64];
        void Set(int c)
        {
            if (c < 65536)
                bits[c >> 6] |= 1UL << (c & 63);
        }

        ReadOnlySpan<int> classes = CombiningClassData;
        for (int i = 0; i < classes.Length; i += 2)
            Set(classes[i]);
        ReadOnlySpan<int> ranges = QuickCheckRanges;
        for (int i = 0; i < ranges.Length; i += 2)
        {
            for (int c = ranges[i]; c <= ranges[i + 1]; c++)
                Set(c);
        }

        // Lone surrogates take the slow path, which turns them into U+FFFD like the rest of the pipeline does.
        for (int c = 0xD800; c <= 0xDFFF; c++)
            Set(c);
        return bits;
    }
}
