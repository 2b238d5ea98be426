using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace Tailor.Text;

/// <summary>
/// A byte-level BPE tokenizer read from (and written as) a Hugging Face <c>tokenizer.json</c> + <c>tokenizer_config.json</c>:
/// GPT-2, Llama 3, Qwen 2/3, or one trained by <see cref="BpeTrainer"/>.
/// </summary>
/// <remarks>
/// <para>Encoding follows Hugging Face's order: added tokens are found in the raw text first, each stretch between them
/// is normalized (NFC where the file says so), split by the pre-tokenizer, and every piece is encoded by
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (ByteLevel mode), which also decodes. Written by hand, because
/// that library lacks them: the added-token matcher (its special-token handling cannot be switched off per call),
/// code-point-correct regex splitting (<see cref="CodePointRegex"/>), the NFC normalizer (<see cref="Nfc"/>; .NET's
/// is a no-op under invariant globalization), Llama 3's <c>ignore_merges</c>, and tokenizer.json reading and writing.</para>
/// <para>Encode never adds BOS/EOS; callers add <see cref="BosId"/>/<see cref="EosId"/> where their format wants them.
/// Instances are immutable apart from <see cref="ChatTemplate"/> and safe to use from several threads.</para>
/// </remarks>
public sealed class TextTokenizer
{
    internal const string TokenizerFileName = "tokenizer.json";
    private const string ConfigFileName = "tokenizer_config.json";

    // Tokens Hugging Face models commonly use, for files that come without a tokenizer_config.json.
    private static readonly string[] KnownBos = ["<|begin_of_text|>", "<s>", "<bos>"];
    private static readonly string[] KnownEos = ["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"];
    private static readonly string[] KnownPad = ["<|pad|>", "<pad>"];

    private readonly BpeTokenizer _model;
    private readonly byte[] _tokenizerJson;
    private readonly JsonObject? _config;
    private readonly string? _loadedChatTemplate;
    private readonly PreTokenizerPipeline _preTokenizer;
    private readonly bool _nfc;
    private readonly bool _ignoreMerges;
    private readonly AddedToken[] _addedTokens;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly AddedTokenMatcher _allAdded;
    private readonly AddedTokenMatcher _nonSpecialAdded;
    private readonly List<(string Left, string Right)> _merges;

    // BpeTokenizer keeps its token ↔ id maps internal (2.0.1), so the facade holds its own for lookups.
    private readonly Dictionary<string, int> _tokenToId;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _tokenToIdBySpan;
    private readonly Dictionary<int, string> _idToToken;
    private readonly Lazy<int?> _maxCharsPerToken;

