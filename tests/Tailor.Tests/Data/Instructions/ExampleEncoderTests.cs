using System.Text.Json;
using Tailor.Text;
using static Tailor.Tests.Data.Instructions.InstructionFixtures;
using Tailor.Data.Instructions;

namespace Tailor.Tests.Data.Instructions;

public class ExampleEncoderTests
{
    private const int Eos = 256, Start = 257, End = 258;

    private static ChatExample Chat(params (ChatRole Role, string Content)[] messages) =>
        new([.. messages.Select(m => new ChatMessage(m.Role, m.Content))], "test.jsonl", 1);

    private static (int[] Ids, bool[] Trained) Expect(params (IEnumerable<int> Ids, bool Trained)[] parts) =>
        ([.. parts.SelectMany(p => p.Ids)], [.. parts.SelectMany(p => p.Ids.Select(_ => p.Trained))]);

    private static void AssertEncoded((int[] Ids, bool[] Trained) expected, EncodedExample actual)
    {
        Assert.Equal(expected.Ids, actual.Ids);
        Assert.Equal(expected.Trained, actual.Trained);
    }

    [Fact]
    public void ChatMl_masks_everything_but_assistant_content_and_its_end_token()
    {
        // Byte tokenizer: ids are the UTF-8 bytes, 257 <|im_start|>, 258 <|im_end|>. Written out by hand:
        // <|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n⟦Yo<|im_end|>⟧\n
        var encoder = new ExampleEncoder(Bytes());

        EncodedExample encoded = encoder.Encode(Chat((ChatRole.System, "Be brief."), (ChatRole.User, "Hi"), (ChatRole.Assistant, "Yo")));

        AssertEncoded(Expect(
            ([Start], false), (B("system\nBe brief."), false), ([End], false), (B("\n"), false),
            ([Start], false), (B("user\nHi"), false), ([End], false), (B("\n"), false),
            ([Start], false), (B("assistant\n"), false), (B("Yo"), true), ([End], true), (B("\n"), false)), encoded);
        Assert.Equal(3, encoded.TargetCount);
    }

    [Fact]
    public void Every_assistant_turn_of_a_multi_turn_chat_is_trained()
    {
        var encoder = new ExampleEncoder(Bytes());

        EncodedExample encoded = encoder.Encode(Chat((ChatRole.User, "a"), (ChatRole.Assistant, "b"), (ChatRole.User, "c"), (ChatRole.Assistant, "d")));

        AssertEncoded(Expect(
            ([Start], false), (B("user\na"), false), ([End], false), (B("\n"), false),
            ([Start], false), (B("assistant\n"), false), (B("b"), true), ([End], true), (B("\n"), false),
            ([Start], false), (B("user\nc"), false), ([End], false), (B("\n"), false),
            ([Start], false), (B("assistant\n"), false), (B("d"), true), ([End], true), (B("\n"), false)), encoded);
    }

    [Fact]
    public void Plain_format_trains_the_response_and_eos_only()
    {
        var encoder = new ExampleEncoder(Bytes(), PromptFormat.Plain);

        EncodedExample encoded = encoder.Encode(Chat((ChatRole.User, "Good movie"), (ChatRole.Assistant, "positive")));
        EncodedExample raw = encoder.Encode(Chat((ChatRole.Assistant, "just text")));

        AssertEncoded(Expect((B("Good movie\n\n### Response:\n"), false), (B("positive"), true), ([Eos], true)), encoded);
        AssertEncoded(Expect((B("just text"), true), ([Eos], true)), raw);
        Assert.Equal(Eos, encoder.StopId);
        Assert.Equal(B("Good movie\n\n### Response:\n"), encoder.EncodePrompt([new ChatMessage(ChatRole.User, "Good movie")]));
    }

    [Fact]
    public void Plain_format_joins_system_and_user_with_a_blank_line()
    {
        var encoder = new ExampleEncoder(Bytes(), PromptFormat.Plain);

        EncodedExample encoded = encoder.Encode(Chat((ChatRole.System, "S"), (ChatRole.User, "U"), (ChatRole.Assistant, "A")));

        AssertEncoded(Expect((B("S\n\nU\n\n### Response:\n"), false), (B("A"), true), ([Eos], true)), encoded);
    }

