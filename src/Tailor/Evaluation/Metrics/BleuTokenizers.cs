using System.Globalization;
using System.Text;

namespace Tailor.Evaluation.Metrics;

/// <summary>
/// sacreBLEU 2.6.0's word tokenizers for BLEU: <c>13a</c> (mteval-v13a, the default), <c>intl</c>
/// (mteval-v14 international), <c>char</c> and <c>none</c>. Each returns a string whose tokens are separated
/// by single spaces, so that an n-gram is a contiguous slice of it.
/// </summary>
/// <remarks>
/// The regular expressions of the reference are all one- or two-character patterns applied one after another
/// with <c>re.sub</c>. A left-to-right scan that emits the replacement and skips both characters on a match is
/// exactly <c>re.sub</c>'s leftmost, non-overlapping semantics for such patterns, so each pass is written as one.
/// </remarks>
internal static class BleuTokenizers
{
    /// <summary>Names accepted by <see cref="BleuOptions.Tokenize"/>.</summary>
    public static readonly IReadOnlyList<string> Supported = ["13a", "none", "intl", "char"];

    /// <summary>Tokenizes one (lowercased, right-stripped) segment and joins its tokens with single spaces.</summary>
    public static string Tokenize(string line, string tokenizer) => tokenizer switch
    {
        "13a" => Tokenize13a(line),
        "intl" => TokenizeIntl(line),
        "char" => PyText.NormalizeSpaces(TokenizeChar(line)),
        "none" => PyText.NormalizeSpaces(line),
        _ => throw new ArgumentException(
            $"BleuOptions.Tokenize: unknown tokenizer '{tokenizer}'. Use one of: {string.Join(", ", Supported)} "
            + "(sacreBLEU's zh, ja-mecab, ko-mecab and spm tokenizers are not ported).", nameof(tokenizer)),
    };

    /// <summary>mteval-v13a as sacreBLEU implements it (<c>tokenizer_13a.py</c> + <c>tokenizer_re.py</c>).</summary>
    public static string Tokenize13a(string line)
    {
        line = line.Replace("<skipped>", "", StringComparison.Ordinal)
            .Replace("-\n", "", StringComparison.Ordinal)
            .Replace("\n", " ", StringComparison.Ordinal);
        if (line.Contains('&', StringComparison.Ordinal))
        {
            line = line.Replace("&quot;", "\"", StringComparison.Ordinal)
                .Replace("&amp;", "&", StringComparison.Ordinal)
                .Replace("&lt;", "<", StringComparison.Ordinal)
                .Replace("&gt;", ">", StringComparison.Ordinal);
        }

        // Each pass reads one buffer and writes the other; a pass at most triples (pass 1) or doubles the length.
        var a = new char[3 * line.Length + 2];
        int na = 0;

        // Pass 1: ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> ' \1 ', over ' ' + line + ' '.
        a[na++] = ' ';
        foreach (char c in line)
        {
            if (Is13aSymbol(c))
            {
                a[na++] = ' ';
                a[na++] = c;
                a[na++] = ' ';
            }
            else
            {
                a[na++] = c;
            }
        }
        a[na++] = ' ';

        // Pass 2: ([^0-9])([\.,]) -> '\1 \2 '  (period or comma not preceded by a digit).
        var b = new char[2 * na];
        int nb = 0;
        for (int i = 0; i < na; i++)
        {
            char c = a[i];
            if (i + 1 < na && !IsAsciiDigit(c) && IsPeriodOrComma(a[i + 1]))
            {
                b[nb++] = c;
                b[nb++] = ' ';
                b[nb++] = a[++i];
                b[nb++] = ' ';
            }
            else
            {
                b[nb++] = c;
            }
        }

        // Pass 3: ([\.,])([^0-9]) -> ' \1 \2'  (period or comma not followed by a digit).
        if (a.Length < 2 * nb)
            a = new char[2 * nb];
        na = 0;
        for (int i = 0; i < nb; i++)
        {
            char c = b[i];
            if (i + 1 < nb && IsPeriodOrComma(c) && !IsAsciiDigit(b[i + 1]))
            {
                a[na++] = ' ';
                a[na++] = c;
                a[na++] = ' ';
                a[na++] = b[++i];
            }
            else
            {
                a[na++] = c;
            }
        }

        // Pass 4: ([0-9])(-) -> '\1 \2 '  (dash preceded by a digit).
        if (b.Length < 2 * na)
            b = new char[2 * na];
        nb = 0;
        for (int i = 0; i < na; i++)
        {
            char c = a[i];
            if (i + 1 < na && IsAsciiDigit(c) && a[i + 1] == '-')
            {
                b[nb++] = c;
                b[nb++] = ' ';
                b[nb++] = '-';
                b[nb++] = ' ';
                i++;
            }
            else
            {
                b[nb++] = c;
            }
        }

        return PyText.NormalizeSpaces(b.AsSpan(0, nb));
    }

