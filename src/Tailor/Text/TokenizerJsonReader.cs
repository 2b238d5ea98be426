using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Text;

/// <summary>What Tailor needs from a tokenizer.json, validated.</summary>
internal sealed class TokenizerDefinition
{
    /// <summary>model.vocab in file order.</summary>
    public required List<KeyValuePair<string, int>> Vocab { get; init; }

    /// <summary>model.merges in rank order.</summary>
    public required List<(string Left, string Right)> Merges { get; init; }

    /// <summary>added_tokens.</summary>
    public required List<AddedToken> AddedTokens { get; init; }

    /// <summary>pre_tokenizer.</summary>
    public required PreTokenizerPipeline PreTokenizer { get; init; }

    /// <summary>True when the normalizer is NFC.</summary>
    public required bool Nfc { get; init; }

    /// <summary>model.ignore_merges: a piece that is itself a vocabulary token is emitted whole.</summary>
    public required bool IgnoreMerges { get; init; }

    /// <summary>model.unk_token.</summary>
    public string? UnknownToken { get; init; }
}

/// <summary>What Tailor needs from a tokenizer_config.json, plus the whole object so that Save can write it back.</summary>
internal sealed class TokenizerConfigData
{
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public int? ModelMaxLength { get; init; }
    public string? ChatTemplate { get; init; }
    public required JsonObject Raw { get; init; }
}

/// <summary>
/// Reads Hugging Face tokenizer.json / tokenizer_config.json files. Every problem becomes a
/// <see cref="TokenizerFormatException"/> naming the file and field: these files come from elsewhere and may be anything.
/// </summary>
internal static class TokenizerJsonReader
{
    private const string Supported = "Tailor loads byte-level BPE tokenizers (GPT-2, Llama 3, Qwen 2/3 and the like)";
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    // Ids size embedding matrices downstream; the largest real vocabularies have about 260k entries.
    private const int MaxId = (1 << 24) - 1;

    public static TokenizerDefinition Read(byte[] json, string source)
    {
        try
        {
            return ReadDefinition(json, source);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json throws this when a string holds invalid UTF-8 or a lone \uD800-style escape.
            throw Fail(source, "", $"holds a string that is not valid Unicode ({e.Message}). Re-download or regenerate the file.", e);
        }
    }

    private static TokenizerDefinition ReadDefinition(byte[] json, string source)
    {
        using JsonDocument document = Parse(json, source);
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw Fail(source, "", $"expected a JSON object at the top level but found {Describe(root)}. Pass a Hugging Face tokenizer.json.");

        if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
            throw Fail(source, "model", "missing or not an object. A tokenizer.json needs a \"model\" with \"vocab\" and \"merges\".");
        ReadModelFlags(model, source, out bool ignoreMerges, out string? unknownToken);

        List<KeyValuePair<string, int>> vocab = ReadVocab(model, source, out Dictionary<string, int> tokenToId, out Dictionary<int, string> idToToken);
        List<(string, string)> merges = ReadMerges(model, source, tokenToId);
        List<AddedToken> added = ReadAddedTokens(root, source, tokenToId, idToToken);
        if (unknownToken is not null && !tokenToId.ContainsKey(unknownToken))
            throw Fail(source, "model.unk_token", $"'{unknownToken}' is not in model.vocab. Add it to the vocabulary or set unk_token to null.");

        bool nfc = ReadNormalizer(root, source);
        PreTokenizerPipeline preTokenizer = ReadPreTokenizer(root, source);
        CheckDecoder(root, source);

        return new TokenizerDefinition
        {
            Vocab = vocab,
            Merges = merges,
            AddedTokens = added,
            PreTokenizer = preTokenizer,
            Nfc = nfc,
            IgnoreMerges = ignoreMerges,
            UnknownToken = unknownToken,
        };
    }

    public static TokenizerConfigData ReadConfig(byte[] json, string source)
    {
        try
        {
            return ReadConfigData(json, source);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // Bad Unicode in a string, or (JsonObject materializes lazily) a property name given twice.
            throw Fail(source, "", $"could not be read as a JSON object ({e.Message}). Fix or regenerate the file.", e);
        }
    }

    private static TokenizerConfigData ReadConfigData(byte[] json, string source)
    {
        // Parsed through JsonDocument first: it reports bad JSON with line numbers and enforces the depth limit.
        using (JsonDocument document = Parse(json, source))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Fail(source, "", $"expected a JSON object at the top level but found {Describe(document.RootElement)}. Pass a Hugging Face tokenizer_config.json.");
        }