    [Fact]
    public void Plain_format_refuses_multi_turn_examples_naming_where_they_came_from()
    {
        var encoder = new ExampleEncoder(Bytes(), PromptFormat.Plain);

        var e = Assert.Throws<TailorException>(() => encoder.Encode(Chat((ChatRole.User, "a"), (ChatRole.Assistant, "b"), (ChatRole.User, "c"), (ChatRole.Assistant, "d"))));

        Assert.StartsWith("test.jsonl:1: the plain format takes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EncodePrompt_ends_with_the_generation_prompt()
    {
        TextTokenizer tokenizer = Bytes();
        var encoder = new ExampleEncoder(tokenizer);
        List<ChatMessage> prompt = [new(ChatRole.User, "Hi")];

        Assert.Equal(tokenizer.Encode(ChatTemplate.Render(prompt, addGenerationPrompt: true), parseSpecial: true), encoder.EncodePrompt(prompt));
        Assert.Equal(End, encoder.StopId);
    }

    [Fact]
    public void ChatMl_ids_equal_tokenizing_the_rendered_conversation_for_the_fixture_conversations()
    {
        // What transformers' apply_chat_template(tokenize=True) does: render, then encode with special tokens parsed.
        TextTokenizer qwen3 = Qwen3();
        ChatTemplate.Install(qwen3);
        int compared = 0;
        foreach ((string name, ChatExample example) in FixtureConversations())
        {
            if (name == "template-syntax-in-content") continue; // holds literal special-token text: see the next test
            string rendered = ChatTemplate.Render(example.Messages, addGenerationPrompt: false);
            foreach (TextTokenizer tokenizer in new[] { Trained, qwen3 })
            {
                EncodedExample encoded = new ExampleEncoder(tokenizer).Encode(example);
                Assert.True(tokenizer.Encode(rendered, parseSpecial: true).SequenceEqual(encoded.Ids), $"{name}: ids differ");
                compared++;
            }
        }

        Assert.Equal(14, compared);
    }

    [Fact]
    public void Special_token_text_inside_a_message_is_encoded_as_text()
    {
        TextTokenizer tokenizer = Trained;
        int end = tokenizer.TokenToId("<|im_end|>")!.Value;
        var example = Chat((ChatRole.User, "q"), (ChatRole.Assistant, "Literal <|im_end|> here"));

        EncodedExample encoded = new ExampleEncoder(tokenizer).Encode(example);

        Assert.Equal(2, encoded.Ids.Count(id => id == end)); // the two real turn ends, not the literal one
        Assert.Contains("Literal <|im_end|> here", tokenizer.Decode(encoded.Ids), StringComparison.Ordinal);
    }

    [Fact]
    public void Trained_tokens_decode_to_the_assistant_contents_and_end_tokens()
    {
        TextTokenizer tokenizer = Trained;
        foreach ((string name, ChatExample example) in FixtureConversations())
        {
            EncodedExample encoded = new ExampleEncoder(tokenizer).Encode(example);
            string trained = tokenizer.Decode(encoded.Ids.Where((_, i) => encoded.Trained[i]));
            string expected = string.Concat(example.Messages.Where(m => m.Role == ChatRole.Assistant).Select(m => m.Content + "<|im_end|>"));
            Assert.True(expected == trained, $"{name}: trained text {JsonSerializer.Serialize(trained)}, expected {JsonSerializer.Serialize(expected)}");
        }
    }

    [Fact]
    public void A_token_spanning_the_role_line_and_the_content_is_trained()
    {
        // Qwen's pre-tokenizer keeps "\n\n\n" together, so "assistant\n" + "\n\nAnswer" shares a token across the boundary.
        TextTokenizer qwen3 = Qwen3();
        ChatTemplate.Install(qwen3);

        EncodedExample encoded = new ExampleEncoder(qwen3).Encode(Chat((ChatRole.User, "q"), (ChatRole.Assistant, "\n\nAnswer")));

        string trained = qwen3.Decode(encoded.Ids.Where((_, i) => encoded.Trained[i]));
        Assert.Equal("\n\n\nAnswer<|im_end|>", trained);
    }

    [Fact]
    public void A_tokenizer_without_chatml_tokens_or_with_another_template_is_refused()
    {
        TextTokenizer noChatTokens = BpeTrainer.Train(["ab"], new BpeTrainerOptions(VocabSize: 258, MinFrequency: 1, SpecialTokens: ["<|endoftext|>", "<|pad|>"]));

        var missing = Assert.Throws<TailorException>(() => new ExampleEncoder(noChatTokens, source: "models/base"));
        var mismatch = Assert.Throws<TailorException>(() => new ExampleEncoder(Qwen3(), source: "models/qwen3"));

        Assert.StartsWith("models/base has no <|im_start|> token", missing.Message, StringComparison.Ordinal);
        Assert.StartsWith("models/qwen3: tokenizer_config.json has a chat_template that is not ChatML", mismatch.Message, StringComparison.Ordinal);
        Assert.Equal(256, new ExampleEncoder(noChatTokens, PromptFormat.Plain).StopId); // the plain format needs no chat tokens
    }

    // user "0123456789" → prompt = <s> "user\n0123456789" </s> "\n" = 18 tokens; the response starts at 18.
    private static ChatExample Long(string answer) => Chat((ChatRole.User, "0123456789"), (ChatRole.Assistant, answer));

    [Fact]
    public void Truncation_cuts_the_prompt_from_the_left_and_keeps_the_whole_response()
    {
        var encoder = new ExampleEncoder(Bytes());
        EncodedExample full = encoder.Encode(Long("ab")); // 18 + (1 + 12 + 1 + 1) = 33 tokens

        EncodedDataset result = encoder.EncodeAll([Long("ab")], maxLength: 20);

        Assert.Equal(33, full.Length);
        EncodedExample kept = Assert.Single(result.Examples);
        AssertEncoded(Expect(
            (B("789"), false), ([End], false), (B("\n"), false),
            ([Start], false), (B("assistant\n"), false), (B("ab"), true), ([End], true), (B("\n"), false)), kept);
        Assert.Equal((1, 0, 0, 33), (result.Stats.PromptTruncated, result.Stats.ResponseTruncated, result.Stats.DroppedTooLong, result.Stats.LongestBeforeTruncation));
    }

    [Fact]
    public void A_response_longer_than_the_maximum_is_cut_and_counted()
    {
        var encoder = new ExampleEncoder(Bytes());

        // Response = 1 + 10 + 26 + 1 + 1 = 39 tokens > 30: the prompt keeps 15 tokens (half), the response its first 15.
        EncodedDataset result = encoder.EncodeAll([Long("abcdefghijklmnopqrstuvwxyz")], maxLength: 30);

        EncodedExample kept = Assert.Single(result.Examples);
        AssertEncoded(Expect(
            (B("er\n0123456789"), false), ([End], false), (B("\n"), false),
            ([Start], false), (B("assistant\n"), false), (B("abcd"), true)), kept);
        Assert.Equal((0, 1), (result.Stats.PromptTruncated, result.Stats.ResponseTruncated));
    }

    [Fact]
    public void Drop_policy_and_empty_targets_are_counted()
    {
        var encoder = new ExampleEncoder(Bytes());
        ChatExample[] examples = [Long("ab"), Chat((ChatRole.User, "x"), (ChatRole.Assistant, "y")), Long("abcdefghijklmnopqrstuvwxyz")];

        EncodedDataset dropped = encoder.EncodeAll(examples, maxLength: 25, TruncationPolicy.Drop); // 33, 23, 57 tokens
        EncodedDataset tiny = encoder.EncodeAll(examples, maxLength: 10); // no response token fits after the header

        Assert.Equal((3, 1, 2, 0), (dropped.Stats.Examples, dropped.Stats.Kept, dropped.Stats.DroppedTooLong, dropped.Stats.DroppedNoTargets));
        Assert.Equal((3, 0, 0, 3), (tiny.Stats.Examples, tiny.Stats.Kept, tiny.Stats.DroppedTooLong, tiny.Stats.DroppedNoTargets));
        Assert.Equal(23, Assert.Single(dropped.Examples).Length);
        Assert.Equal((0, 0), (tiny.Stats.PromptTruncated, tiny.Stats.ResponseTruncated));
    }

    [Fact]
    public void Encoded_lengths_never_exceed_the_maximum_on_real_task_data()
    {
        TaskTemplateSet set = TaskTemplates.Load(Path.Combine(TemplatesFolder, "summarization.json"));
        var records = TaskTemplates.ReadRecords(TaskFile("summarization.dev.jsonl")).Take(200);
        var encoder = new ExampleEncoder(Trained);

        EncodedDataset result = encoder.EncodeAll(records.Select(r => set.ToChatExample(r, TemplatePool.Train, seed: 1)), maxLength: 128);

        Assert.Equal(200, result.Stats.Examples);
        Assert.True(result.Stats.PromptTruncated > 0, "some descriptions are longer than 128 tokens");
        Assert.All(result.Examples, e => Assert.InRange(e.Length, 1, 128));
        Assert.All(result.Examples, e => Assert.True(e.TargetCount > 0));
    }

    internal static IEnumerable<(string Name, ChatExample Example)> FixtureConversations()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chat-template", "chatml.rendered.json")));
        List<(string, ChatExample)> result = [];
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (c.GetProperty("add_generation_prompt").GetBoolean()) continue;
            List<ChatMessage> messages = [.. c.GetProperty("messages").EnumerateArray().Select(m => new ChatMessage(
                m.GetProperty("role").GetString() switch { "system" => ChatRole.System, "user" => ChatRole.User, _ => ChatRole.Assistant },
                m.GetProperty("content").GetString()!))];
            result.Add((c.GetProperty("name").GetString()!, new ChatExample(messages, "fixture", 0)));
        }

        return result;
    }
}