    // The character class [\{-\~\[-\` -\&\(-\+\:-\@\/] of the first 13a rule: { | } ~, [ \ ] ^ _ `,
    // space ! " # $ % &, ( ) * +, : ; < = > ? @, and /. Apostrophe, hyphen, period and comma are not in it.
    private static bool Is13aSymbol(char c) =>
        (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&')
        || (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';

    private static bool IsAsciiDigit(char c) => c >= '0' && c <= '9';

    private static bool IsPeriodOrComma(char c) => c == '.' || c == ',';

    /// <summary>
    /// mteval-v14 "international" tokenization (<c>tokenizer_intl.py</c>): punctuation (\p{P}) is split off
    /// unless it sits between digits, and symbols (\p{S}) are always split off. Works on code points, as the
    /// Python <c>regex</c> module does, so that symbols outside the BMP (emoji) are recognised.
    /// </summary>
    public static string TokenizeIntl(string line)
    {
        // Decode once into code points; the three passes then work on ints.
        var cps = new List<int>(line.Length);
        for (int i = 0; i < line.Length;)
        {
            Rune r = PyText.ReadRune(line, i);
            cps.Add(char.IsSurrogate(line[i]) && r == Rune.ReplacementChar ? line[i] : r.Value);
            i += r.Utf16SequenceLength;
        }

        const int Space = ' ';
        var next = new List<int>(cps.Count * 2);

        // Pass 1: (\P{N})(\p{P}) -> '\1 \2 '.
        for (int i = 0; i < cps.Count; i++)
        {
            if (i + 1 < cps.Count && !IsNumber(cps[i]) && IsPunctuation(cps[i + 1]))
            {
                next.Add(cps[i]);
                next.Add(Space);
                next.Add(cps[i + 1]);
                next.Add(Space);
                i++;
            }
            else
            {
                next.Add(cps[i]);
            }
        }

        // Pass 2: (\p{P})(\P{N}) -> ' \1 \2'.
        (cps, next) = (next, cps);
        next.Clear();
        for (int i = 0; i < cps.Count; i++)
        {
            if (i + 1 < cps.Count && IsPunctuation(cps[i]) && !IsNumber(cps[i + 1]))
            {
                next.Add(Space);
                next.Add(cps[i]);
                next.Add(Space);
                next.Add(cps[i + 1]);
                i++;
            }
            else
            {
                next.Add(cps[i]);
            }
        }

        // Pass 3: (\p{S}) -> ' \1 '.
        var sb = new StringBuilder(next.Count + 16);
        foreach (int cp in next)
        {
            if (IsSymbol(cp))
            {
                sb.Append(' ');
                AppendCodePoint(sb, cp);
                sb.Append(' ');
            }
            else
            {
                AppendCodePoint(sb, cp);
            }
        }
        return PyText.NormalizeSpaces(sb.ToString());
    }

    /// <summary>sacreBLEU's <c>char</c> tokenizer: every code point separated by a space.</summary>
    public static string TokenizeChar(string line)
    {
        var sb = new StringBuilder(line.Length * 2);
        for (int i = 0; i < line.Length;)
        {
            int len = char.IsHighSurrogate(line[i]) && i + 1 < line.Length && char.IsLowSurrogate(line[i + 1]) ? 2 : 1;
            if (sb.Length > 0)
                sb.Append(' ');
            sb.Append(line, i, len);
            i += len;
        }
        return sb.ToString();
    }

    private static void AppendCodePoint(StringBuilder sb, int cp)
    {
        if (cp < 0x10000)
            sb.Append((char)cp);
        else
            sb.Append(char.ConvertFromUtf32(cp));
    }

    private static UnicodeCategory Category(int cp) =>
        cp >= 0xD800 && cp <= 0xDFFF ? UnicodeCategory.Surrogate : CharUnicodeInfo.GetUnicodeCategory(cp);

    private static bool IsNumber(int cp) => Category(cp) is UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    private static bool IsPunctuation(int cp) => Category(cp) is UnicodeCategory.ConnectorPunctuation
        or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
        or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
        or UnicodeCategory.OtherPunctuation;

    private static bool IsSymbol(int cp) => Category(cp) is UnicodeCategory.MathSymbol
        or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol;
}
