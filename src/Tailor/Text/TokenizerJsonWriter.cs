using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Text;

/// <summary>
/// Writes Hugging Face tokenizer.json and tokenizer_config.json files for tokenizers Tailor trained. The output is
/// deterministic: same input, same bytes (keys in a fixed order, "\n" line ends, non-ASCII written as UTF-8).
/// </summary>
internal static class TokenizerJsonWriter
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        NewLine = "\n",
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// A byte-level BPE tokenizer.json: model vocab (index = id), merges in rank order, added tokens, and the GPT-2
    /// ByteLevel pre-tokenizer/decoder that <see cref="BpeTrainer"/> trains with.
    /// </summary>
    public static byte[] WriteTokenizer(IReadOnlyList<string> vocab, IReadOnlyList<(string Left, string Right)> merges, IReadOnlyList<AddedToken> added)
    {
        using MemoryStream stream = new();
        using (Utf8JsonWriter w = new(stream, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            foreach (AddedToken token in added)
            {
                w.WriteStartObject();
                w.WriteNumber("id", token.Id);
                w.WriteString("content", token.Content);
                w.WriteBoolean("single_word", token.SingleWord);
                w.WriteBoolean("lstrip", token.LStrip);
                w.WriteBoolean("rstrip", token.RStrip);
                w.WriteBoolean("normalized", token.Normalized);
                w.WriteBoolean("special", token.Special);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteNull("normalizer");
            WriteByteLevel(w, "pre_tokenizer", addPrefixSpace: false, trimOffsets: true);
            WriteByteLevel(w, "post_processor", addPrefixSpace: true, trimOffsets: false);
            WriteByteLevel(w, "decoder", addPrefixSpace: true, trimOffsets: true);

            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (int id = 0; id < vocab.Count; id++)
                w.WriteNumber(vocab[id], id);
            w.WriteEndObject();

            // "left right" strings rather than [left, right] pairs: every tokenizers version reads them, and byte-level
            // tokens never contain a space, so the form is unambiguous.
            w.WriteStartArray("merges");
            foreach ((string left, string right) in merges)
                w.WriteStringValue($"{left} {right}");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    /// <summary>A tokenizer_config.json for transformers' PreTrainedTokenizerFast (keys sorted, as transformers writes them).</summary>
    public static JsonObject CreateConfig(IReadOnlyList<AddedToken> added, string? bos, string? eos, string? pad, int? modelMaxLength, string? chatTemplate)
    {
        JsonObject decoder = [];
        foreach (AddedToken token in added)
        {
            decoder[token.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = token.Content,
                ["lstrip"] = token.LStrip,
                ["normalized"] = token.Normalized,
                ["rstrip"] = token.RStrip,
                ["single_word"] = token.SingleWord,
                ["special"] = token.Special,
            };
        }

        JsonArray additional = [];
        foreach (AddedToken token in added)
        {
            if (token.Special && token.Content != bos && token.Content != eos && token.Content != pad)
                additional.Add(JsonValue.Create(token.Content)); // not Add<T>: that path needs reflection-based serialization
        }

        JsonObject config = new()
        {
            ["add_bos_token"] = false,
            ["add_eos_token"] = false,
            ["added_tokens_decoder"] = decoder,
            ["additional_special_tokens"] = additional,
            ["bos_token"] = bos,
        };
        if (chatTemplate is not null)
            config["chat_template"] = chatTemplate;
        config["clean_up_tokenization_spaces"] = false;
        config["eos_token"] = eos;
        if (modelMaxLength is not null)
            config["model_max_length"] = modelMaxLength.Value;
        config["pad_token"] = pad;
        config["tokenizer_class"] = "PreTrainedTokenizerFast";
        config["unk_token"] = null;
        return config;
    }

    /// <summary>Serializes a config object the same way every time.</summary>
    public static byte[] Serialize(JsonObject config)
    {
        using MemoryStream stream = new();
        using (Utf8JsonWriter w = new(stream, WriterOptions))
            config.WriteTo(w);
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string name, bool addPrefixSpace, bool trimOffsets)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", addPrefixSpace);
        w.WriteBoolean("trim_offsets", trimOffsets);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }
}
