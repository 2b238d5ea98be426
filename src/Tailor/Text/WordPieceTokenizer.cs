using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Text;

/// <summary>
/// BERT's tokenizer, as Hugging Face tokenizers runs a tokenizer.json whose model is "WordPiece": the BertNormalizer
/// (clean text, space out CJK ideographs, strip accents, lowercase), the BertPreTokenizer (split on whitespace, each
/// punctuation character its own word), greedy longest-match-first WordPiece with "##" continuations (a word with no
/// complete segmentation, or longer than max_input_chars_per_word, becomes [UNK]), then [CLS] … [SEP]. Also reads a
/// plain vocab.txt (one token per line, id = line number) with BERT-uncased defaults.
/// </summary>
public sealed class WordPieceTokenizer : EncoderTokenizer
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly int _unkId;
    private readonly string _prefix;
    private readonly int _maxWordChars;
    private readonly bool _cleanText, _chineseChars, _stripAccents, _lowercase;
    private readonly int _clsId, _sepId;
    private readonly int[] _specialIds;

    private WordPieceTokenizer(Dictionary<string, int> vocab, string unk, string prefix, int maxWordChars, bool cleanText,
        bool chineseChars, bool stripAccents, bool lowercase, string cls, string sep, string pad, string source)
    {
        _vocab = vocab;
        _idToToken = new string[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) _idToToken[id] = token;
        _unkId = Id(unk, "unk_token");
        _prefix = prefix;
        _maxWordChars = maxWordChars;
        _cleanText = cleanText;
        _chineseChars = chineseChars;
        _stripAccents = stripAccents;
        _lowercase = lowercase;
        _clsId = Id(cls, "[CLS]");
        _sepId = Id(sep, "[SEP]");
        PadId = Id(pad, "[PAD]");
        _specialIds = [.. new[] { PadId, _unkId, _clsId, _sepId }.Concat(vocab.TryGetValue("[MASK]", out int mask) ? [mask] : Array.Empty<int>()).Distinct()];

        int Id(string token, string role) => vocab.TryGetValue(token, out int id) ? id
            : throw new TokenizerFormatException(source, "model.vocab", $"has no {role} token '{token}'. A BERT vocabulary needs [PAD], [UNK], [CLS] and [SEP].");
    }

    /// <inheritdoc/>
    public override int PadId { get; }

    /// <inheritdoc/>
    public override int VocabSize => _idToToken.Length;

    /// <summary>Whether text is lowercased (an "uncased" model).</summary>
    public bool Lowercase => _lowercase;

    /// <summary>Reads a vocab.txt with BERT-uncased settings (lowercase, strip accents, [CLS]/[SEP]/[PAD]/[UNK]).</summary>
    public static WordPieceTokenizer FromVocabFile(string path, bool lowercase = true)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        int line = 0;
        foreach (string raw in File.ReadLines(path))
        {
            string token = raw.TrimEnd('\r');
            if (!vocab.TryAdd(token, line))
                throw new TokenizerFormatException(path, $"line {line + 1}", $"repeats token '{token}'. Each line of vocab.txt must be a distinct token.");
            line++;
        }
        return new WordPieceTokenizer(vocab, "[UNK]", "##", 100, true, true, lowercase, lowercase, "[CLS]", "[SEP]", "[PAD]", path);
    }

    /// <summary>Reads a tokenizer.json whose model type is WordPiece.</summary>
    public static WordPieceTokenizer FromTokenizerJson(JsonObject root, string source)
    {
        var model = root["model"] as JsonObject ?? throw new TokenizerFormatException(source, "model", "is missing.");
        var vocabNode = model["vocab"] as JsonObject ?? throw new TokenizerFormatException(source, "model.vocab", "is missing or not an object.");
        var vocab = new Dictionary<string, int>(vocabNode.Count, StringComparer.Ordinal);
        foreach (var (token, idNode) in vocabNode)
        {
            if (idNode is not JsonValue v || !v.TryGetValue(out int id) || id < 0)
                throw new TokenizerFormatException(source, $"model.vocab.{token}", "must be a non-negative integer id.");
            vocab[token] = id;
        }
        string unk = (string?)model["unk_token"] ?? "[UNK]";
        string prefix = (string?)model["continuing_subword_prefix"] ?? "##";
        int maxChars = (int?)model["max_input_chars_per_word"] ?? 100;

        bool clean = true, chinese = true, lower = true;
        bool? strip = null;
        switch (root["normalizer"])
        {
            case null:
                clean = chinese = lower = false;
                strip = false;
                break;
            case JsonObject n when (string?)n["type"] == "BertNormalizer":
                clean = (bool?)n["clean_text"] ?? true;
                chinese = (bool?)n["handle_chinese_chars"] ?? true;
                lower = (bool?)n["lowercase"] ?? true;
                strip = (bool?)n["strip_accents"];
                break;
            case JsonObject n:
                throw new TokenizerFormatException(source, "normalizer", $"is '{(string?)n["type"]}'; a WordPiece tokenizer.json needs a BertNormalizer (or none).");
        }
        if (root["pre_tokenizer"] is JsonObject pre && (string?)pre["type"] != "BertPreTokenizer")
            throw new TokenizerFormatException(source, "pre_tokenizer", $"is '{(string?)pre["type"]}'; a WordPiece tokenizer.json needs the BertPreTokenizer.");

        // [CLS]/[SEP] from the post-processor (TemplateProcessing or BertProcessing), BERT's names otherwise.
        string cls = "[CLS]", sep = "[SEP]";
        if (root["post_processor"] is JsonObject post)
        {
            if ((string?)post["type"] == "BertProcessing")
            {
                cls = (string?)post["cls"]?[0] ?? cls;
                sep = (string?)post["sep"]?[0] ?? sep;
            }
            else if ((string?)post["type"] == "TemplateProcessing" && post["single"] is JsonArray single)
            {
                var specials = single.OfType<JsonObject>().Select(p => (string?)p["SpecialToken"]?["id"]).ToList();
                if (specials.Count == 3 && specials[0] is string c && specials[2] is string s)
                    (cls, sep) = (c, s);
            }
        }
        string pad = root["padding"] is JsonObject padding && (string?)padding["pad_token"] is string p ? p : "[PAD]";
        return new WordPieceTokenizer(vocab, unk, prefix, maxChars, clean, chinese, strip ?? lower, lower, cls, sep, pad, source);
    }

    /// <inheritdoc/>
    public override EncodedInput Encode(string text, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int> { _clsId };
        foreach (var (piece, special) in SplitSpecial(text))
        {
            if (ids.Count >= maxTokens - 1) break;
            if (special is int id)
            {
                ids.Add(id);
                continue;
            }
            foreach (string word in PreTokenize(Normalize(piece)))
            {
                if (ids.Count >= maxTokens - 1) break;
                AppendWordPieces(word, ids);
            }
        }
        if (ids.Count > maxTokens - 1) ids.RemoveRange(maxTokens - 1, ids.Count - (maxTokens - 1));
        ids.Add(_sepId);
        return new EncodedInput([.. ids], new int[ids.Count]);
    }

    // Special tokens written in the text ("[SEP]", "[MASK]") are their own ids, matched before normalisation, as Hugging
    // Face tokenizers matches added special tokens.
    private IEnumerable<(string Piece, int? Special)> SplitSpecial(string text)
    {
        int start = 0;
        while (start < text.Length)
        {
            int best = -1, bestId = 0, bestLength = 0;
            foreach (int id in _specialIds)
            {
                string token = _idToToken[id];
                int at = text.IndexOf(token, start, StringComparison.Ordinal);
                if (at >= 0 && (best < 0 || at < best)) (best, bestId, bestLength) = (at, id, token.Length);
            }
            if (best < 0) break;
            if (best > start) yield return (text[start..best], null);
            yield return ("", bestId);
            start = best + bestLength;
        }
        if (start < text.Length) yield return (text[start..], null);
    }

    /// <inheritdoc/>
    public override string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>The word pieces of <paramref name="text"/> without [CLS]/[SEP] (for tests and `tailor tokenizer`).</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        var ids = new List<int>();
        foreach (string word in PreTokenize(Normalize(text))) AppendWordPieces(word, ids);
        return [.. ids.Select(i => _idToToken[i])];
    }

    /// <inheritdoc/>
    public override void Save(string folder)
    {
        // HF's tokenizer.json for a BERT model: the same normalizer, pre-tokenizer, model and [CLS] $A [SEP] template.
        var specials = new[] { _idToToken[PadId], _idToToken[_unkId], _idToToken[_clsId], _idToToken[_sepId] }
            .Concat(_vocab.ContainsKey("[MASK]") ? ["[MASK]"] : Array.Empty<string>()).Distinct().OrderBy(t => _vocab[t]);
        var vocab = new JsonObject();
        for (int i = 0; i < _idToToken.Length; i++) if (_idToToken[i] is string t) vocab[t] = i;
        string cls = _idToToken[_clsId], sep = _idToToken[_sepId];
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray([.. specials.Select(t => (JsonNode)new JsonObject
            {
                ["id"] = _vocab[t], ["content"] = t, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            })]),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer", ["clean_text"] = _cleanText, ["handle_chinese_chars"] = _chineseChars,
                ["strip_accents"] = _stripAccents, ["lowercase"] = _lowercase,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Special(cls, 0), Sequence("A", 0), Special(sep, 0)),
                ["pair"] = new JsonArray(Special(cls, 0), Sequence("A", 0), Special(sep, 0), Sequence("B", 1), Special(sep, 1)),
                ["special_tokens"] = new JsonObject
                {
                    [cls] = new JsonObject { ["id"] = cls, ["ids"] = new JsonArray(_clsId), ["tokens"] = new JsonArray(cls) },
                    [sep] = new JsonObject { ["id"] = sep, ["ids"] = new JsonArray(_sepId), ["tokens"] = new JsonArray(sep) },
                },
            },
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = _prefix, ["cleanup"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = _idToToken[_unkId], ["continuing_subword_prefix"] = _prefix,
                ["max_input_chars_per_word"] = _maxWordChars, ["vocab"] = vocab,
            },
        };
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, TextTokenizer.TokenizerFileName), root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var config = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer", ["do_lower_case"] = _lowercase, ["cls_token"] = cls, ["sep_token"] = sep,
            ["pad_token"] = _idToToken[PadId], ["unk_token"] = _idToToken[_unkId],
            ["mask_token"] = _vocab.ContainsKey("[MASK]") ? "[MASK]" : null, ["strip_accents"] = null, ["tokenize_chinese_chars"] = _chineseChars,
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), _idToToken.Select(t => t ?? ""));

        static JsonObject Special(string id, int type) => new() { ["SpecialToken"] = new JsonObject { ["id"] = id, ["type_id"] = type } };
        static JsonObject Sequence(string id, int type) => new() { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = type } };
    }

    private string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        foreach (Rune r in text.EnumerateRunes())
        {
            int c = r.Value;
            if (_cleanText)
            {
                if (c == 0 || c == 0xFFFD || IsControl(r)) continue;
                if (IsWhitespace(r)) { sb.Append(' '); continue; }
            }
            if (_chineseChars && IsCjk(c)) { sb.Append(' ').Append(r.ToString()).Append(' '); continue; }
            sb.Append(r.ToString());
        }
        string s = sb.ToString();
        if (_stripAccents)
        {
            var stripped = new StringBuilder(s.Length);
            foreach (Rune r in Nfc.Decompose(s).EnumerateRunes())
                if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) stripped.Append(r.ToString());
            s = stripped.ToString();
        }
        if (_lowercase)
        {
            var lower = new StringBuilder(s.Length);
            foreach (Rune r in s.EnumerateRunes()) lower.Append(Rune.ToLowerInvariant(r).ToString());
            s = lower.ToString();
        }
        return s;
    }

    // HF's BertPreTokenizer: whitespace separates words and is dropped; each punctuation character is a word of its own.
    private static IEnumerable<string> PreTokenize(string text)
    {
        var word = new StringBuilder();
        foreach (Rune r in text.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(r))
            {
                if (word.Length > 0) { yield return word.ToString(); word.Clear(); }
            }
            else if (IsPunctuation(r))
            {
                if (word.Length > 0) { yield return word.ToString(); word.Clear(); }
                yield return r.ToString();
            }
            else
            {
                word.Append(r.ToString());
            }
        }
        if (word.Length > 0) yield return word.ToString();
    }

    private void AppendWordPieces(string word, List<int> ids)
    {
        int length = word.EnumerateRunes().Count();
        if (length > _maxWordChars) { ids.Add(_unkId); return; }
        int before = ids.Count;
        int start = 0;
        while (start < word.Length)
        {
            int end = word.Length;
            int found = -1;
            while (end > start)
            {
                string piece = start > 0 ? _prefix + word[start..end] : word[start..end];
                if (_vocab.TryGetValue(piece, out int id)) { found = id; break; }
                end--;
                if (end > start && char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[end - 1])) end--; // never split a pair
            }
            if (found < 0)
            {
                ids.RemoveRange(before, ids.Count - before);
                ids.Add(_unkId);
                return;
            }
            ids.Add(found);
            start = end;
        }
    }

    private static bool IsWhitespace(Rune r) => r.Value is '\t' or '\n' or '\r' or ' ' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    private static bool IsPunctuation(Rune r)
    {
        int c = r.Value;
        if (c is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126)) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsCjk(int c) =>
        c is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F)
            or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
