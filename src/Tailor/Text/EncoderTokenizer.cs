using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Text;

/// <summary>One text as an encoder reads it: token ids with the model's special tokens, and token types (segment ids).</summary>
public sealed record EncodedInput(int[] Ids, int[] TypeIds);

/// <summary>
/// The tokenizer of a BERT-family encoder: text → ids with the model's special tokens around them ([CLS] … [SEP] for
/// BERT's WordPiece, &lt;s&gt; … &lt;/s&gt; for RoBERTa's byte-level BPE), truncated to a length.
/// </summary>
public abstract class EncoderTokenizer
{
    /// <summary>The padding id batches are filled with.</summary>
    public abstract int PadId { get; }

    /// <summary>Number of ids.</summary>
    public abstract int VocabSize { get; }

    /// <summary>Encodes one text with special tokens, keeping at most <paramref name="maxTokens"/> ids (the end is cut, the closing special kept).</summary>
    public abstract EncodedInput Encode(string text, int maxTokens);

    /// <summary>The token string of an id, or null.</summary>
    public abstract string? IdToToken(int id);

    /// <summary>Writes tokenizer.json (and companions) into <paramref name="folder"/>.</summary>
    public abstract void Save(string folder);

    /// <summary>
    /// Loads a folder's tokenizer: tokenizer.json with a WordPiece model (BERT) or a BPE model (RoBERTa), or a bare
    /// vocab.txt (BERT, uncased unless tokenizer_config.json says do_lower_case false).
    /// </summary>
    public static EncoderTokenizer Load(string folder)
    {
        string json = Path.Combine(folder, TextTokenizer.TokenizerFileName);
        if (File.Exists(json))
        {
            JsonObject root;
            try
            {
                root = JsonNode.Parse(File.ReadAllBytes(json)) as JsonObject
                    ?? throw new TokenizerFormatException(json, "", "is not a JSON object.");
            }
            catch (JsonException e)
            {
                throw new TokenizerFormatException(json, "", $"is not valid JSON (line {e.LineNumber + 1}): {e.Message.Split('\n')[0]}", e);
            }
            string? type = (string?)root["model"]?["type"];
            return type switch
            {
                "WordPiece" => WordPieceTokenizer.FromTokenizerJson(root, json),
                "BPE" => new ByteLevelEncoderTokenizer(TextTokenizer.Load(folder), root, json),
                _ => throw new TokenizerFormatException(json, "model.type", $"is '{type}'; encoders need WordPiece (BERT) or BPE (RoBERTa)."),
            };
        }
        string vocab = Path.Combine(folder, "vocab.txt");
        if (File.Exists(vocab))
        {
            bool lower = true;
            string config = Path.Combine(folder, "tokenizer_config.json");
            if (File.Exists(config) && JsonNode.Parse(File.ReadAllBytes(config)) is JsonObject c && c["do_lower_case"] is JsonValue v && v.TryGetValue(out bool l))
                lower = l;
            return WordPieceTokenizer.FromVocabFile(vocab, lower);
        }
        throw new TokenizerFormatException(folder, "", "has neither tokenizer.json nor vocab.txt. An encoder folder needs one of them.");
    }
}

/// <summary>RoBERTa's tokenizer: byte-level BPE (<see cref="TextTokenizer"/>) between &lt;s&gt; and &lt;/s&gt;.</summary>
public sealed class ByteLevelEncoderTokenizer : EncoderTokenizer
{
    private readonly TextTokenizer _bpe;
    private readonly int _clsId, _sepId;

    internal ByteLevelEncoderTokenizer(TextTokenizer bpe, JsonObject root, string source)
    {
        _bpe = bpe;
        // RobertaProcessing names them as [token, id] pairs; a TemplateProcessing lists them in special_tokens.
        string cls = "<s>", sep = "</s>";
        if (root["post_processor"] is JsonObject post)
        {
            if ((string?)post["type"] == "RobertaProcessing")
            {
                cls = (string?)post["cls"]?[0] ?? cls;
                sep = (string?)post["sep"]?[0] ?? sep;
            }
            else if ((string?)post["type"] == "TemplateProcessing" && post["single"] is JsonArray single)
            {
                var specials = single.OfType<JsonObject>().Select(p => (string?)p["SpecialToken"]?["id"]).ToList();
                if (specials.Count == 3 && specials[0] is string c && specials[2] is string s) (cls, sep) = (c, s);
            }
        }
        _clsId = bpe.TokenToId(cls) ?? throw new TokenizerFormatException(source, "post_processor", $"names '{cls}', which is not in the vocabulary.");
        _sepId = bpe.TokenToId(sep) ?? throw new TokenizerFormatException(source, "post_processor", $"names '{sep}', which is not in the vocabulary.");
        PadId = bpe.PadId ?? bpe.TokenToId("<pad>") ?? throw new TokenizerFormatException(source, "added_tokens", "has no <pad> token and tokenizer_config.json names no pad_token.");
    }

    /// <inheritdoc/>
    public override int PadId { get; }

    /// <inheritdoc/>
    public override int VocabSize => _bpe.VocabSize;

    /// <inheritdoc/>
    public override EncodedInput Encode(string text, int maxTokens)
    {
        var body = _bpe.Encode(text);
        int keep = Math.Min(body.Count, maxTokens - 2);
        var ids = new int[keep + 2];
        ids[0] = _clsId;
        for (int i = 0; i < keep; i++) ids[i + 1] = body[i];
        ids[^1] = _sepId;
        return new EncodedInput(ids, new int[ids.Length]);
    }

    /// <inheritdoc/>
    public override string? IdToToken(int id) => _bpe.IdToToken(id);

    /// <inheritdoc/>
    public override void Save(string folder) => _bpe.Save(folder);
}
