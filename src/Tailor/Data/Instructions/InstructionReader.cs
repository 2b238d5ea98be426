using System.Text;
using System.Text.Json;
using Tailor.Text;

namespace Tailor.Data.Instructions;

/// <summary>The file formats <see cref="InstructionReader"/> understands.</summary>
public enum InstructionFormat
{
    /// <summary>Decide from the first non-blank line (see <see cref="InstructionReader.Detect"/>).</summary>
    Auto,

    /// <summary>Alpaca JSONL: <c>{"instruction", "input"?, "output"}</c>. The user message is the instruction, followed
    /// by a blank line and the input when the input is not empty; the assistant message is the output.</summary>
    Alpaca,

    /// <summary>OpenAI-style chat JSONL: <c>{"messages": [{"role": "system|user|assistant", "content": "..."}]}</c>.</summary>
    Chat,

    /// <summary>ShareGPT JSONL: <c>{"conversations": [{"from": "human|gpt|system", "value": "..."}]}</c>.</summary>
    ShareGpt,

    /// <summary>Raw text, one document per line (blank lines skipped). Each document is one assistant message.</summary>
    Text,

    /// <summary>Text JSONL: <c>{"text": "..."}</c> per line. Each document is one assistant message.</summary>
    TextJsonl,
}

/// <summary>How to read an instruction file.</summary>
/// <param name="Format">The format, or <see cref="InstructionFormat.Auto"/> to detect it from the first non-blank line.</param>
/// <param name="SkipBad">Skip malformed lines and count them in <see cref="InstructionReadResult.Skipped"/> instead of
/// throwing at the first one.</param>
public sealed record InstructionReadOptions(InstructionFormat Format = InstructionFormat.Auto, bool SkipBad = false);

/// <summary>One kind of problem among the skipped lines.</summary>
/// <param name="Reason">The problem with indices left out, e.g. <c>messages[].role is not one of system, user, assistant</c>.</param>
/// <param name="Count">How many lines had it.</param>
/// <param name="FirstLines">The first few of those lines (1-based), at most <see cref="SkipReport.LinesKept"/>.</param>
public sealed record SkippedReason(string Reason, int Count, IReadOnlyList<int> FirstLines);

/// <summary>What a reader with <c>SkipBad</c> left out: reason → count and first line numbers.</summary>
public sealed class SkipReport
{
    /// <summary>How many line numbers are kept per reason.</summary>
    public const int LinesKept = 5;

    internal SkipReport(string source, IReadOnlyList<SkippedReason> reasons)
    {
        Source = source;
        Reasons = reasons;
        Total = reasons.Sum(r => r.Count);
    }

    /// <summary>The file the report is about.</summary>
    public string Source { get; }

    /// <summary>Number of lines skipped.</summary>
    public int Total { get; }

    /// <summary>The reasons, most frequent first (ties: the one seen first).</summary>
    public IReadOnlyList<SkippedReason> Reasons { get; }

    /// <summary>One line per reason, e.g. <c>train.jsonl: skipped 3 lines: 2 × field "output" is missing (lines 4, 9)</c>.</summary>
    public override string ToString()
    {
        if (Total == 0) return $"{Source}: no lines skipped";
        StringBuilder text = new($"{Source}: skipped {Total} line{(Total == 1 ? "" : "s")}:");
        foreach (SkippedReason r in Reasons)
        {
            string more = r.Count > r.FirstLines.Count ? ", ..." : "";
            text.Append($"\n  {r.Count} × {r.Reason} (line{(r.FirstLines.Count == 1 ? "" : "s")} {string.Join(", ", r.FirstLines)}{more})");
        }

        return text.ToString();
    }
}

/// <summary>The examples of one file, the format they were read as, and what was skipped.</summary>
/// <param name="Examples">The examples, in file order.</param>
/// <param name="Format">The format used (the detected one when <see cref="InstructionFormat.Auto"/> was asked for).</param>
/// <param name="Skipped">Lines left out (always empty unless <see cref="InstructionReadOptions.SkipBad"/>).</param>
public sealed record InstructionReadResult(IReadOnlyList<ChatExample> Examples, InstructionFormat Format, SkipReport Skipped);

