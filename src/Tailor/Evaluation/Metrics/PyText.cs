using System.Globalization;
using System.Numerics;
using System.Text;

namespace Tailor.Evaluation.Metrics;

/// <summary>
/// The few Python <c>str</c> behaviours the reference metrics depend on, reproduced exactly: what
/// <c>str.split()</c> and <c>str.rstrip()</c> call whitespace, what <c>str.lower()</c> produces, and how
/// <c>f"{x:.2f}"</c> rounds. .NET differs from Python on each of these at the edges (U+001C..U+001F are
/// whitespace to Python only; Python lowercases U+0130 to two code points and applies the final-sigma rule;
/// Python rounds exact ties to even), and any difference changes n-gram counts and hence scores.
/// </summary>
internal static class PyText
{
    /// <summary>Python's <c>str.isspace()</c> for one UTF-16 unit (no whitespace lies outside the BMP).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\u001C' && c <= '\u001F');

    /// <summary><c>' '.join(s.split())</c>: whitespace runs become one space, no leading or trailing space.</summary>
    public static string NormalizeSpaces(string s)
    {
        // Fast path: already normalized (the common case after a tokenizer).
        bool clean = s.Length == 0 || (!IsSpace(s[0]) && !IsSpace(s[^1]));
        for (int i = 1; clean && i < s.Length; i++)
        {
            char c = s[i];
            if (IsSpace(c) && (c != ' ' || IsSpace(s[i - 1])))
                clean = false;
        }
        return clean ? s : NormalizeSpaces(s.AsSpan());
    }

    /// <inheritdoc cref="NormalizeSpaces(string)"/>
    public static string NormalizeSpaces(ReadOnlySpan<char> s)
    {
        char[] buffer = new char[s.Length];
        int n = 0;
        int pos = 0;
        while (pos < s.Length)
        {
            while (pos < s.Length && IsSpace(s[pos]))
                pos++;
            if (pos == s.Length)
                break;
            if (n > 0)
                buffer[n++] = ' ';
            while (pos < s.Length && !IsSpace(s[pos]))
                buffer[n++] = s[pos++];
        }
        return new string(buffer, 0, n);
    }

    /// <summary><c>''.join(s.split())</c>: every whitespace character removed.</summary>
    public static string RemoveSpaces(string s)
    {
        int firstSpace = -1;
        for (int i = 0; i < s.Length; i++)
        {
            if (IsSpace(s[i]))
            {
                firstSpace = i;
                break;
            }
        }
        if (firstSpace < 0)
            return s;
        var sb = new StringBuilder(s.Length);
        sb.Append(s, 0, firstSpace);
        for (int i = firstSpace + 1; i < s.Length; i++)
        {
            if (!IsSpace(s[i]))
                sb.Append(s[i]);
        }
        return sb.ToString();
    }

    /// <summary><c>s.rstrip()</c>.</summary>
    public static string RStrip(string s)
    {
        int end = s.Length;
        while (end > 0 && IsSpace(s[end - 1]))
            end--;
        return end == s.Length ? s : s[..end];
    }

    /// <summary>
    /// Python's <c>str.lower()</c>: full lowercase mapping per code point (U+0130 becomes "i\u0307"), and
    /// capital sigma becomes final sigma (U+03C2) when a cased letter precedes it and none follows it,
    /// skipping case-ignorable characters either way (Unicode's Final_Sigma condition, as CPython applies it).
    /// </summary>
    public static string Lower(string s)
    {
        // Fast path: pure ASCII with no capitals stays as it is.
        bool asciiLower = true;
        foreach (char c in s)
        {
            if (c >= 0x80 || (c >= 'A' && c <= 'Z'))
            {
                asciiLower = false;
                break;
            }
        }
        if (asciiLower)
            return s;

        var sb = new StringBuilder(s.Length);
        int i = 0;
        while (i < s.Length)
        {
            char ch = s[i];
            if (ch < 0x80)
            {
                sb.Append(ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch);
                i++;
                continue;
            }
            if (Rune.DecodeFromUtf16(s.AsSpan(i), out Rune r, out int used) != System.Buffers.OperationStatus.Done)
            {
                // A lone surrogate: Python keeps it unchanged.
                sb.Append(s[i]);
                i += Math.Max(used, 1);
                continue;
            }
            if (r.Value == 0x0130)
                sb.Append("i\u0307");
            else if (r.Value == 0x03A3)
                sb.Append(IsFinalSigma(s, i) ? '\u03C2' : '\u03C3');
            else
                AppendRune(sb, Rune.ToLowerInvariant(r));
            i += r.Utf16SequenceLength;
        }
        return sb.ToString();
    }

    /// <summary>
    /// The code point at <paramref name="index"/>. A lone surrogate (invalid UTF-16) reads as U+FFFD of
    /// length 1: it has no letter category, which is all the callers ask of it.
    /// </summary>
    public static Rune ReadRune(string s, int index) =>
        Rune.DecodeFromUtf16(s.AsSpan(index), out Rune r, out _) == System.Buffers.OperationStatus.Done
            ? r
            : Rune.ReplacementChar;

