using System.Text;

namespace Tailor.Text;

/// <summary>
/// Brings a Jinja chat template to a canonical string, so that two templates which differ only in spelling that cannot
/// change the output compare equal (see <see cref="ChatTemplate.IsChatMl"/> for the list). It is deliberately not a
/// Jinja engine: anything it does not understand stays as it is written, so the worst case is a false "different".
/// </summary>
/// <remarks>
/// Whitespace rules follow what transformers (and <c>@huggingface/jinja</c>) render with: one trailing newline of the
/// template dropped, <c>-</c> markers strip all whitespace on their side, trim_blocks drops the first newline after a
/// block or comment tag, lstrip_blocks drops spaces and tabs between a line start and a block or comment tag.
/// </remarks>
internal static class ChatTemplateNormalizer
{
    private enum Kind { Text, Output, Statement, Comment }

    private sealed record Piece(Kind Kind, string Body, bool TrimLeft = false, bool TrimRight = false, bool KeepLeft = false, bool KeepRight = false);

    private enum TokenType { Str, Ident, Num, Op }

    private readonly record struct Token(TokenType Type, string Text);

    private static readonly HashSet<string> LowPrecedenceWords = new(["if", "else", "and", "or", "not", "in", "is"], StringComparer.Ordinal);

    /// <summary>The canonical form, or null when the template is not well-formed (an unterminated tag or string).</summary>
    public static string? Normalize(string template)
    {
        if (template.EndsWith('\n')) template = template[..^1];
        List<Piece>? pieces = Split(template);
        if (pieces is null) return null;

        List<string> items = [];
        List<(bool Literal, string Text)> run = [];
        List<Dictionary<string, string>> scopes = [];
        for (int i = 0; i < pieces.Count; i++)
        {
            Piece piece = pieces[i];
            switch (piece.Kind)
            {
                case Kind.Text:
                    string text = ControlWhitespace(piece.Body, i == 0 ? null : pieces[i - 1], i + 1 < pieces.Count ? pieces[i + 1] : null, atTemplateStart: i == 0);
                    run.Add((true, text));
                    break;
                case Kind.Comment:
                    break;
                case Kind.Output:
                    List<Token>? expression = Tokenize(piece.Body);
                    if (expression is null) return null;
                    foreach (List<Token> term in Terms(Rename(Attributes(expression), scopes)))
                        run.Add(term.Count == 1 && term[0].Type == TokenType.Str ? (true, term[0].Text) : (false, Serialize(term)));
                    break;
                case Kind.Statement:
                    List<Token>? statement = Tokenize(piece.Body);
                    if (statement is null) return null;
                    Flush(run, items);
                    items.Add("S:" + Serialize(Scope(Attributes(statement), scopes)));
                    break;
            }
        }

        Flush(run, items);
        return string.Join('\u0001', items);
    }

    // A run of outputs and literal text is one concatenation: adjacent literals merge, empty ones vanish.
    private static void Flush(List<(bool Literal, string Text)> run, List<string> items)
    {
        if (run.Count == 0) return;
        List<string> terms = [];
        StringBuilder literal = new();
        foreach ((bool isLiteral, string text) in run)
        {
            if (isLiteral)
            {
                literal.Append(text);
                continue;
            }

            if (literal.Length > 0) terms.Add(Quote(literal.ToString()));
            literal.Clear();
            terms.Add(text);
        }

        if (literal.Length > 0) terms.Add(Quote(literal.ToString()));
        run.Clear();
        if (terms.Count > 0) items.Add("O:" + string.Join(" + ", terms));
    }