/// <summary>
/// Reads instruction-tuning files (Alpaca, OpenAI-style chat, ShareGPT, raw text) into <see cref="ChatExample"/>s.
/// </summary>
/// <remarks>
/// A malformed line is a <see cref="TailorException"/> whose message starts with <c>file:line:</c> and names the field,
/// e.g. <c>train.jsonl:17: field "output" is missing</c> or <c>train.jsonl:3: messages[2].role 'robot' is not one of
/// system, user, assistant</c>; with <see cref="InstructionReadOptions.SkipBad"/> such lines are counted instead.
/// Blank lines are always skipped silently. Contents are kept exactly (no trimming); empty instructions and outputs are
/// malformed, as is a conversation without an assistant message (nothing to learn from).
/// </remarks>
public static class InstructionReader
{
    /// <summary>Reads a file. See <see cref="InstructionReader"/> for the error contract.</summary>
    public static InstructionReadResult Read(string path, InstructionReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new TailorException($"{path}: instruction file not found. Pass a JSONL file (Alpaca, chat or ShareGPT) or a text file.");
        Utf8Text.Require(path);
        using StreamReader reader = new(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(reader, path, options);
    }

    /// <summary>
    /// Reads lines from <paramref name="reader"/>; <paramref name="source"/> names it in messages and examples. When the
    /// first non-blank character is <c>[</c> (and the format is not forced to Text) the whole input is one JSON array of
    /// records, as Alpaca's <c>alpaca_data.json</c> ships: each element is read as a JSONL line would be, and messages name
    /// the line the element starts on and its index.
    /// </summary>
    public static InstructionReadResult Read(TextReader reader, string source, InstructionReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(source);
        options ??= new InstructionReadOptions();
        InstructionFormat format = options.Format;
        List<ChatExample> examples = [];
        Dictionary<string, (int Count, List<int> Lines, int Order)> skipped = new(StringComparer.Ordinal);
        int lineNumber = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (examples.Count == 0 && skipped.Count == 0 && format != InstructionFormat.Text && line.TrimStart('\uFEFF', ' ', '\t').StartsWith('['))
            {
                format = ReadArray(line + "\n" + reader.ReadToEnd(), source, lineNumber, format, Add);
                break;
            }
            if (format == InstructionFormat.Auto) format = Detect(line, source, lineNumber);
            try
            {
                examples.Add(new ChatExample(ParseLine(line, format), source, lineNumber));
            }
            catch (LineException e)
            {
                Skip(e, lineNumber, "");
            }
        }

        void Add(Func<List<ChatMessage>> parse, int at, string record)
        {
            try
            {
                examples.Add(new ChatExample(parse(), source, at));
            }
            catch (LineException e)
            {
                Skip(e, at, record);
            }
        }

        void Skip(LineException e, int at, string record)
        {
            if (!options.SkipBad)
                throw new TailorException($"{source}:{at}: {record}{e.Message}. Fix the {(record.Length > 0 ? "record" : "line")}, or read with skipBad to skip malformed lines and count them.");
            if (!skipped.TryGetValue(e.Reason, out var entry)) entry = (0, [], skipped.Count);
            if (entry.Lines.Count < SkipReport.LinesKept) entry.Lines.Add(at);
            skipped[e.Reason] = (entry.Count + 1, entry.Lines, entry.Order);
        }

        List<SkippedReason> reasons = [.. skipped
            .OrderByDescending(kv => kv.Value.Count).ThenBy(kv => kv.Value.Order)
            .Select(kv => new SkippedReason(kv.Key, kv.Value.Count, kv.Value.Lines))];
        return new InstructionReadResult(examples, format == InstructionFormat.Auto ? InstructionFormat.Text : format, new SkipReport(source, reasons));
    }