    private static void AppendRune(StringBuilder sb, Rune r)
    {
        if (r.IsBmp)
        {
            sb.Append((char)r.Value);
        }
        else
        {
            Span<char> buf = stackalloc char[2];
            int n = r.EncodeToUtf16(buf);
            sb.Append(buf[..n]);
        }
    }

    /// <summary>
    /// Start offsets (UTF-16) of each code point of <paramref name="s"/>, plus <c>s.Length</c> at the end, so
    /// that the code points <c>[i, i+n)</c> are <c>s[offsets[i]..offsets[i+n]]</c>. Python indexes strings by
    /// code point, which matters for character n-grams over text with characters outside the BMP.
    /// </summary>
    public static int[] CodePointOffsets(string s, out int count)
    {
        int n = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (!(char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])))
                n++;
        }
        count = n;
        var offsets = new int[n + 1];
        int k = 0;
        for (int i = 0; i < s.Length; i++)
        {
            offsets[k++] = i;
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                i++;
        }
        offsets[n] = s.Length;
        return offsets;
    }

    private static bool IsFinalSigma(string s, int index)
    {
        // Look back past case-ignorable characters for a cased one.
        int j = index;
        Rune before = default;
        bool found = false;
        while (j > 0)
        {
            j--;
            if (char.IsLowSurrogate(s[j]) && j > 0 && char.IsHighSurrogate(s[j - 1]))
                j--;
            Rune r = ReadRune(s, j);
            if (!IsCaseIgnorable(r))
            {
                before = r;
                found = true;
                break;
            }
        }
        if (!found || !IsCased(before))
            return false;

        // Look ahead past case-ignorable characters: final unless a cased one follows.
        int k = index + 1;
        while (k < s.Length)
        {
            Rune r = ReadRune(s, k);
            if (!IsCaseIgnorable(r))
                return !IsCased(r);
            k += r.Utf16SequenceLength;
        }
        return true;
    }

    // Unicode's Cased property: Lu, Ll, Lt, plus the Other_Lowercase / Other_Uppercase code points.
    private static bool IsCased(Rune r)
    {
        switch (Rune.GetUnicodeCategory(r))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
                return true;
        }
        int v = r.Value;
        return v is 0x00AA or 0x00BA or 0x0345 or 0x037A or 0x1D78 or 0x2071 or 0x207F
            || (v >= 0x02B0 && v <= 0x02B8) || (v >= 0x02C0 && v <= 0x02C1) || (v >= 0x02E0 && v <= 0x02E4)
            || (v >= 0x1D2C && v <= 0x1D6A) || (v >= 0x1D9B && v <= 0x1DBF) || (v >= 0x2090 && v <= 0x209C)
            || (v >= 0x2160 && v <= 0x217F) || (v >= 0x24B6 && v <= 0x24E9);
    }

    // Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk, and Word_Break MidLetter/MidNumLet/Single_Quote.
    private static bool IsCaseIgnorable(Rune r)
    {
        switch (Rune.GetUnicodeCategory(r))
        {
            case UnicodeCategory.NonSpacingMark:
            case UnicodeCategory.EnclosingMark:
            case UnicodeCategory.Format:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.ModifierSymbol:
                return true;
        }
        return r.Value is 0x0027 or 0x002E or 0x003A or 0x00B7 or 0x0387 or 0x055F or 0x05F4 or 0x2018 or 0x2019
            or 0x2024 or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
    }

    /// <summary>
    /// <c>f"{value:.{digits}f}"</c>: the exact binary value rounded to <paramref name="digits"/> decimals,
    /// ties to even (.NET rounds the exact value too, but ties away from zero, e.g. 0.125 → "0.13" where
    /// Python prints "0.12").
    /// </summary>
    public static string FormatFixed(double value, int digits)
    {
        if (double.IsNaN(value))
            return "nan";
        if (double.IsInfinity(value))
            return value > 0 ? "inf" : "-inf";

        // value = mantissa * 2^exponent exactly; scale by 10^digits and round half to even in integers.
        long bits = BitConverter.DoubleToInt64Bits(value);
        bool negative = bits < 0;
        int exp = (int)((bits >> 52) & 0x7FF);
        long frac = bits & 0xFFFFFFFFFFFFFL;
        long mant = exp == 0 ? frac : frac | (1L << 52);
        int e2 = (exp == 0 ? 1 : exp) - 1075;

        BigInteger num = new BigInteger(mant) * BigInteger.Pow(10, digits);
        BigInteger rounded;
        if (e2 >= 0)
        {
            rounded = num << e2;
        }
        else
        {
            BigInteger den = BigInteger.One << -e2;
            BigInteger q = BigInteger.DivRem(num, den, out BigInteger rem);
            BigInteger twice = rem * 2;
            int cmp = twice.CompareTo(den);
            if (cmp > 0 || (cmp == 0 && !q.IsEven))
                q += 1;
            rounded = q;
        }

        string text = rounded.ToString(CultureInfo.InvariantCulture).PadLeft(digits + 1, '0');
        string result = digits == 0 ? text : text[..^digits] + "." + text[^digits..];
        return negative ? "-" + result : result;
    }
}