    private TextTokenizer(TokenizerDefinition definition, byte[] tokenizerJson, TokenizerConfigData? config, string source, string configSource)
    {
        _tokenizerJson = tokenizerJson;
        _config = config?.Raw;
        _preTokenizer = definition.PreTokenizer;
        _nfc = definition.Nfc;
        _ignoreMerges = definition.IgnoreMerges;
        _merges = definition.Merges;
        _addedTokens = [.. definition.AddedTokens];
        _addedById = _addedTokens.ToDictionary(t => t.Id);
        _addedByContent = _addedTokens.ToDictionary(t => t.Content, StringComparer.Ordinal);
        _allAdded = new AddedTokenMatcher(_addedTokens);
        _nonSpecialAdded = new AddedTokenMatcher(_addedTokens.Where(t => !t.Special));
        _tokenToId = new Dictionary<string, int>(definition.Vocab, StringComparer.Ordinal);
        _tokenToIdBySpan = _tokenToId.GetAlternateLookup<ReadOnlySpan<char>>();
        _idToToken = definition.Vocab.ToDictionary(kv => kv.Value, kv => kv.Key);
        _maxCharsPerToken = new Lazy<int?>(ComputeMaxCharsPerToken);

        try
        {
            _model = BpeTokenizer.Create(new BpeOptions(definition.Vocab)
            {
                Merges = definition.Merges.Select(m => $"{m.Left} {m.Right}"),
                ByteLevel = true,
                UnknownToken = definition.UnknownToken,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // The reader checks what BpeTokenizer checks; this is a safety net with a readable message.
            throw new TokenizerFormatException(source, "model", $"Microsoft.ML.Tokenizers rejected the BPE model: {e.Message}", e);
        }

        int maxId = definition.Vocab.Count == 0 ? -1 : definition.Vocab.Max(kv => kv.Value);
        foreach (AddedToken token in _addedTokens)
            maxId = Math.Max(maxId, token.Id);
        VocabSize = maxId + 1;
        SpecialIds = [.. _addedTokens.Where(t => t.Special).Select(t => t.Id).Order()];

        ModelMaxLength = config?.ModelMaxLength;
        ChatTemplate = _loadedChatTemplate = config?.ChatTemplate;
        BosId = ResolveSpecial(config?.BosToken, "bos_token", KnownBos, config is not null, configSource);
        EosId = ResolveSpecial(config?.EosToken, "eos_token", KnownEos, config is not null, configSource);
        PadId = ResolveSpecial(config?.PadToken, "pad_token", KnownPad, config is not null, configSource);
    }

    /// <summary>Number of ids: one more than the largest id of the vocabulary and the added (special) tokens.</summary>
    public int VocabSize { get; }

    /// <summary>Ids of the added tokens marked special, ascending.</summary>
    public IReadOnlyList<int> SpecialIds { get; }

    /// <summary>Beginning-of-sequence id: tokenizer_config.json's bos_token, else a well-known token such as
    /// <c>&lt;|begin_of_text|&gt;</c> when there is no config; null when there is none.</summary>
    public int? BosId { get; }

    /// <summary>End-of-sequence id: tokenizer_config.json's eos_token, else a well-known token such as
    /// <c>&lt;|endoftext|&gt;</c> when there is no config; null when there is none.</summary>
    public int? EosId { get; }

    /// <summary>Padding id: tokenizer_config.json's pad_token, else <c>&lt;|pad|&gt;</c>/<c>&lt;pad&gt;</c> when there is no
    /// config; null when there is none.</summary>
    public int? PadId { get; }

    /// <summary>tokenizer_config.json's model_max_length; null when absent or "unlimited" (Hugging Face writes 1e30).</summary>
    public int? ModelMaxLength { get; }

    /// <summary>
    /// The most characters (UTF-16 code units) of text that one token of <see cref="Encode(string, bool)"/> (without
    /// parseSpecial) can stand for, so that a text of more than <c>n × MaxCharsPerToken</c> characters surely has more
    /// than <c>n</c> tokens; a server checks this before tokenizing a prompt. Byte-level BPE: a vocabulary token covers
    /// as many bytes of UTF-8 as its spelling has characters, an added token its content's bytes, and a character is at
    /// least one byte; NFC normalization can fold up to 4 code points into one character (Unicode's longest canonical
    /// decomposition), so with it the bound is 4 times larger. Null when no bound holds: a non-special added token
    /// with lstrip or rstrip swallows any run of whitespace.
    /// </summary>
    public int? MaxCharsPerToken => _maxCharsPerToken.Value;

    /// <summary>tokenizer_config.json's chat_template (a Jinja template), read and written back by <see cref="Save"/>.</summary>
    public string? ChatTemplate { get; set; }

    /// <summary>The tokenizer.json bytes this tokenizer was read from (and writes back); do not modify.</summary>
    internal byte[] TokenizerJson => _tokenizerJson;

    /// <summary>The tokenizer_config.json it was read with; null when it had none. Do not modify: clone it.</summary>
    internal JsonObject? Config => _config;

    /// <summary>The BPE merges in rank order, as byte-level spellings (for exporters such as GGUF's).</summary>
    internal IReadOnlyList<(string Left, string Right)> Merges => _merges;

    /// <summary>The added token with this id (special or not); null for a vocabulary token or an unknown id.</summary>
    internal AddedToken? AddedTokenOf(int id) => _addedById.GetValueOrDefault(id);

    /// <summary>True when the text is split exactly as GPT-2 splits it: no normalizer, the ByteLevel pre-tokenizer with
    /// the GPT-2 regex and no prefix space, merges applied in full. llama.cpp calls this pre-tokenizer "gpt-2".</summary>
    internal bool UsesGpt2PreTokenization => !_nfc && !_ignoreMerges && _preTokenizer.IsGpt2ByteLevel;

    /// <summary>
    /// Loads a tokenizer from a tokenizer.json file, or from a folder holding tokenizer.json and, optionally,
    /// tokenizer_config.json (next to a tokenizer.json file, the config is read too when present).
    /// </summary>
    /// <exception cref="TokenizerFormatException">A file is missing, is not JSON, is not byte-level BPE, or is inconsistent.</exception>
    public static TextTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string tokenizerPath;
        if (Directory.Exists(path))
            tokenizerPath = Path.Combine(path, TokenizerFileName);
        else if (File.Exists(path))
            tokenizerPath = path;
        else
            throw new TokenizerFormatException(path, "", "no such file or folder. Pass a tokenizer.json file or a folder that holds one.");
        if (!File.Exists(tokenizerPath))
            throw new TokenizerFormatException(tokenizerPath, "", $"not found. The folder {path} needs a {TokenizerFileName} (Hugging Face format).");

        string configPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerPath))!, ConfigFileName);
        byte[] tokenizerJson = ReadFile(tokenizerPath);
        byte[]? configJson = File.Exists(configPath) ? ReadFile(configPath) : null;
        return FromBytes(tokenizerJson, tokenizerPath, configJson, configPath);
    }

    /// <summary>Loads a tokenizer from streams (for example a <see cref="System.IO.Compression.GZipStream"/>); the streams
    /// are read to the end and not closed.</summary>
    /// <param name="tokenizerJson">A tokenizer.json.</param>
    /// <param name="tokenizerConfigJson">A tokenizer_config.json, or null.</param>
    /// <param name="sourceName">Name used in error messages.</param>
    /// <exception cref="TokenizerFormatException">The content is not a usable byte-level BPE tokenizer.</exception>
    public static TextTokenizer Load(Stream tokenizerJson, Stream? tokenizerConfigJson = null, string sourceName = TokenizerFileName)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        byte[] json = ReadStream(tokenizerJson);
        byte[]? config = tokenizerConfigJson is null ? null : ReadStream(tokenizerConfigJson);
        return FromBytes(json, sourceName, config, $"{ConfigFileName} of {sourceName}");
    }

    internal static TextTokenizer FromBytes(byte[] tokenizerJson, string source, byte[]? configJson, string configSource)
    {
        TokenizerDefinition definition = TokenizerJsonReader.Read(tokenizerJson, source);
        TokenizerConfigData? config = configJson is null ? null : TokenizerJsonReader.ReadConfig(configJson, configSource);
        return new TextTokenizer(definition, tokenizerJson, config, source, configSource);
    }

    private int? ComputeMaxCharsPerToken()
    {
        if (_addedTokens.Any(t => !t.Special && (t.LStrip || t.RStrip))) return null;
        int longest = 1;
        foreach (string token in _idToToken.Values) longest = Math.Max(longest, token.Length);
        foreach (AddedToken token in _addedTokens.Where(t => !t.Special))
            longest = Math.Max(longest, Encoding.UTF8.GetByteCount(token.Content));
        return _nfc ? 4 * longest : longest;
    }

    /// <summary>
    /// Writes tokenizer.json and tokenizer_config.json into <paramref name="folder"/> (created if needed). Each file is
    /// written to a temporary name and renamed, so a reader never sees half a file. A loaded tokenizer.json is written
    /// back byte for byte; the config keeps every field it had, with chat_template updated.
    /// </summary>
    public void Save(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        Directory.CreateDirectory(folder);
        WriteAtomically(Path.Combine(folder, TokenizerFileName), _tokenizerJson);
        WriteAtomically(Path.Combine(folder, ConfigFileName), TokenizerJsonWriter.Serialize(BuildConfig()));
    }

    /// <summary>
    /// Encodes text to ids. Added tokens that are not special (Qwen's <c>&lt;think&gt;</c>) are always matched; special
    /// tokens written in the text (<c>&lt;|im_start|&gt;</c>) become their single id only when
    /// <paramref name="parseSpecial"/> is true, otherwise they are encoded as ordinary text (Hugging Face's
    /// split_special_tokens). Invalid UTF-16 (a lone surrogate) is encoded as U+FFFD. No BOS/EOS is added.
    /// </summary>
    public IReadOnlyList<int> Encode(string text, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);
        List<int> ids = new((text.Length / 3) + 4);
        AddedTokenMatcher matcher = parseSpecial ? _allAdded : _nonSpecialAdded;
        List<ReadOnlyMemory<char>> pieces = [];
        if (matcher.IsEmpty)
        {
            EncodeSegment(text, ids, pieces);
            return ids;
        }

        List<(int Start, int Length, AddedToken? Token)> segments = [];
        matcher.Split(text, segments);
        foreach ((int start, int length, AddedToken? token) in segments)
        {
            if (token is not null)
                ids.Add(token.Id);
            else
                EncodeSegment(start == 0 && length == text.Length ? text : text.Substring(start, length), ids, pieces);
        }

        return ids;
    }

    /// <summary>
    /// Decodes ids to text. Added tokens decode to their literal text; with <paramref name="skipSpecial"/> the special ones
    /// are left out. Ids outside the vocabulary are skipped (as Hugging Face does); byte sequences that are not valid
    /// UTF-8, such as a character cut in half, come out as U+FFFD.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        StringBuilder text = new();
        List<int> run = [];
        foreach (int id in ids)
        {
            if (_addedById.TryGetValue(id, out AddedToken? added))
            {
                Flush(run, text);
                if (!(skipSpecial && added.Special))
                    text.Append(added.Content);
            }
            else if (_idToToken.ContainsKey(id))
            {
                run.Add(id);
            }
        }

        Flush(run, text);
        return text.ToString();
    }

    /// <summary>The id of a vocabulary token (in its byte-level spelling, e.g. "Ġthe") or added token; null if unknown.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_addedByContent.TryGetValue(token, out AddedToken? added))
            return added.Id;
        return _tokenToId.TryGetValue(token, out int id) ? id : null;
    }

    /// <summary>The token of an id (byte-level spelling for vocabulary tokens, literal text for added tokens); null if unknown.</summary>
    public string? IdToToken(int id) => _addedById.TryGetValue(id, out AddedToken? added) ? added.Content : _idToToken.GetValueOrDefault(id);

    internal static TextTokenizer FromTrained(IReadOnlyList<string> vocab, IReadOnlyList<(string, string)> merges, IReadOnlyList<AddedToken> added, BpeTrainerOptions options)
    {
        byte[] tokenizerJson = TokenizerJsonWriter.WriteTokenizer(vocab, merges, added);
        JsonObject config = TokenizerJsonWriter.CreateConfig(added, options.BosToken, options.EosToken, options.PadToken, options.ModelMaxLength, chatTemplate: null);
        return FromBytes(tokenizerJson, "trained " + TokenizerFileName, TokenizerJsonWriter.Serialize(config), "trained " + ConfigFileName);
    }

    private void EncodeSegment(string segment, List<int> ids, List<ReadOnlyMemory<char>> pieces)
    {
        if (_nfc)
            segment = Nfc.Normalize(segment);
        pieces.Clear();
        _preTokenizer.Split(segment, pieces);
        foreach (ReadOnlyMemory<char> piece in pieces)
        {
            if (_ignoreMerges && TryWholeToken(piece.Span, out int id))
                ids.Add(id);
            else
                ids.AddRange(_model.EncodeToIds(piece.Span, considerPreTokenization: false, considerNormalization: false));
        }
    }

    // ignore_merges (Llama 3): a piece whose byte-level spelling is itself a vocabulary token is that token, even where
    // the merges would split it differently. BpeTokenizer has no such option.
    private bool TryWholeToken(ReadOnlySpan<char> piece, out int id)
    {
        id = 0;
        int maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(maxBytes);
        char[] spelled = ArrayPool<char>.Shared.Rent(maxBytes);
        try
        {
            int count = Encoding.UTF8.GetBytes(piece, bytes);
            for (int i = 0; i < count; i++)
                spelled[i] = ByteLevelAlphabet.ByteToChar[bytes[i]];
            return _tokenToIdBySpan.TryGetValue(spelled.AsSpan(0, count), out id);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<char>.Shared.Return(spelled);
        }
    }

    private void Flush(List<int> run, StringBuilder text)
    {
        if (run.Count == 0)
            return;
        text.Append(_model.Decode(run));
        run.Clear();
    }

    private int? ResolveSpecial(string? configured, string field, string[] known, bool hasConfig, string configSource)
    {
        if (configured is not null)
        {
            return TokenToId(configured)
                ?? throw new TokenizerFormatException(configSource, field, $"'{configured}' is neither in the vocabulary nor in added_tokens of the tokenizer.json. Fix the name or add the token.");
        }

        // With a config, an absent token means "none" (Qwen has no BOS); without one, fall back to well-known names.
        if (hasConfig)
            return null;
        foreach (string name in known)
        {
            if (_addedByContent.TryGetValue(name, out AddedToken? token) && token.Special)
                return token.Id;
        }

        return null;
    }

    private JsonObject BuildConfig()
    {
        JsonObject config;
        if (_config is not null)
        {
            config = (JsonObject)_config.DeepClone();
            if (ChatTemplate == _loadedChatTemplate)
                return config; // untouched, including a list of named templates
            if (ChatTemplate is null)
                config.Remove("chat_template");
            else
                config["chat_template"] = ChatTemplate;
            return config;
        }

        return TokenizerJsonWriter.CreateConfig(
            _addedTokens,
            BosId is { } bos ? IdToToken(bos) : null,
            EosId is { } eos ? IdToToken(eos) : null,
            PadId is { } pad ? IdToToken(pad) : null,
            ModelMaxLength,
            ChatTemplate);
    }

    private static string ReplaceLoneSurrogates(string text)
    {
        int i = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0)
            return text;
        char[]? copy = null;
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c))
            {
                copy ??= text.ToCharArray();
                copy[i] = '\uFFFD';
            }
        }

        return copy is null ? text : new string(copy);
    }

    private static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerFormatException(path, "", $"could not be read ({e.Message}). Check the path and its permissions.", e);
        }
    }

    private static byte[] ReadStream(Stream stream)
    {
        using MemoryStream buffer = new();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static void WriteAtomically(string path, byte[] content)
    {
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(temporary, content);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }
}