    private static List<Piece>? Split(string template)
    {
        List<Piece> pieces = [];
        int i = 0;
        while (i < template.Length)
        {
            int open = NextOpen(template, i);
            if (open < 0)
            {
                pieces.Add(new Piece(Kind.Text, template[i..]));
                break;
            }

            if (open > i) pieces.Add(new Piece(Kind.Text, template[i..open]));
            char second = template[open + 1];
            int close = second == '#' ? template.IndexOf("#}", open + 2, StringComparison.Ordinal) : FindClose(template, open + 2, second == '{' ? '}' : '%');
            if (close < 0) return null;
            string body = template[(open + 2)..close];
            bool trimLeft = body.StartsWith('-'), keepLeft = body.StartsWith('+');
            bool trimRight = body.EndsWith('-'), keepRight = body.EndsWith('+');
            body = body[(trimLeft || keepLeft ? 1 : 0)..];
            if ((trimRight || keepRight) && body.Length > 0) body = body[..^1];
            Kind kind = second switch { '{' => Kind.Output, '%' => Kind.Statement, _ => Kind.Comment };
            pieces.Add(new Piece(kind, body, trimLeft, trimRight, keepLeft, keepRight));
            i = close + 2;
        }

        return pieces;
    }

    private static int NextOpen(string s, int from)
    {
        for (int i = from; i + 1 < s.Length; i++)
        {
            if (s[i] == '{' && s[i + 1] is '{' or '%' or '#') return i;
        }

        return -1;
    }

    // The closing "}}" or "%}" of a tag, skipping string literals (a "}}" inside quotes does not close it).
    private static int FindClose(string s, int from, char closer)
    {
        char quote = '\0';
        for (int i = from; i < s.Length; i++)
        {
            char c = s[i];
            if (quote != '\0')
            {
                if (c == '\\') i++;
                else if (c == quote) quote = '\0';
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == closer && i + 1 < s.Length && s[i + 1] == '}')
            {
                return i;
            }
        }

        return -1;
    }

    private static string ControlWhitespace(string text, Piece? previous, Piece? next, bool atTemplateStart)
    {
        int start = 0, end = text.Length;
        if (next is { Kind: Kind.Statement or Kind.Comment, KeepLeft: false, TrimLeft: false })
        {
            // lstrip_blocks: spaces and tabs from a line start up to the tag.
            int k = end;
            while (k > 0 && text[k - 1] is ' ' or '\t') k--;
            if (k == 0 ? atTemplateStart : text[k - 1] == '\n') end = k;
        }

        if (previous is { Kind: Kind.Statement or Kind.Comment, KeepRight: false, TrimRight: false } && text.StartsWith('\n'))
            start = 1; // trim_blocks
        string result = start >= end ? "" : text[start..end];
        if (previous is { TrimRight: true }) result = result.TrimStart();
        if (next is { TrimLeft: true }) result = result.TrimEnd();
        return result;
    }

    private static List<Token>? Tokenize(string body)
    {
        List<Token> tokens = [];
        int i = 0;
        while (i < body.Length)
        {
            char c = body[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c is '\'' or '"')
            {
                StringBuilder value = new();
                int j = i + 1;
                for (; j < body.Length && body[j] != c; j++)
                {
                    if (body[j] != '\\' || j + 1 >= body.Length)
                    {
                        value.Append(body[j]);
                        continue;
                    }

                    j++;
                    value.Append(body[j] switch
                    {
                        'n' => "\n", 't' => "\t", 'r' => "\r", 'b' => "\b", 'f' => "\f", 'v' => "\v",
                        '\'' => "'", '"' => "\"", '\\' => "\\",
                        char other => "\\" + other,
                    });
                }

                if (j >= body.Length) return null;
                tokens.Add(new Token(TokenType.Str, value.ToString()));
                i = j + 1;
            }
            else if (char.IsLetter(c) || c == '_')
            {
                int j = i;
                while (j < body.Length && (char.IsLetterOrDigit(body[j]) || body[j] == '_')) j++;
                tokens.Add(new Token(TokenType.Ident, body[i..j]));
                i = j;
            }
            else if (char.IsDigit(c))
            {
                int j = i;
                while (j < body.Length && (char.IsDigit(body[j]) || body[j] == '.')) j++;
                tokens.Add(new Token(TokenType.Num, body[i..j]));
                i = j;
            }
            else
            {
                string two = i + 1 < body.Length ? body.Substring(i, 2) : "";
                string op = two is "==" or "!=" or "<=" or ">=" or "//" or "**" ? two : c.ToString();
                tokens.Add(new Token(TokenType.Op, op));
                i += op.Length;
            }
        }

        return tokens;
    }

