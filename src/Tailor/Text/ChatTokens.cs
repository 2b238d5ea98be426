using System.Globalization;
using System.Text.Json.Nodes;

namespace Tailor.Text;

/// <summary>
/// The tokenizer half of TRL's <c>setup_chat_format</c>: gives a tokenizer that lacks them (GPT-2's, or a user's
/// Llama/Qwen2 base) the ChatML tokens <c>&lt;|im_start|&gt;</c> and <c>&lt;|im_end|&gt;</c> as special added tokens,
/// makes <c>&lt;|im_end|&gt;</c> its EOS and installs the ChatML chat_template. The model half (growing the embedding and
/// the head to the new ids) is <c>EmbeddingResize</c>.
/// </summary>
/// <remarks>
/// <para>New ids follow the last id of the tokenizer (GPT-2: 50257 <c>&lt;|im_start|&gt;</c>, 50258
/// <c>&lt;|im_end|&gt;</c>), as <c>add_special_tokens</c> numbers them; existing ids never move.</para>
/// <para>One difference from TRL, on purpose: TRL also makes <c>&lt;|im_end|&gt;</c> the pad token and
/// <c>&lt;|im_start|&gt;</c> the BOS. A pad token equal to the end-of-turn token lets any tool that masks labels by pad id
/// also mask every end of turn, so the model never learns to stop (Tailor refuses that pairing everywhere, see
/// <c>Packing.PadIdOf</c>); so a tokenizer without a pad token gets its own <c>&lt;|pad|&gt;</c> instead, the pad token
/// of every tokenizer Tailor trains. The BOS is left as it was: the ChatML template writes <c>&lt;|im_start|&gt;</c>
/// itself, and a BOS of <c>&lt;|im_start|&gt;</c> would be doubled by tools that prepend the BOS.</para>
/// </remarks>
public static class ChatTokens
{
    /// <summary>The pad token added to a tokenizer that has none (the one <see cref="BpeTrainer"/> gives every tokenizer).</summary>
    public const string PadToken = "<|pad|>";

    /// <summary>Whether <paramref name="tokenizer"/> lacks <c>&lt;|im_start|&gt;</c> or <c>&lt;|im_end|&gt;</c>, so ChatML needs new tokens.</summary>
    public static bool AreMissing(TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.TokenToId(ChatTemplate.StartToken) is null || tokenizer.TokenToId(ChatTemplate.EndToken) is null;
    }

    /// <summary>
    /// A new tokenizer: <paramref name="tokenizer"/> plus the missing ChatML tokens (and <see cref="PadToken"/> when it has
    /// no pad token) as special added tokens at the next free ids, EOS <c>&lt;|im_end|&gt;</c>, the ChatML chat_template.
    /// tokenizer.json keeps every other field; tokenizer_config.json keeps every field but eos_token, pad_token,
    /// chat_template and the added-token lists, which gain the new tokens. <paramref name="added"/> lists the new tokens
    /// in id order (empty, and the tokenizer returned as it was, when nothing is missing).
    /// </summary>
    /// <exception cref="TailorException">The tokenizer has a chat_template that is not ChatML (see <see cref="ChatTemplate.EnsureChatMl"/>).</exception>
    public static TextTokenizer AddTo(TextTokenizer tokenizer, out IReadOnlyList<string> added, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        added = [];
        if (!AreMissing(tokenizer)) return tokenizer;
        ChatTemplate.EnsureChatMl(tokenizer, source);

        var names = new List<string>();
        foreach (string token in (string[])[ChatTemplate.StartToken, ChatTemplate.EndToken])
            if (tokenizer.TokenToId(token) is null) names.Add(token);
        string pad = tokenizer.PadId is int padId ? tokenizer.IdToToken(padId)! : PadToken;
        if (tokenizer.PadId is null && tokenizer.TokenToId(PadToken) is null) names.Add(PadToken);

        // tokenizer.json: the new tokens appended to added_tokens, special, matched on the raw text (normalized false).
        var json = JsonNode.Parse(tokenizer.TokenizerJson)!.AsObject();
        if (json["added_tokens"] is not JsonArray addedTokens)
            json["added_tokens"] = addedTokens = [];
        var entries = new List<(int Id, string Content)>();
        int id = tokenizer.VocabSize;
        foreach (string name in names)
        {
            addedTokens.Add(new JsonObject
            {
                ["id"] = id, ["content"] = name, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
            entries.Add((id++, name));
        }

        // tokenizer_config.json: the same tokens in added_tokens_decoder (when the file keeps that list) and as
        // additional special tokens, which is where transformers' add_special_tokens records them.
        JsonObject config;
        if (tokenizer.Config is not null)
        {
            config = tokenizer.Config.DeepClone().AsObject();
            if (config["added_tokens_decoder"] is JsonObject decoder)
                foreach (var (tokenId, content) in entries) decoder[tokenId.ToString(CultureInfo.InvariantCulture)] = DecoderEntry(content);
        }
        else
        {
            config = new JsonObject
            {
                ["add_bos_token"] = false,
                ["add_eos_token"] = false,
                ["bos_token"] = tokenizer.BosId is int bos ? tokenizer.IdToToken(bos) : null,
                ["clean_up_tokenization_spaces"] = false,
                ["tokenizer_class"] = "PreTrainedTokenizerFast",
            };
            if (tokenizer.ModelMaxLength is int max) config["model_max_length"] = max;
        }
        if (config["additional_special_tokens"] is not JsonArray additional)
            config["additional_special_tokens"] = additional = [];
        foreach (var (_, content) in entries)
            if (content != pad && !additional.Any(n => n is JsonValue v && v.TryGetValue(out string? s) && s == content)) additional.Add(JsonValue.Create(content));
        config["eos_token"] = ChatTemplate.EndToken;
        config["pad_token"] = pad;
        config["chat_template"] = ChatTemplate.Jinja;

        added = [.. entries.Select(e => e.Content)];
        return TextTokenizer.FromBytes(TokenizerJsonWriter.Serialize(json), "tokenizer.json with ChatML tokens",
            TokenizerJsonWriter.Serialize(config), "tokenizer_config.json with ChatML tokens");
    }

    private static JsonObject DecoderEntry(string content) => new()
    {
        ["content"] = content, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true,
    };
}
