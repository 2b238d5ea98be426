using System.Text.Json;
using Tailor.Tests.Data.Instructions;
using Tailor.Text;

namespace Tailor.Tests.Text;

/// <summary>
/// The C# ChatML renderer against renderings of the Jinja template by @huggingface/jinja 0.5.11 (the engine of
/// transformers.js), made by scripts/chat-template-fixtures/render.mjs into Fixtures/chat-template/chatml.rendered.json.
/// </summary>
public class ChatTemplateTests
{
    private static readonly Lazy<JsonDocument> Fixture = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chat-template", "chatml.rendered.json"))));

    private static IEnumerable<JsonElement> Cases => Fixture.Value.RootElement.GetProperty("cases").EnumerateArray();

    private static List<ChatMessage> Messages(JsonElement c) =>
        [.. c.GetProperty("messages").EnumerateArray().Select(m => new ChatMessage(
            m.GetProperty("role").GetString() switch { "system" => ChatRole.System, "user" => ChatRole.User, _ => ChatRole.Assistant },
            m.GetProperty("content").GetString()!))];

    [Fact]
    public void The_fixture_was_rendered_from_this_exact_jinja_string() =>
        Assert.Equal(ChatTemplate.Jinja, Fixture.Value.RootElement.GetProperty("template").GetString());

    [Fact]
    public void Render_equals_the_jinja_rendering_of_every_fixture_conversation()
    {
        int compared = 0;
        foreach (JsonElement c in Cases)
        {
            string expected = c.GetProperty("rendered").GetString()!;
            string actual = ChatTemplate.Render(Messages(c), c.GetProperty("add_generation_prompt").GetBoolean());
            Assert.True(expected == actual, $"case {c.GetProperty("name")} (add_generation_prompt {c.GetProperty("add_generation_prompt")}):\nexpected {JsonSerializer.Serialize(expected)}\nactual   {JsonSerializer.Serialize(actual)}");
            compared++;
        }

        Assert.Equal(16, compared);
    }

    [Fact]
    public void Generation_prompt_is_the_assistant_header()
    {
        List<ChatMessage> chat = [new(ChatRole.User, "Hi")];

        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n", ChatTemplate.Render(chat, addGenerationPrompt: false));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.Render(chat, addGenerationPrompt: true));
    }

    [Fact]
    public void IsChatMl_agrees_with_jinja_on_which_templates_render_like_chatml()
    {
        List<string> wrong = [];
        int same = 0, different = 0;
        foreach (JsonElement v in Fixture.Value.RootElement.GetProperty("variants").EnumerateArray())
        {
            bool rendersLikeChatMl = v.GetProperty("renders_like_chatml").GetBoolean();
            if (ChatTemplate.IsChatMl(v.GetProperty("template").GetString()) != rendersLikeChatMl)
                wrong.Add($"{v.GetProperty("name")}: jinja says {(rendersLikeChatMl ? "same" : "different")}");
            if (rendersLikeChatMl) same++;
            else different++;
        }

        Assert.Empty(wrong);
        Assert.True(same >= 5 && different >= 5, $"{same} same, {different} different variants");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("{% for message in messages %}")]
    [InlineData("{{ 'unterminated }}")]
    public void IsChatMl_is_false_for_missing_or_broken_templates(string? template) => Assert.False(ChatTemplate.IsChatMl(template));

    [Fact]
    public void A_tokenizer_with_another_chat_template_is_refused_with_a_clear_message()
    {
        TextTokenizer qwen3 = InstructionFixtures.Qwen3();
        List<ChatMessage> chat = [new(ChatRole.User, "Hi")];

        var e = Assert.Throws<TailorException>(() => ChatTemplate.Render(chat, addGenerationPrompt: true, qwen3, "models/qwen3"));

        Assert.StartsWith("models/qwen3: tokenizer_config.json has a chat_template that is not ChatML", e.Message, StringComparison.Ordinal);
        Assert.Contains("ChatTemplate.Install", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Installed_template_survives_save_and_load_and_is_accepted()
    {
        TextTokenizer tokenizer = InstructionFixtures.Bytes();
        Assert.Null(tokenizer.ChatTemplate);
        ChatTemplate.EnsureChatMl(tokenizer); // no template: a base model, accepted

        ChatTemplate.Install(tokenizer);
        string dir = Directory.CreateTempSubdirectory("tailor-chat-").FullName;
        try
        {
            tokenizer.Save(dir);
            TextTokenizer loaded = TextTokenizer.Load(dir);

            Assert.Equal(ChatTemplate.Jinja, loaded.ChatTemplate);
            Assert.True(ChatTemplate.IsChatMl(loaded.ChatTemplate));
            Assert.Equal("<|im_start|>user\nHi<|im_end|>\n", ChatTemplate.Render([new ChatMessage(ChatRole.User, "Hi")], false, loaded));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
