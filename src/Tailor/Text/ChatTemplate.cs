using System.Text;

namespace Tailor.Text;

/// <summary>
/// ChatML, the one chat format Tailor trains and prompts with: each message is
/// <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>, and the generation prompt is
/// <c>&lt;|im_start|&gt;assistant\n</c>. <see cref="Jinja"/> is the same format as a Hugging Face
/// <c>chat_template</c>, so transformers' <c>apply_chat_template</c>, llama.cpp and vLLM prompt a Tailor model exactly
/// as <see cref="Render(IReadOnlyList{ChatMessage}, bool)"/> does (checked against <c>@huggingface/jinja</c> renderings in the tests).
/// </summary>
public static class ChatTemplate
{
    /// <summary>Starts a message; followed by the role and a newline.</summary>
    public const string StartToken = "<|im_start|>";

    /// <summary>Ends a message; the model learns to emit it after each answer, so it is also the stop token.</summary>
    public const string EndToken = "<|im_end|>";

    /// <summary>What <see cref="Render(IReadOnlyList{ChatMessage}, bool)"/> appends when asked for a generation prompt.</summary>
    public const string GenerationPrompt = StartToken + "assistant\n";

    /// <summary>
    /// ChatML as a Jinja <c>chat_template</c>, character for character as Hugging Face's chat-templating guide and
    /// Qwen-style <c>tokenizer_config.json</c> files write it (no default system message, nothing trimmed).
    /// </summary>
    public const string Jinja =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static readonly Lazy<string?> NormalizedJinja = new(() => ChatTemplateNormalizer.Normalize(Jinja));

    /// <summary>Sets the tokenizer's chat_template to <see cref="Jinja"/> (written by <see cref="TextTokenizer.Save"/>).</summary>
    public static void Install(TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        tokenizer.ChatTemplate = Jinja;
    }

    /// <summary>
    /// Whether <paramref name="template"/> is ChatML as <see cref="Jinja"/> writes it, up to spelling that cannot change
    /// the output: whitespace inside tags, whitespace removed by <c>-</c> markers and by transformers' trim_blocks /
    /// lstrip_blocks, quote style, <c>message.role</c> versus <c>message['role']</c>, the loop variable's name, comments,
    /// literal text versus <c>{{ '...' }}</c>, and string pieces split or joined with <c>+</c> or across <c>{{ }}</c> tags.
    /// Anything else (a default system message, trimming, extra newlines, another format) is "not ChatML"; so is null.
    /// </summary>
    public static bool IsChatMl(string? template)
    {
        if (template is null) return false;
        string? normalized = ChatTemplateNormalizer.Normalize(template);
        return normalized is not null && normalized == NormalizedJinja.Value;
    }

    /// <summary>
    /// Refuses a tokenizer whose chat_template is set and is not ChatML (<see cref="IsChatMl"/>): rendering ChatML for
    /// a model that was trained with another format would prompt it wrongly, silently. A tokenizer without a
    /// chat_template (a base model) passes. <paramref name="source"/> names the model folder in the message.
    /// </summary>
    /// <exception cref="TailorException">The chat_template is another format.</exception>
    public static void EnsureChatMl(TextTokenizer tokenizer, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.ChatTemplate is null || IsChatMl(tokenizer.ChatTemplate)) return;
        string head = tokenizer.ChatTemplate.Length <= 80 ? tokenizer.ChatTemplate : tokenizer.ChatTemplate[..80] + "...";
        throw new TailorException(
            $"{source ?? "the tokenizer"}: tokenizer_config.json has a chat_template that is not ChatML ({head.Replace("\n", "\\n", StringComparison.Ordinal)}). "
            + "Tailor renders only ChatML (<|im_start|>role\\ncontent<|im_end|>\\n), and prompting this model with it would not match how it was trained. "
            + "Use a model without a chat_template or with ChatML; to retrain it on ChatML on purpose, replace the template first (ChatTemplate.Install).");
    }

    /// <summary>
    /// Renders <paramref name="messages"/> as ChatML; with <paramref name="addGenerationPrompt"/> the string ends with
    /// <see cref="GenerationPrompt"/>. Identical to rendering <see cref="Jinja"/> with <c>messages</c> and
    /// <c>add_generation_prompt</c>. Contents are not escaped: a literal <c>&lt;|im_end|&gt;</c> in a message stays text
    /// here, and <c>ExampleEncoder</c> encodes it as text, never as the special token.
    /// </summary>
    public static string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        StringBuilder text = new();
        foreach (ChatMessage message in messages)
            text.Append(StartToken).Append(message.RoleName).Append('\n').Append(message.Content).Append(EndToken).Append('\n');
        if (addGenerationPrompt) text.Append(GenerationPrompt);
        return text.ToString();
    }

    /// <summary><see cref="Render(IReadOnlyList{ChatMessage}, bool)"/> for a model's tokenizer: refuses first when its
    /// chat_template is another format (<see cref="EnsureChatMl"/>).</summary>
    /// <exception cref="TailorException">The tokenizer's chat_template is not ChatML.</exception>
    public static string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, TextTokenizer tokenizer, string? source = null)
    {
        EnsureChatMl(tokenizer, source);
        return Render(messages, addGenerationPrompt);
    }
}
