using Tailor.Data.Instructions;
using Tailor.Text;

namespace Tailor.Tests.Data.Instructions;

public class InstructionReaderTests
{
    private static InstructionReadResult Read(string text, InstructionFormat format = InstructionFormat.Auto, bool skipBad = false) =>
        InstructionReader.Read(new StringReader(text), "train.jsonl", new InstructionReadOptions(format, skipBad));

    private static string Lines(params string[] lines) => string.Join("\n", lines) + "\n";

    [Fact]
    public void Alpaca_with_and_without_input_becomes_user_and_assistant_messages()
    {
        var result = Read(Lines(
            """{"instruction": "Name a colour.", "output": "Blue"}""",
            """{"instruction": "Translate to German.", "input": "good morning", "output": "Guten Morgen"}""",
            """{"instruction": "Say hi.", "input": "", "output": "hi"}"""));

        Assert.Equal(InstructionFormat.Alpaca, result.Format);
        Assert.Equal(3, result.Examples.Count);
        Assert.Equal([new ChatMessage(ChatRole.User, "Name a colour."), new ChatMessage(ChatRole.Assistant, "Blue")], result.Examples[0].Messages);
        Assert.Equal("Translate to German.\n\ngood morning", result.Examples[1].Messages[0].Content);
        Assert.Equal("Say hi.", result.Examples[2].Messages[0].Content);
        Assert.Equal(("train.jsonl", 2), (result.Examples[1].Source, result.Examples[1].Line));
    }

