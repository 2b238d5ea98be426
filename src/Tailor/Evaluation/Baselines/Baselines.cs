using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tailor.Evaluation.Baselines;

/// <summary>
/// The AFINN-165 lexicon classifier as npm <c>sentiment@5.0.2</c> scores text (<c>lib/index.js</c>,
/// <c>lib/tokenize.js</c>, <c>languages/en/scoring-strategy.js</c>): lower-case, newlines to spaces, the characters
/// <c>.,/#!?$%^&amp;*;:{}=_`"~()</c> to spaces, split on single spaces; the score is the sum of the valences of the
/// tokens found in the word list (emoji valences merged in), a token's valence negated when the token before it is a
/// negator (<c>not</c>, <c>don't</c>, ...). A pure function of the text; no TorchSharp.
/// </summary>
public sealed partial class AfinnClassifier
{
    private readonly Dictionary<string, int> _valence;
    private readonly HashSet<string> _negators;

    private AfinnClassifier(Dictionary<string, int> valence, HashSet<string> negators)
    {
        _valence = valence;
        _negators = negators;
    }

    /// <summary>Number of entries (words and emoji) in the lexicon.</summary>
    public int Count => _valence.Count;

    /// <summary>
    /// Reads <c>data/baselines/afinn-165.json</c> (written by scripts/data/build_sentiment.py from the npm package):
    /// <c>{"labels": {word: valence}, "negators": {word: 1}, "emoji": {emoji: valence}}</c>.
    /// </summary>
    /// <exception cref="TailorException">The file is missing or malformed (names the file and field).</exception>
    public static AfinnClassifier Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new TailorException($"{path}: AFINN lexicon not found. It is committed as data/baselines/afinn-165.json (rebuilt by scripts/data/build-all.sh sentiment).");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            var valence = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var p in Field(root, "labels", path).EnumerateObject()) valence[p.Name] = p.Value.GetInt32();
            if (root.TryGetProperty("emoji", out var emoji))
                foreach (var p in emoji.EnumerateObject()) valence[p.Name] = p.Value.GetInt32();   // Object.assign: emoji win
            var negators = new HashSet<string>(Field(root, "negators", path).EnumerateObject().Where(p => p.Value.GetInt32() != 0).Select(p => p.Name), StringComparer.Ordinal);
            return new AfinnClassifier(valence, negators);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new TailorException($"{path}: not a valid AFINN lexicon file ({e.Message.Split('\n')[0]}). Rebuild it with scripts/data/build-all.sh sentiment.");
        }
    }

    private static JsonElement Field(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value : throw new TailorException($"{path}: field \"{name}\" (an object) is missing.");

    /// <summary>The package's tokens of <paramref name="text"/> (may contain empty strings, as the package's do).</summary>
    public static string[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        // JavaScript's toLowerCase is locale-independent full Unicode lower-casing, as ToLowerInvariant.
        string s = text.ToLowerInvariant().Replace('\n', ' ');
        s = Punctuation().Replace(s, " ");
        s = Spaces().Replace(s, " ").Trim();
        return s.Split(' ');
    }

    /// <summary>The AFINN score: the sum of the (negation-adjusted) valences of the tokens in the lexicon.</summary>
    public int Score(string text)
    {
        string[] tokens = Tokenize(text);
        int score = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            if (!_valence.TryGetValue(tokens[i], out int v)) continue;
            if (i > 0 && _negators.Contains(tokens[i - 1])) v = -v;
            score += v;
        }
        return score;
    }

    /// <summary>
    /// "positive" when the score is above 0, "negative" below 0, and <paramref name="tie"/> at 0 (the majority label of
    /// the training split is the fair choice; the score itself says nothing).
    /// </summary>
    public string Classify(string text, string tie) => Score(text) switch
    {
        > 0 => "positive",
        < 0 => "negative",
        _ => tie,
    };

    // The package's regex /[.,\/#!?$%\^&\*;:{}=_`\"~()]/g and /\s\s+/g. JavaScript's \s is Unicode white space, as .NET's.
    [GeneratedRegex("[.,/#!?$%\\^&*;:{}=_`\"~()]")]
    private static partial Regex Punctuation();

    [GeneratedRegex("\\s\\s+")]
    private static partial Regex Spaces();
}

/// <summary>Baselines that need no model: the first sentence as a summary, the source as a "translation".</summary>
public static partial class TextBaselines
{
    /// <summary>
    /// Lead-1: the text up to and including the first sentence end (<c>.</c>, <c>!</c> or <c>?</c> followed by white
    /// space or the end), whitespace-trimmed; the whole text when it has no sentence end. Abbreviations such as "e.g."
    /// end a sentence here too — the baseline is deliberately naive, as Lead-k is in the summarization literature.
    /// </summary>
    public static string Lead1(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var m = SentenceEnd().Match(text);
        return (m.Success ? text[..(m.Index + 1)] : text).Trim();
    }

    /// <summary>The source sentence itself, as a floor for translation metrics (shared names, numbers, punctuation).</summary>
    public static string Copy(string source) => source ?? throw new ArgumentNullException(nameof(source));

    [GeneratedRegex("[.!?](?=\\s|$)")]
    private static partial Regex SentenceEnd();
}