    /// <summary>
    /// The format of a file from its first non-blank line: a JSON object with <c>messages</c> is chat, with
    /// <c>conversations</c> ShareGPT, with <c>instruction</c> Alpaca, with <c>text</c> text JSONL; a line that does not
    /// start with <c>{</c> means raw text. A line that starts with <c>{</c> but is not a JSON object, or an object with
    /// none of those keys, is an error naming <c>source:line</c> (force the format to read such a file anyway).
    /// </summary>
    public static InstructionFormat Detect(string firstLine, string source, int line = 1)
    {
        ArgumentNullException.ThrowIfNull(firstLine);
        string trimmed = firstLine.TrimStart('\uFEFF', ' ', '\t');
        if (!trimmed.StartsWith('{')) return InstructionFormat.Text;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(trimmed);
            return DetectRecord(doc.RootElement, source, line);
        }
        catch (JsonException e)
        {
            throw new TailorException(
                $"{source}:{line}: the first line starts with '{{' but is not valid JSON ({FirstLine(e.Message)}). "
                + "Fix the line, or force the format to Text to read one document per line.", e);
        }
    }

    /// <summary>The format of a record object from its keys (see <see cref="Detect"/>).</summary>
    private static InstructionFormat DetectRecord(JsonElement root, string source, int line)
    {
        if (root.TryGetProperty("messages", out _)) return InstructionFormat.Chat;
        if (root.TryGetProperty("conversations", out _)) return InstructionFormat.ShareGpt;
        if (root.TryGetProperty("instruction", out _)) return InstructionFormat.Alpaca;
        if (root.TryGetProperty("text", out _)) return InstructionFormat.TextJsonl;
        string keys = string.Join(", ", root.EnumerateObject().Select(p => $"\"{p.Name}\""));
        throw new TailorException(
            $"{source}:{line}: cannot tell the format from the first record (keys {(keys.Length == 0 ? "none" : keys)}). "
            + "Expected \"messages\" (chat), \"conversations\" (ShareGPT), \"instruction\" (Alpaca) or \"text\"; convert the file or force the format.");
    }

    /// <summary>
    /// Reads a JSON array of records (<paramref name="text"/> starts at line <paramref name="firstLine"/>), handing each to
    /// <paramref name="add"/> with the line it starts on; returns the format (detected from the first record when Auto).
    /// </summary>
    private static InstructionFormat ReadArray(string text, string source, int firstLine, InstructionFormat format,
        Action<Func<List<ChatMessage>>, int, string> add)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        int line = firstLine, index = 0;
        long scanned = 0;
        try
        {
            reader.Read();                                                       // the '['
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                long start = reader.TokenStartIndex;
                line += bytes.AsSpan((int)scanned, (int)(start - scanned)).Count((byte)'\n');
                scanned = start;
                using var element = JsonDocument.ParseValue(ref reader);
                JsonElement root = element.RootElement;
                if (format == InstructionFormat.Auto)
                {
                    if (root.ValueKind != JsonValueKind.Object)
                        throw new TailorException($"{source}:{line}: the file is a JSON array, but its first element is a JSON {Kind(root)}, not a record object like {{\"instruction\": ..., \"output\": ...}}.");
                    format = DetectRecord(root, source, line);
                }
                var at = format;
                add(() => ParseRecord(root, at), line, $"record {index}: ");
                index++;
            }
            bool closed = reader.TokenType == JsonTokenType.EndArray;
            if (!closed || reader.Read())
            {
                int at = firstLine + bytes.AsSpan(0, (int)Math.Min(reader.TokenStartIndex, bytes.Length)).Count((byte)'\n');
                throw new TailorException($"{source}:{at}: the file starts with '[' but {(closed ? "there is more after the array's closing ]" : "the array is not closed")}. "
                    + "Fix the file, or force the format to Text to read one document per line.");
            }
        }
        catch (JsonException e)
        {
            int at = firstLine + (int)(e.LineNumber ?? 0);
            throw new TailorException($"{source}:{at}: the file starts with '[' but is not a valid JSON array of records ({FirstLine(e.Message)}). "
                + "Fix the file, or force the format to Text to read one document per line.", e);
        }
        return format == InstructionFormat.Auto ? InstructionFormat.Alpaca : format;
    }

    private static List<ChatMessage> ParseLine(string line, InstructionFormat format)
    {
        if (format == InstructionFormat.Text) return [new ChatMessage(ChatRole.Assistant, line)];
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new LineException("not valid JSON", $"not valid JSON ({FirstLine(e.Message)})");
        }

        using (doc) return ParseRecord(doc.RootElement, format);
    }

    private static List<ChatMessage> ParseRecord(JsonElement root, InstructionFormat format)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new LineException("is not a JSON object", $"is a JSON {Kind(root)}, not an object");
        return format switch
        {
            InstructionFormat.Alpaca => ParseAlpaca(root),
            InstructionFormat.Chat => ParseTurns(root, "messages", "role", "content", ChatRoles),
            InstructionFormat.ShareGpt => ParseTurns(root, "conversations", "from", "value", ShareGptRoles),
            InstructionFormat.TextJsonl => [new ChatMessage(ChatRole.Assistant, RequiredString(root, "text", allowEmpty: false))],
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
    }

    private static readonly (string Name, ChatRole Role)[] ChatRoles =
        [("system", ChatRole.System), ("user", ChatRole.User), ("assistant", ChatRole.Assistant)];

    private static readonly (string Name, ChatRole Role)[] ShareGptRoles =
        [("human", ChatRole.User), ("gpt", ChatRole.Assistant), ("system", ChatRole.System)];

    private static List<ChatMessage> ParseAlpaca(JsonElement root)
    {
        string instruction = RequiredString(root, "instruction", allowEmpty: false);
        string input = "";
        if (root.TryGetProperty("input", out JsonElement inputElement) && inputElement.ValueKind != JsonValueKind.Null)
        {
            if (inputElement.ValueKind != JsonValueKind.String)
                throw new LineException("field \"input\" is not a string", $"field \"input\" is a {Kind(inputElement)}, not a string");
            input = inputElement.GetString()!;
        }

        string output = RequiredString(root, "output", allowEmpty: false);
        string user = input.Length == 0 ? instruction : instruction + "\n\n" + input;
        return [new ChatMessage(ChatRole.User, user), new ChatMessage(ChatRole.Assistant, output)];
    }

    private static List<ChatMessage> ParseTurns(JsonElement root, string listField, string roleField, string contentField, (string Name, ChatRole Role)[] roles)
    {
        if (!root.TryGetProperty(listField, out JsonElement list))
            throw new LineException($"field \"{listField}\" is missing", $"field \"{listField}\" is missing");
        if (list.ValueKind != JsonValueKind.Array)
            throw new LineException($"field \"{listField}\" is not an array", $"field \"{listField}\" is a {Kind(list)}, not an array");
        if (list.GetArrayLength() == 0)
            throw new LineException($"field \"{listField}\" is empty", $"field \"{listField}\" is empty");

        List<ChatMessage> messages = [];
        string allowed = string.Join(", ", roles.Select(r => r.Name));
        int i = 0;
        foreach (JsonElement turn in list.EnumerateArray())
        {
            string at = $"{listField}[{i}]";
            if (turn.ValueKind != JsonValueKind.Object)
                throw new LineException($"{listField}[] is not an object", $"{at} is a {Kind(turn)}, not an object");
            if (!turn.TryGetProperty(roleField, out JsonElement roleElement))
                throw new LineException($"{listField}[].{roleField} is missing", $"{at}.{roleField} is missing");
            if (roleElement.ValueKind != JsonValueKind.String)
                throw new LineException($"{listField}[].{roleField} is not a string", $"{at}.{roleField} is a {Kind(roleElement)}, not a string");
            string roleName = roleElement.GetString()!;
            int match = Array.FindIndex(roles, r => r.Name == roleName);
            if (match < 0)
                throw new LineException($"{listField}[].{roleField} is not one of {allowed}", $"{at}.{roleField} '{roleName}' is not one of {allowed}");
            if (!turn.TryGetProperty(contentField, out JsonElement content))
                throw new LineException($"{listField}[].{contentField} is missing", $"{at}.{contentField} is missing");
            if (content.ValueKind != JsonValueKind.String)
                throw new LineException($"{listField}[].{contentField} is not a string", $"{at}.{contentField} is a {Kind(content)}, not a string");
            messages.Add(new ChatMessage(roles[match].Role, content.GetString()!));
            i++;
        }

        if (!messages.Any(m => m.Role == ChatRole.Assistant))
        {
            string assistant = roles.First(r => r.Role == ChatRole.Assistant).Name;
            throw new LineException($"{listField} has no {assistant} message", $"{listField} has no {assistant} message, so there is nothing to learn");
        }

        return messages;
    }

    private static string RequiredString(JsonElement root, string field, bool allowEmpty)
    {
        if (!root.TryGetProperty(field, out JsonElement value))
            throw new LineException($"field \"{field}\" is missing", $"field \"{field}\" is missing");
        if (value.ValueKind != JsonValueKind.String)
            throw new LineException($"field \"{field}\" is not a string", $"field \"{field}\" is a {Kind(value)}, not a string");
        string text = value.GetString()!;
        if (!allowEmpty && string.IsNullOrWhiteSpace(text))
            throw new LineException($"field \"{field}\" is empty", $"field \"{field}\" is empty");
        return text;
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };

    private static string FirstLine(string message) => message.Split('\n')[0].TrimEnd('.');

    /// <summary>A malformed line: <see cref="Reason"/> groups lines in a skip report, the message names the exact field.</summary>
    private sealed class LineException(string reason, string message) : Exception(message)
    {
        public string Reason { get; } = reason;
    }
}
