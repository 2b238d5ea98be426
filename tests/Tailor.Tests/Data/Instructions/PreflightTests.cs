using Tailor.Text;
using static Tailor.Tests.Data.Instructions.InstructionFixtures;
using Tailor.Data.Instructions;

namespace Tailor.Tests.Data.Instructions;

public class PreflightTests
{
    private static ChatExample Chat(string user, string assistant) =>
        new([new ChatMessage(ChatRole.User, user), new ChatMessage(ChatRole.Assistant, assistant)], "t.jsonl", 1);

    [Fact]
    public void Mark_wraps_exactly_the_trained_tokens()
    {
        TextTokenizer tokenizer = Bytes();
        EncodedExample encoded = new ExampleEncoder(tokenizer).Encode(Chat("Hi", "Yo"));

        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n⟦Yo<|im_end|>⟧\n", Preflight.Mark(encoded, tokenizer));
    }

    [Fact]
    public void Mark_shows_the_plain_format_response_and_eos()
    {
        TextTokenizer tokenizer = Bytes();
        EncodedExample encoded = new ExampleEncoder(tokenizer, PromptFormat.Plain).Encode(Chat("Good movie", "positive"));

        Assert.Equal("Good movie\n\n### Response:\n⟦positive<|endoftext|>⟧", Preflight.Mark(encoded, tokenizer));
    }

    [Fact]
    public void Clean_chatml_data_gives_statistics_and_no_warnings()
    {
        TextTokenizer tokenizer = Bytes();
        ChatTemplate.Install(tokenizer);
        EncodedDataset data = new ExampleEncoder(tokenizer).EncodeAll([Chat("Hi", "Yo"), Chat("Hello there", "Hey")], 64);

        PreflightReport report = Preflight.Run(data.Examples, tokenizer, PromptFormat.ChatMl, data.Stats);

        Assert.Empty(report.Warnings);
        Assert.Contains("⟦Yo<|im_end|>⟧", report.Text, StringComparison.Ordinal);
        // 25 and 35 tokens (the bytes of the rendered text, each special token one id); trained 3 + 4.
        Assert.Contains("tokens per example: mean 30.0, median 35, max 35; trained 7 of 60 tokens (11.7%)", report.Text, StringComparison.Ordinal);
        Assert.Contains("no warnings", report.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_stop_token_all_masked_examples_and_truncated_responses_are_warned_about()
    {
        TextTokenizer tokenizer = Bytes();
        ChatTemplate.Install(tokenizer);
        var encoder = new ExampleEncoder(tokenizer);
        EncodedDataset data = encoder.EncodeAll([Chat("0123456789", "abcdefghijklmnopqrstuvwxyz"), Chat("x", "y")], 30);
        EncodedExample masked = new([1, 2, 3], [false, false, false]);

        PreflightReport report = Preflight.Run([.. data.Examples, masked], tokenizer, PromptFormat.ChatMl, data.Stats);

        Assert.Equal(3, report.Warnings.Count);
        Assert.Contains(report.Warnings, w => w.StartsWith("1 of 2 responses (50.0%) were cut at 30 tokens", StringComparison.Ordinal));
        Assert.Contains(report.Warnings, w => w.StartsWith("1 of 3 examples have every label masked", StringComparison.Ordinal));
        Assert.Contains(report.Warnings, w => w.StartsWith("2 of 3 examples train on no end-of-turn/EOS token (<|im_end|>)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_tokenizer_without_chatml_template_is_a_template_warning()
    {
        TextTokenizer qwen3 = Qwen3();
        TextTokenizer bare = Bytes();
        EncodedExample e = new ExampleEncoder(bare).Encode(Chat("a", "b"));

        var mismatch = Preflight.Run([e], qwen3);
        var missing = Preflight.Run([e], bare);

        Assert.Contains(mismatch.Warnings, w => w.StartsWith("template mismatch: the tokenizer's chat_template is not ChatML", StringComparison.Ordinal));
        Assert.Contains(missing.Warnings, w => w.StartsWith("the tokenizer has no chat_template", StringComparison.Ordinal));
    }
}
