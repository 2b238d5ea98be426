using System.Buffers;

namespace Tailor.Text;

/// <summary>An entry of tokenizer.json's <c>added_tokens</c>: a token matched literally in text before normalization
/// and pre-tokenization (special tokens such as <c>&lt;|im_start|&gt;</c>, or Qwen's non-special <c>&lt;think&gt;</c>).</summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">The literal text.</param>
/// <param name="Special">Special tokens are matched only when asked (<c>parseSpecial</c>) and can be skipped on decode.</param>
/// <param name="SingleWord">Matched only when not inside a word.</param>
/// <param name="LStrip">The match swallows whitespace on its left.</param>
/// <param name="RStrip">The match swallows whitespace on its right.</param>
/// <param name="Normalized">Kept for writing back; Tailor always matches added tokens against the raw text.</param>
internal sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>
/// Finds added tokens in text: leftmost match first and, at one position, the longest token, as Hugging Face's
/// added-vocabulary matcher does. Written by hand because Microsoft.ML.Tokenizers' special-token splitting lives inside
/// its pre-tokenizers and cannot be turned off per call.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;
    private readonly SearchValues<char> _firstChars;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ThenBy(t => t.Content, StringComparer.Ordinal).ToArray());
        _firstChars = SearchValues.Create([.. _byFirstChar.Keys]);
    }

    /// <summary>True when there is nothing to match.</summary>
    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>
    /// Splits <paramref name="text"/> into segments in order: plain text (Token is null) and matched added tokens.
    /// With lstrip/rstrip a token's segment also covers the whitespace it swallows.
    /// </summary>
    public void Split(string text, List<(int Start, int Length, AddedToken? Token)> segments)
    {
        int segmentStart = 0;
        int position = 0;
        while (position < text.Length)
        {
            int found = text.AsSpan(position).IndexOfAny(_firstChars);
            if (found < 0)
                break;
            int at = position + found;
            AddedToken? match = Match(text, at);
            if (match is null)
            {
                position = at + 1;
                continue;
            }

            int start = at;
            int end = at + match.Content.Length;
            if (match.LStrip)
            {
                while (start > segmentStart && char.IsWhiteSpace(text[start - 1]))
                    start--;
            }

            if (match.RStrip)
            {
                while (end < text.Length && char.IsWhiteSpace(text[end]))
                    end++;
            }

            if (start > segmentStart)
                segments.Add((segmentStart, start - segmentStart, null));
            segments.Add((start, end - start, match));
            segmentStart = end;
            position = end;
        }

        if (segmentStart < text.Length)
            segments.Add((segmentStart, text.Length - segmentStart, null));
    }

    private AddedToken? Match(string text, int at)
    {
        if (!_byFirstChar.TryGetValue(text[at], out AddedToken[]? candidates))
            return null;
        ReadOnlySpan<char> rest = text.AsSpan(at);
        foreach (AddedToken token in candidates)
        {
            if (!rest.StartsWith(token.Content, StringComparison.Ordinal))
                continue;
            if (token.SingleWord && !IsWordBoundary(text, at, at + token.Content.Length))
                continue;
            return token;
        }

        return null;
    }

    private static bool IsWordBoundary(string text, int start, int end)
    {
        static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
        return (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));
    }
}