    [Fact]
    public void Chat_messages_keep_roles_order_and_exact_content()
    {
        var result = Read("""{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " hi \n"}, {"role": "assistant", "content": "Hello."}]}""");

        Assert.Equal(InstructionFormat.Chat, result.Format);
        Assert.Equal(
            [new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, " hi \n"), new ChatMessage(ChatRole.Assistant, "Hello.")],
            result.Examples[0].Messages);
    }

    [Fact]
    public void ShareGpt_maps_human_gpt_and_system()
    {
        var result = Read("""{"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}""");

        Assert.Equal(InstructionFormat.ShareGpt, result.Format);
        Assert.Equal([ChatRole.System, ChatRole.User, ChatRole.Assistant], result.Examples[0].Messages.Select(m => m.Role));
        Assert.Equal(["S", "Q", "A"], result.Examples[0].Messages.Select(m => m.Content));
    }

    [Fact]
    public void Raw_text_is_one_document_per_line_and_jsonl_text_is_detected()
    {
        var raw = Read("\n\nFirst document.\nSecond one, with {braces}.\n\n");
        var jsonl = Read(Lines("""{"text": "doc one"}""", """{"text": "doc two", "source": "x"}"""));

        Assert.Equal(InstructionFormat.Text, raw.Format);
        Assert.Equal(["First document.", "Second one, with {braces}."], raw.Examples.Select(e => e.Messages.Single().Content));
        Assert.All(raw.Examples, e => Assert.Equal(ChatRole.Assistant, e.Messages.Single().Role));
        Assert.Equal([3, 4], raw.Examples.Select(e => e.Line));
        Assert.Equal(InstructionFormat.TextJsonl, jsonl.Format);
        Assert.Equal(["doc one", "doc two"], jsonl.Examples.Select(e => e.Messages.Single().Content));
    }

    [Theory]
    [InlineData("""{"messages": []}""", InstructionFormat.Chat)]
    [InlineData("""{"conversations": []}""", InstructionFormat.ShareGpt)]
    [InlineData("""{"instruction": "x", "output": "y"}""", InstructionFormat.Alpaca)]
    [InlineData("""{"text": "x"}""", InstructionFormat.TextJsonl)]
    [InlineData("plain words", InstructionFormat.Text)]
    [InlineData("\uFEFF{\"text\": \"x\"}", InstructionFormat.TextJsonl)]
    public void Detect_looks_at_the_keys_of_the_first_record(string line, InstructionFormat expected) =>
        Assert.Equal(expected, InstructionReader.Detect(line, "f.jsonl"));

    [Fact]
    public void Detection_uses_the_first_non_blank_line_only()
    {
        var result = Read(Lines("", "   ", """{"text": "a"}""", """{"instruction": "i", "output": "o"}"""), skipBad: true);

        Assert.Equal(InstructionFormat.TextJsonl, result.Format);
        Assert.Single(result.Examples);
        Assert.Equal(1, result.Skipped.Total); // the Alpaca line has no "text"
        Assert.Equal([4], result.Skipped.Reasons.Single().FirstLines);
    }

    [Fact]
    public void An_undetectable_first_record_names_its_keys_and_the_line()
    {
        var e = Assert.Throws<TailorException>(() => Read(Lines("", """{"prompt": "p", "completion": "c"}""")));

        Assert.StartsWith("train.jsonl:2: cannot tell the format", e.Message, StringComparison.Ordinal);
        Assert.Contains("\"prompt\", \"completion\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Forcing_a_format_overrides_detection()
    {
        var asText = Read(Lines("""{"instruction": "i", "output": "o"}"""), InstructionFormat.Text);
        var e = Assert.Throws<TailorException>(() => Read(Lines("""{"text": "t"}"""), InstructionFormat.Alpaca));

        Assert.Equal("""{"instruction": "i", "output": "o"}""", asText.Examples.Single().Messages.Single().Content);
        Assert.StartsWith("train.jsonl:1: field \"instruction\" is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_output_names_file_line_and_field()
    {
        string text = Lines(Enumerable.Repeat("""{"instruction": "i", "output": "o"}""", 16).Append("""{"instruction": "i"}""").ToArray());

        var e = Assert.Throws<TailorException>(() => Read(text));

        Assert.StartsWith("train.jsonl:17: field \"output\" is missing.", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "robot", "content": "c"}]}""",
        "messages[2].role 'robot' is not one of system, user, assistant")]
    [InlineData("""{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "b"}]}""", "messages[0].content is a number, not a string")]
    [InlineData("""{"messages": [{"role": "user"}]}""", "messages[0].content is missing")]
    [InlineData("""{"messages": [{"role": "user", "content": "only a question"}]}""", "messages has no assistant message")]
    [InlineData("""{"messages": "hi"}""", "field \"messages\" is a string, not an array")]
    [InlineData("""{"messages": ["hi"]}""", "messages[0] is a string, not an object")]
    public void Chat_errors_name_the_message_index_and_field(string line, string expected)
    {
        var e = Assert.Throws<TailorException>(() => Read(line, InstructionFormat.Chat));

        Assert.StartsWith("train.jsonl:1: " + expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ShareGpt_errors_list_the_sharegpt_roles()
    {
        var e = Assert.Throws<TailorException>(() => Read("""{"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]}"""));

        Assert.StartsWith("train.jsonl:1: conversations[1].from 'bot' is not one of human, gpt, system", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_json_after_the_first_line_names_its_line()
    {
        var e = Assert.Throws<TailorException>(() => Read(Lines("""{"text": "a"}""", """{"text": "b" """)));

        Assert.StartsWith("train.jsonl:2: not valid JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skip_bad_counts_each_reason_with_its_first_line_numbers()
    {
        string text = Lines(
            """{"instruction": "i", "output": "o"}""",   // 1 ok
            """{"instruction": "i"}""",                  // 2 missing output
            "not json at all",                           // 3 not valid JSON
            """{"instruction": "i", "output": ""}""",     // 4 empty output
            """{"instruction": "i"}""",                  // 5 missing output
            "",                                          // 6 blank: not counted
            """{"instruction": 3, "output": "o"}""",      // 7 instruction not a string
            """{"instruction": "i"}""",                  // 8 missing output
            """[1, 2]""",                                // 9 not an object
            """{"instruction": "i", "output": "o"}""");   // 10 ok

        var result = Read(text, skipBad: true);

        Assert.Equal([1, 10], result.Examples.Select(e => e.Line));
        Assert.Equal(7, result.Skipped.Total);
        Assert.Equal(
            [
                ("field \"output\" is missing", 3, "2,5,8"),
                ("not valid JSON", 1, "3"),
                ("field \"output\" is empty", 1, "4"),
                ("field \"instruction\" is not a string", 1, "7"),
                ("is not a JSON object", 1, "9"),
            ],
            result.Skipped.Reasons.Select(r => (r.Reason, r.Count, string.Join(",", r.FirstLines))));
        Assert.Contains("3 × field \"output\" is missing (lines 2, 5, 8)", result.Skipped.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Skip_bad_keeps_only_the_first_five_line_numbers_per_reason()
    {
        string text = Lines(Enumerable.Range(0, 9).Select(_ => """{"messages": [{"role": "robot", "content": "x"}]}""").ToArray());

        var result = Read(text, skipBad: true);

        SkippedReason reason = Assert.Single(result.Skipped.Reasons);
        Assert.Equal("messages[].role is not one of system, user, assistant", reason.Reason);
        Assert.Equal(9, reason.Count);
        Assert.Equal([1, 2, 3, 4, 5], reason.FirstLines);
        Assert.Contains("(lines 1, 2, 3, 4, 5, ...)", result.Skipped.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Reading_a_file_handles_crlf_and_names_the_path()
    {
        string dir = Directory.CreateTempSubdirectory("tailor-instr-").FullName;
        try
        {
            string path = Path.Combine(dir, "data.jsonl");
            File.WriteAllText(path, "{\"instruction\": \"a\", \"output\": \"b\"}\r\n{\"instruction\": \"c\"}\r\n");

            var e = Assert.Throws<TailorException>(() => InstructionReader.Read(path));
            var skipped = InstructionReader.Read(path, new InstructionReadOptions(SkipBad: true));

            Assert.StartsWith($"{path}:2: field \"output\" is missing", e.Message, StringComparison.Ordinal);
            Assert.Equal("b", skipped.Examples.Single().Messages[1].Content);
            Assert.Equal(path, skipped.Examples.Single().Source);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void An_alpaca_json_array_as_Alpaca_ships_it_is_read_as_records_with_their_lines()
    {
        // alpaca_data.json's layout: one indented JSON array of {instruction, input, output} objects.
        string json = """
            [
                {
                    "instruction": "Give three tips for staying healthy.",
                    "input": "",
                    "output": "1. Eat well.\n2. Exercise.\n3. Sleep."
                },
                {
                    "instruction": "Translate to French.",
                    "input": "the sea",
                    "output": "la mer"
                }
            ]
            """;
        var result = Read(json);
        Assert.Equal(InstructionFormat.Alpaca, result.Format);
        Assert.Equal(2, result.Examples.Count);
        Assert.Equal([new ChatMessage(ChatRole.User, "Give three tips for staying healthy."), new ChatMessage(ChatRole.Assistant, "1. Eat well.\n2. Exercise.\n3. Sleep.")], result.Examples[0].Messages);
        Assert.Equal("Translate to French.\n\nthe sea", result.Examples[1].Messages[0].Content);
        Assert.Equal([2, 7], result.Examples.Select(e => e.Line));

        // Chat and ShareGPT arrays too; a bad record names its line and index, and skipBad counts it.
        var chat = Read("""[{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]""");
        Assert.Equal(InstructionFormat.Chat, chat.Format);
        Assert.Equal("hello", chat.Examples.Single().Messages[1].Content);
        string bad = "[\n{\"instruction\": \"a\", \"output\": \"b\"},\n{\"instruction\": \"c\"}\n]\n";
        var e = Assert.Throws<TailorException>(() => Read(bad));
        Assert.StartsWith("train.jsonl:3: record 1: field \"output\" is missing", e.Message, StringComparison.Ordinal);
        var skipped = Read(bad, skipBad: true);
        Assert.Single(skipped.Examples);
        Assert.Equal([3], skipped.Skipped.Reasons.Single().FirstLines);

        // A broken array names the line where it breaks; forcing Text reads such a file as lines.
        var broken = Assert.Throws<TailorException>(() => Read("[\n{\"instruction\": \"a\", \"output\": \"b\"},\n{\"instruction\": \n"));
        Assert.Contains("not a valid JSON array", broken.Message, StringComparison.Ordinal);
        Assert.Equal(2, Read("[1] Introduction\nSome text.\n", InstructionFormat.Text).Examples.Count);
    }

    [Theory]
    [InlineData("utf16", "UTF-16")]
    [InlineData("utf16-no-bom", "NUL")]
    [InlineData("binary", "NUL")]
    [InlineData("latin1", "not valid UTF-8")]
    public void A_file_that_is_not_UTF8_text_is_refused_naming_file_line_and_byte(string kind, string says)
    {
        string dir = Directory.CreateTempSubdirectory("tailor-instr-").FullName;
        try
        {
            string path = Path.Combine(dir, "data.json");
            string text = "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"caf\u00e9\", \"output\": \"b\"}\n";
            byte[] bytes = kind switch
            {
                "utf16" => [.. System.Text.Encoding.Unicode.GetPreamble(), .. System.Text.Encoding.Unicode.GetBytes(text)],
                "utf16-no-bom" => System.Text.Encoding.Unicode.GetBytes(text),
                "binary" => [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00],
                _ => System.Text.Encoding.Latin1.GetBytes(text),
            };
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<TailorException>(() => InstructionReader.Read(path));
            Assert.StartsWith(path + ":", e.Message, StringComparison.Ordinal);
            Assert.Contains(says, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', e.Message);
            if (kind == "latin1") Assert.StartsWith($"{path}:2: byte {text.IndexOf('\u00e9', StringComparison.Ordinal)} (0xE9)", e.Message, StringComparison.Ordinal);

            File.WriteAllBytes(path, [.. System.Text.Encoding.UTF8.GetPreamble(), .. System.Text.Encoding.UTF8.GetBytes(text)]);
            Assert.Equal("caf\u00e9", InstructionReader.Read(path).Examples[1].Messages[0].Content);      // UTF-8, with or without a mark, reads
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_missing_file_is_a_clear_error() =>
        Assert.Contains("instruction file not found", Assert.Throws<TailorException>(() => InstructionReader.Read("/no/such/file.jsonl")).Message, StringComparison.Ordinal);
}