        JsonObject raw = JsonNode.Parse(json, documentOptions: DocumentOptions)!.AsObject();

        return new TokenizerConfigData
        {
            BosToken = ReadConfigToken(raw, "bos_token", source),
            EosToken = ReadConfigToken(raw, "eos_token", source),
            PadToken = ReadConfigToken(raw, "pad_token", source),
            ModelMaxLength = ReadModelMaxLength(raw, source),
            ChatTemplate = ReadChatTemplate(raw, source),
            Raw = raw,
        };
    }

    private static JsonDocument Parse(byte[] json, string source)
    {
        try
        {
            return JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw Fail(source, "", $"is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message}). Re-download or regenerate the file.", e);
        }
    }

    private static void ReadModelFlags(JsonElement model, string source, out bool ignoreMerges, out string? unknownToken)
    {
        string? type = OptionalString(model, "type", "model.type", source);
        if (type is not null && type != "BPE")
            throw Fail(source, "model.type", $"'{type}' is not supported. {Supported}; convert the tokenizer or pick a byte-level BPE model.");
        if (OptionalBool(model, "byte_fallback", false, "model.byte_fallback", source))
            throw Fail(source, "model.byte_fallback", $"true means a SentencePiece-style BPE (Llama 2, Mistral), which is not supported. {Supported}.");
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            string? value = OptionalString(model, affix, $"model.{affix}", source);
            if (!string.IsNullOrEmpty(value))
                throw Fail(source, $"model.{affix}", $"'{value}' is set, which byte-level BPE does not use. {Supported}; set it to null.");
        }

        // dropout only matters while training a model with BPE-dropout; encoding here is always deterministic.
        ignoreMerges = OptionalBool(model, "ignore_merges", false, "model.ignore_merges", source);
        unknownToken = OptionalString(model, "unk_token", "model.unk_token", source);
    }

    private static List<KeyValuePair<string, int>> ReadVocab(JsonElement model, string source, out Dictionary<string, int> tokenToId, out Dictionary<int, string> idToToken)
    {
        if (!model.TryGetProperty("vocab", out JsonElement vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw Fail(source, "model.vocab", "missing or not an object of token → id. A BPE tokenizer.json lists its vocabulary there.");

        List<KeyValuePair<string, int>> entries = [];
        tokenToId = new Dictionary<string, int>(StringComparer.Ordinal);
        idToToken = [];
        foreach (JsonProperty property in vocab.EnumerateObject())
        {
            string token = property.Name;
            string field = $"model.vocab[{Quote(token)}]";
            if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out int id) || id is < 0 or > MaxId)
                throw Fail(source, field, $"the id must be an integer from 0 to {MaxId} but is {Describe(property.Value)}.");
            if (token.Length == 0)
                throw Fail(source, field, "an empty token cannot be encoded. Remove the entry.");
            if (!ByteLevelAlphabet.IsAlphabetToken(token))
                throw Fail(source, field, $"the token has characters outside the 256-character byte-level alphabet, so this is not a byte-level BPE vocabulary. {Supported}.");
            if (!tokenToId.TryAdd(token, id))
                throw Fail(source, field, "the token appears twice. Remove one entry.");
            if (!idToToken.TryAdd(id, token))
                throw Fail(source, field, $"id {id} is also used by {Quote(idToToken[id])}. Every token needs its own id.");
            entries.Add(new KeyValuePair<string, int>(token, id));
        }

        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevelAlphabet.ByteToChar[b].ToString();
            if (!tokenToId.ContainsKey(symbol))
                throw Fail(source, "model.vocab", $"byte 0x{b:X2} (token {Quote(symbol)}) is missing; a byte-level BPE vocabulary must hold all 256 byte tokens or some text cannot be encoded.");
        }

        return entries;
    }

    private static List<(string, string)> ReadMerges(JsonElement model, string source, Dictionary<string, int> tokenToId)
    {
        if (!model.TryGetProperty("merges", out JsonElement merges) || merges.ValueKind == JsonValueKind.Null)
            return [];
        if (merges.ValueKind != JsonValueKind.Array)
            throw Fail(source, "model.merges", $"must be an array of \"left right\" strings or [left, right] pairs but is {Describe(merges)}.");

        List<(string, string)> result = new(merges.GetArrayLength());
        HashSet<(string, string)> seen = [];
        int index = 0;
        foreach (JsonElement merge in merges.EnumerateArray())
        {
            string field = $"model.merges[{index}]";
            string left;
            string right;
            if (merge.ValueKind == JsonValueKind.String)
            {
                string text = merge.GetString()!;
                int space = text.IndexOf(' ', StringComparison.Ordinal);
                if (space <= 0 || space == text.Length - 1 || text.IndexOf(' ', space + 1) >= 0)
                    throw Fail(source, field, $"{Quote(text)} is not two tokens separated by one space.");
                left = text[..space];
                right = text[(space + 1)..];
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                left = merge[0].GetString()!;
                right = merge[1].GetString()!;
            }
            else
            {
                throw Fail(source, field, $"must be a \"left right\" string or a [left, right] pair of strings but is {Describe(merge)}.");
            }

            if (!tokenToId.ContainsKey(left))
                throw Fail(source, field, $"left token {Quote(left)} is not in model.vocab. The merges do not belong to this vocabulary; use the matching files.");
            if (!tokenToId.ContainsKey(right))
                throw Fail(source, field, $"right token {Quote(right)} is not in model.vocab. The merges do not belong to this vocabulary; use the matching files.");
            if (!tokenToId.ContainsKey(left + right))
                throw Fail(source, field, $"the merged token {Quote(left + right)} is not in model.vocab. The merges do not belong to this vocabulary; use the matching files.");
            if (!seen.Add((left, right)))
                throw Fail(source, field, $"repeats the merge {Quote(left)} + {Quote(right)}. Remove the later copy.");
            result.Add((left, right));
            index++;
        }

        return result;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string source, Dictionary<string, int> tokenToId, Dictionary<int, string> idToToken)
    {
        List<AddedToken> result = [];
        if (!root.TryGetProperty("added_tokens", out JsonElement added) || added.ValueKind == JsonValueKind.Null)
            return result;
        if (added.ValueKind != JsonValueKind.Array)
            throw Fail(source, "added_tokens", $"must be an array of {{\"id\", \"content\", \"special\", ...}} objects but is {Describe(added)}.");

        Dictionary<int, string> addedIds = [];
        HashSet<string> addedContents = new(StringComparer.Ordinal);
        int index = 0;
        foreach (JsonElement entry in added.EnumerateArray())
        {
            string field = $"added_tokens[{index++}]";
            if (entry.ValueKind != JsonValueKind.Object)
                throw Fail(source, field, $"must be an object but is {Describe(entry)}.");
            if (!entry.TryGetProperty("id", out JsonElement idElement) || idElement.ValueKind != JsonValueKind.Number
                || !idElement.TryGetInt32(out int id) || id is < 0 or > MaxId)
                throw Fail(source, field + ".id", $"missing or not an integer from 0 to {MaxId}.");
            string? content = OptionalString(entry, "content", field + ".content", source);
            if (string.IsNullOrEmpty(content))
                throw Fail(source, field + ".content", "missing or empty; an added token needs its literal text.");
            if (!addedIds.TryAdd(id, content))
                throw Fail(source, field + ".id", $"id {id} is already used by added token {Quote(addedIds[id])}.");
            if (!addedContents.Add(content))
                throw Fail(source, field + ".content", $"{Quote(content)} is listed twice.");
            if (idToToken.TryGetValue(id, out string? vocabToken) && vocabToken != content)
                throw Fail(source, field + ".id", $"id {id} is model.vocab token {Quote(vocabToken)}, not {Quote(content)}. Give the added token a free id.");
            if (tokenToId.TryGetValue(content, out int vocabId) && vocabId != id)
                throw Fail(source, field + ".id", $"{Quote(content)} is model.vocab id {vocabId}, not {id}. Use the same id in both places.");

            result.Add(new AddedToken(
                id,
                content,
                Special: OptionalBool(entry, "special", false, field + ".special", source),
                SingleWord: OptionalBool(entry, "single_word", false, field + ".single_word", source),
                LStrip: OptionalBool(entry, "lstrip", false, field + ".lstrip", source),
                RStrip: OptionalBool(entry, "rstrip", false, field + ".rstrip", source),
                Normalized: OptionalBool(entry, "normalized", false, field + ".normalized", source)));
        }

        return result;
    }

    private static bool ReadNormalizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("normalizer", out JsonElement normalizer) || normalizer.ValueKind == JsonValueKind.Null)
            return false;
        return ReadNormalizer(normalizer, "normalizer", source);
    }

    private static bool ReadNormalizer(JsonElement normalizer, string field, string source)
    {
        if (normalizer.ValueKind != JsonValueKind.Object)
            throw Fail(source, field, $"must be an object or null but is {Describe(normalizer)}.");
        string? type = OptionalString(normalizer, "type", field + ".type", source);
        switch (type)
        {
            case "NFC":
                return true;
            case "Sequence":
                if (!normalizer.TryGetProperty("normalizers", out JsonElement list) || list.ValueKind != JsonValueKind.Array)
                    throw Fail(source, field + ".normalizers", "missing or not an array.");
                bool nfc = false;
                int i = 0;
                foreach (JsonElement inner in list.EnumerateArray())
                    nfc |= ReadNormalizer(inner, $"{field}.normalizers[{i++}]", source);
                return nfc;
            default:
                throw Fail(source, field + ".type", $"normalizer '{type}' is not supported (only NFC is). {Supported}.");
        }
    }

    private static PreTokenizerPipeline ReadPreTokenizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement element) || element.ValueKind == JsonValueKind.Null)
            throw Fail(source, "pre_tokenizer", $"missing; byte-level BPE needs a ByteLevel pre-tokenizer. {Supported}.");
        List<PreTokenizerPipeline.Step> steps = [];
        ReadPreTokenizerStep(element, "pre_tokenizer", source, steps);
        PreTokenizerPipeline pipeline = PreTokenizerPipeline.Create(steps);
        if (!pipeline.HasByteLevel)
            throw Fail(source, "pre_tokenizer", $"has no ByteLevel step, so the vocabulary is not byte-level. {Supported}.");
        return pipeline;
    }

    private static void ReadPreTokenizerStep(JsonElement element, string field, string source, List<PreTokenizerPipeline.Step> steps)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Fail(source, field, $"must be an object but is {Describe(element)}.");
        string? type = OptionalString(element, "type", field + ".type", source);
        switch (type)
        {
            case "Sequence":
                if (!element.TryGetProperty("pretokenizers", out JsonElement list) || list.ValueKind != JsonValueKind.Array)
                    throw Fail(source, field + ".pretokenizers", "missing or not an array.");
                int i = 0;
                foreach (JsonElement inner in list.EnumerateArray())
                    ReadPreTokenizerStep(inner, $"{field}.pretokenizers[{i++}]", source, steps);
                break;
            case "ByteLevel":
                // Hugging Face's defaults: add_prefix_space true, use_regex true.
                steps.Add(PreTokenizerPipeline.ByteLevel(
                    OptionalBool(element, "add_prefix_space", true, field + ".add_prefix_space", source),
                    OptionalBool(element, "use_regex", true, field + ".use_regex", source)));
                break;
            case "Digits":
                steps.Add(PreTokenizerPipeline.Digits(OptionalBool(element, "individual_digits", false, field + ".individual_digits", source)));
                break;
            case "Split":
                steps.Add(ReadSplit(element, field, source));
                break;
            default:
                throw Fail(source, field + ".type", $"pre-tokenizer '{type}' is not supported (ByteLevel, Split, Digits and Sequence are). {Supported}.");
        }
    }

    private static PreTokenizerPipeline.Step ReadSplit(JsonElement element, string field, string source)
    {
        string? behavior = OptionalString(element, "behavior", field + ".behavior", source);
        if (behavior != "Isolated")
            throw Fail(source, field + ".behavior", $"'{behavior}' is not supported; only \"Isolated\" (the behaviour of GPT-4-, Llama 3- and Qwen-style regex splits) is.");

        // invert does not change an Isolated split: matches and the text between them become pieces either way.
        _ = OptionalBool(element, "invert", false, field + ".invert", source);
        if (!element.TryGetProperty("pattern", out JsonElement pattern) || pattern.ValueKind != JsonValueKind.Object)
            throw Fail(source, field + ".pattern", "missing; expected {\"Regex\": \"...\"} or {\"String\": \"...\"}.");
        try
        {
            if (OptionalString(pattern, "Regex", field + ".pattern.Regex", source) is { } regex)
                return PreTokenizerPipeline.SplitRegex(regex);
            if (OptionalString(pattern, "String", field + ".pattern.String", source) is { Length: > 0 } literal)
                return PreTokenizerPipeline.SplitString(literal);
        }
        catch (ArgumentException e)
        {
            throw Fail(source, field + ".pattern.Regex", $"is not a regex .NET can run ({e.Message}). Fix the pattern.", e);
        }

        throw Fail(source, field + ".pattern", "expected {\"Regex\": \"...\"} or a non-empty {\"String\": \"...\"}.");
    }

    private static void CheckDecoder(JsonElement root, string source)
    {
        if (!root.TryGetProperty("decoder", out JsonElement decoder) || decoder.ValueKind == JsonValueKind.Null)
            return;
        if (decoder.ValueKind != JsonValueKind.Object)
            throw Fail(source, "decoder", $"must be an object or null but is {Describe(decoder)}.");
        string? type = OptionalString(decoder, "type", "decoder.type", source);
        if (type != "ByteLevel")
            throw Fail(source, "decoder.type", $"decoder '{type}' is not supported; byte-level BPE decodes with \"ByteLevel\". {Supported}.");
    }

    private static string? ReadConfigToken(JsonObject config, string name, string source)
    {
        if (!config.TryGetPropertyValue(name, out JsonNode? node) || node is null)
            return null;
        // Either "<|endoftext|>" or the AddedToken form {"content": "<|endoftext|>", ...}.
        if (node is JsonValue value && value.TryGetValue(out string? text))
            return text;
        if (node is JsonObject obj && obj.TryGetPropertyValue("content", out JsonNode? content) && content is JsonValue contentValue
            && contentValue.TryGetValue(out string? contentText))
            return contentText;
        throw Fail(source, name, $"must be a token string, an object with \"content\", or null, but is {node.ToJsonString()}.");
    }

    private static int? ReadModelMaxLength(JsonObject config, string source)
    {
        if (!config.TryGetPropertyValue("model_max_length", out JsonNode? node) || node is null)
            return null;
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number)
        {
            // Hugging Face writes 1e30 for "no limit"; anything that does not fit an int means the same here.
            if (value.TryGetValue(out long length) && length is > 0 and <= int.MaxValue)
                return (int)length;
            return null;
        }

        throw Fail(source, "model_max_length", $"must be a number but is {node.ToJsonString()}.");
    }

    private static string? ReadChatTemplate(JsonObject config, string source)
    {
        if (!config.TryGetPropertyValue("chat_template", out JsonNode? node) || node is null)
            return null;
        if (node is JsonValue value && value.TryGetValue(out string? template))
            return template;

        // Newer files may hold several named templates: [{"name": "default", "template": "..."}, ...].
        if (node is JsonArray array)
        {
            string? first = null;
            foreach (JsonNode? item in array)
            {
                if (item is not JsonObject entry || entry["template"] is not JsonValue t || !t.TryGetValue(out string? text))
                    throw Fail(source, "chat_template", "a list of templates must hold {\"name\": ..., \"template\": \"...\"} objects.");
                first ??= text;
                if (entry["name"] is JsonValue n && n.TryGetValue(out string? name) && name == "default")
                    return text;
            }

            return first;
        }

        throw Fail(source, "chat_template", $"must be a string, a list of named templates, or null, but is {node.ToJsonString()}.");
    }

    private static bool OptionalBool(JsonElement element, string name, bool fallback, string field, string source)
    {
        if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return fallback;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(source, field, $"must be true or false but is {Describe(value)}."),
        };
    }

    private static string? OptionalString(JsonElement element, string name, string field, string source)
    {
        if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.String)
            throw Fail(source, field, $"must be a string but is {Describe(value)}.");
        return value.GetString();
    }

    private static string Describe(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => $"the string {Quote(element.GetString() ?? "")}",
        JsonValueKind.Number => $"the number {element.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => element.GetRawText(),
        _ => "null",
    };

    // Tokens may hold control characters or be long; keep messages readable and printable.
    private static string Quote(string token)
    {
        StringBuilder quoted = new("\"");
        foreach (char c in token.Length > 40 ? token[..40] : token)
        {
            if (c < ' ' || char.IsSurrogate(c) || c == '"' || c == '\\')
                quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else
                quoted.Append(c);
        }

        return quoted.Append(token.Length > 40 ? "…\"" : "\"").ToString();
    }

    private static TokenizerFormatException Fail(string source, string field, string problem, Exception? inner = null) =>
        new(source, field, problem, inner);
}
