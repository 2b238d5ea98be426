using System.Buffers;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Tailor.Text;

/// <summary>
/// Runs a .NET regex over text as if the engine matched whole code points, the way the Rust/Oniguruma (Hugging Face)
/// and JavaScript (<c>u</c> flag) engines do.
/// </summary>
/// <remarks>
/// Why: .NET regexes see UTF-16 code units, so an astral letter such as 𝐀 is two surrogates of category Cs, not
/// <c>\p{L}</c>, and Llama 3's <c>[^\r\n\p{L}\p{N}]?\p{L}+</c> splits "😀abc" as "😀" + "abc" where the reference tokenizers
/// give one piece. Microsoft.ML.Tokenizers' RegexPreTokenizer has the same limitation. The fix: before matching, each
/// surrogate pair is replaced by one BMP stand-in character of the same Unicode general category (never whitespace),
/// and match positions are mapped back. Text without surrogates, nearly all text, is matched directly.
/// </remarks>
internal sealed class CodePointRegex
{
    private static readonly char[] StandIns = BuildStandIns();

    private readonly Lazy<Regex> _regex;

    public CodePointRegex(Regex regex) => _regex = new Lazy<Regex>(regex);

    /// <summary>A regex built on first use (compiling costs milliseconds; a loaded file may never encode).</summary>
    public CodePointRegex(Func<Regex> factory) => _regex = new Lazy<Regex>(factory, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Appends to <paramref name="pieces"/> every match and every stretch between matches, in order, so that the pieces
    /// cover <paramref name="text"/> exactly (Hugging Face's "Isolated" split behaviour). Empty matches are skipped.
    /// </summary>
    public void SplitIsolated(ReadOnlyMemory<char> text, List<ReadOnlyMemory<char>> pieces)
    {
        ReadOnlySpan<char> span = text.Span;
        if (span.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            int last = 0;
            foreach (ValueMatch match in _regex.Value.EnumerateMatches(span))
            {
                if (match.Length == 0)
                    continue;
                if (match.Index > last)
                    pieces.Add(text[last..match.Index]);
                pieces.Add(text.Slice(match.Index, match.Length));
                last = match.Index + match.Length;
            }

            if (last < span.Length)
                pieces.Add(text[last..]);
            return;
        }

        char[] substituted = ArrayPool<char>.Shared.Rent(span.Length);
        int[] map = ArrayPool<int>.Shared.Rent(span.Length + 1);
        try
        {
            int n = 0;
            for (int i = 0; i < span.Length; i++)
            {
                map[n] = i;
                char c = span[i];
                if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
                {
                    UnicodeCategory category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, span[i + 1]));
                    substituted[n++] = StandIns[(int)category];
                    i++;
                }
                else
                {
                    substituted[n++] = c;
                }
            }

            map[n] = span.Length;
            int last = 0;
            foreach (ValueMatch match in _regex.Value.EnumerateMatches(substituted.AsSpan(0, n)))
            {
                if (match.Length == 0)
                    continue;
                int start = map[match.Index];
                int end = map[match.Index + match.Length];
                if (start > last)
                    pieces.Add(text[last..start]);
                pieces.Add(text[start..end]);
                last = end;
            }

            if (last < span.Length)
                pieces.Add(text[last..]);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(substituted);
            ArrayPool<int>.Shared.Return(map);
        }
    }

    // For each general category, a BMP character of that category above Latin-1 (so it cannot equal an ASCII literal in a
    // pattern) that is not whitespace. Astral code points are never whitespace, line breaks or surrogates.
    private static char[] BuildStandIns()
    {
        int count = Enum.GetValues<UnicodeCategory>().Length;
        char[] standIns = new char[count];
        for (int category = 0; category < count; category++)
        {
            standIns[category] = '\uFFFD';
            foreach ((int from, int to) in new[] { (0x100, 0xD7FF), (0xE000, 0xFFFF), (0x80, 0xFF) })
            {
                int found = -1;
                for (int c = from; c <= to; c++)
                {
                    if ((int)CharUnicodeInfo.GetUnicodeCategory((char)c) == category && !char.IsWhiteSpace((char)c))
                    {
                        found = c;
                        break;
                    }
                }

                if (found >= 0)
                {
                    standIns[category] = (char)found;
                    break;
                }
            }
        }

        return standIns;
    }
}