    // x.name → x['name'], so attribute and subscript spellings agree.
    private static List<Token> Attributes(List<Token> tokens)
    {
        List<Token> result = new(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            Token t = tokens[i];
            bool afterValue = result.Count > 0 && (result[^1].Type is TokenType.Ident or TokenType.Str || result[^1].Text is ")" or "]");
            if (t is { Type: TokenType.Op, Text: "." } && afterValue && i + 1 < tokens.Count && tokens[i + 1].Type == TokenType.Ident)
            {
                result.Add(new Token(TokenType.Op, "["));
                result.Add(new Token(TokenType.Str, tokens[i + 1].Text));
                result.Add(new Token(TokenType.Op, "]"));
                i++;
            }
            else
            {
                result.Add(t);
            }
        }

        return result;
    }

    // for-loops: the loop variables get names by nesting depth, so "for m in messages" equals "for message in messages".
    private static List<Token> Scope(List<Token> statement, List<Dictionary<string, string>> scopes)
    {
        if (statement.Count > 0 && statement[0] is { Type: TokenType.Ident, Text: "endfor" })
        {
            if (scopes.Count > 0) scopes.RemoveAt(scopes.Count - 1);
            return statement;
        }

        if (statement.Count == 0 || statement[0] is not { Type: TokenType.Ident, Text: "for" }) return Rename(statement, scopes);
        int inAt = statement.FindIndex(t => t is { Type: TokenType.Ident, Text: "in" });
        if (inAt < 0) return Rename(statement, scopes);
        Dictionary<string, string> names = new(StringComparer.Ordinal);
        for (int i = 1; i < inAt; i++)
        {
            if (statement[i].Type == TokenType.Ident) names.TryAdd(statement[i].Text, $"__loop{scopes.Count + 1}_{names.Count}");
        }

        List<Token> header = Rename(statement[..inAt], [.. scopes, names]);
        List<Token> rest = Rename(statement[inAt..], scopes);
        scopes.Add(names);
        return [.. header, .. rest];
    }

    private static List<Token> Rename(List<Token> tokens, List<Dictionary<string, string>> scopes)
    {
        if (scopes.Count == 0) return tokens;
        List<Token> result = new(tokens.Count);
        foreach (Token t in tokens)
        {
            string? renamed = null;
            if (t.Type == TokenType.Ident)
            {
                for (int s = scopes.Count - 1; s >= 0 && renamed is null; s--) scopes[s].TryGetValue(t.Text, out renamed);
            }

            result.Add(renamed is null ? t : new Token(TokenType.Ident, renamed));
        }

        return result;
    }

    // Splits "a + 'b' + c" into its terms when '+' is the only top-level operator besides filters; anything else
    // (arithmetic, comparisons, conditionals) stays one opaque term.
    private static List<List<Token>> Terms(List<Token> tokens)
    {
        List<List<Token>> terms = [[]];
        int depth = 0;
        foreach (Token t in tokens)
        {
            if (t.Type == TokenType.Op && t.Text is "(" or "[" or "{") depth++;
            else if (t.Type == TokenType.Op && t.Text is ")" or "]" or "}") depth--;
            else if (depth == 0 && t.Type == TokenType.Op && t.Text == "+")
            {
                terms.Add([]);
                continue;
            }
            else if (depth == 0 && ((t.Type == TokenType.Op && t.Text != "|") || (t.Type == TokenType.Ident && LowPrecedenceWords.Contains(t.Text))))
            {
                return [tokens];
            }

            terms[^1].Add(t);
        }

        return terms.Any(term => term.Count == 0) ? [tokens] : terms;
    }

    private static string Serialize(List<Token> tokens) =>
        string.Join(' ', tokens.Select(t => t.Type == TokenType.Str ? Quote(t.Text) : t.Text));

    private static string Quote(string value) =>
        "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "'";
}
