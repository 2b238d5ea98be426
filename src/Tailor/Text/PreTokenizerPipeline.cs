using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Tailor.Text;

/// <summary>
/// The pre-tokenizer steps of a byte-level tokenizer.json, applied in order: each step splits every piece of the
/// previous one. Supported are the steps GPT-2, Llama 3 and Qwen 2/3 (and a few derived models) use:
/// <c>ByteLevel</c> (optional prefix space, optional GPT-2 regex), <c>Split</c> with a regex or string pattern and the
/// <c>Isolated</c> behaviour, and <c>Digits</c>.
/// </summary>
/// <remarks>
/// Why not Microsoft.ML.Tokenizers' RegexPreTokenizer/CompositePreTokenizer: they match UTF-16 code units (see
/// <see cref="CodePointRegex"/>), know no prefix-space step, and their special-token handling cannot be switched per call.
/// The byte-level mapping itself is not done here: Microsoft.ML.Tokenizers' BpeTokenizer (ByteLevel = true) does it.
/// </remarks>
internal sealed partial class PreTokenizerPipeline
{
    /// <summary>GPT-2's pre-tokenization regex, which Hugging Face's ByteLevel pre-tokenizer uses when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    // Patterns come from files; a pathological one must fail, not hang.
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(10);

    // Compiling a regex costs milliseconds; loading many tokenizer.json files with the same pattern should pay once.
    private static readonly ConcurrentDictionary<string, Regex> CompiledPatterns = new(StringComparer.Ordinal);

    private static readonly CodePointRegex Gpt2 = new(Gpt2Regex());
    private static readonly CodePointRegex DigitRuns = new(DigitRunRegex());
    private static readonly CodePointRegex SingleDigits = new(SingleDigitRegex());

    private readonly Step[] _steps;

    private PreTokenizerPipeline(Step[] steps) => _steps = steps;

    /// <summary>The pipeline Tailor's trainer uses and writes: ByteLevel with the GPT-2 regex and no prefix space.</summary>
    public static PreTokenizerPipeline Gpt2ByteLevel { get; } = new([new ByteLevelStep(AddPrefixSpace: false, UseRegex: true)]);

    /// <summary>Builds a pipeline from parsed steps (see <see cref="TokenizerJsonReader"/>).</summary>
    public static PreTokenizerPipeline Create(IEnumerable<Step> steps) => new([.. steps]);

    /// <summary>A Split step; the pattern is a .NET-compatible regex (Oniguruma and .NET agree on the patterns in use).</summary>
    /// <exception cref="ArgumentException">The pattern is not a valid .NET regex.</exception>
    public static Step SplitRegex(string pattern)
    {
        if (pattern == Gpt2Pattern)
            return new SplitStep(Gpt2);
        if (CompiledPatterns.TryGetValue(pattern, out Regex? cached))
            return new SplitStep(new CodePointRegex(cached));

        // Parse now, so that a bad pattern fails at load time; compile on first use.
        _ = new Regex(pattern, RegexOptions.CultureInvariant, MatchTimeout);
        return new SplitStep(new CodePointRegex(() =>
        {
            Regex compiled = new(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant, MatchTimeout);
            if (CompiledPatterns.Count < 64)
                CompiledPatterns.TryAdd(pattern, compiled);
            return compiled;
        }));
    }

    /// <summary>A Split step on a literal string.</summary>
    public static Step SplitString(string literal) => SplitRegex(Regex.Escape(literal));

    /// <summary>A Digits step: every digit its own piece, or runs of digits.</summary>
    public static Step Digits(bool individual) => new SplitStep(individual ? SingleDigits : DigitRuns);

    /// <summary>A ByteLevel step.</summary>
    public static Step ByteLevel(bool addPrefixSpace, bool useRegex) => new ByteLevelStep(addPrefixSpace, useRegex);

    /// <summary>True when the pipeline is exactly GPT-2's: one ByteLevel step with the GPT-2 regex and no prefix space.</summary>
    public bool IsGpt2ByteLevel => _steps is [ByteLevelStep { AddPrefixSpace: false, UseRegex: true }];

    /// <summary>True when any step is ByteLevel: the file is a byte-level tokenizer.</summary>
    public bool HasByteLevel => _steps.Any(s => s is ByteLevelStep);

    /// <summary>
    /// Splits one segment of text (between added tokens, already normalized) into the pieces that BPE encodes one at a
    /// time; the result is appended to <paramref name="pieces"/>. Pieces are slices of <paramref name="segment"/>,
    /// except where a prefix space was added.
    /// </summary>
    public void Split(string segment, List<ReadOnlyMemory<char>> pieces)
    {
        if (segment.Length == 0)
            return;
        List<ReadOnlyMemory<char>> current = [segment.AsMemory()];
        for (int i = 0; i < _steps.Length; i++)
        {
            List<ReadOnlyMemory<char>> next = i == _steps.Length - 1 ? pieces : new List<ReadOnlyMemory<char>>(current.Count * 2);
            foreach (ReadOnlyMemory<char> piece in current)
                _steps[i].Apply(piece, next);
            current = next;
        }

        if (_steps.Length == 0)
            pieces.AddRange(current);
    }

    [GeneratedRegex(Gpt2Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2Regex();

    [GeneratedRegex(@"\p{N}+", RegexOptions.CultureInvariant)]
    private static partial Regex DigitRunRegex();

    [GeneratedRegex(@"\p{N}", RegexOptions.CultureInvariant)]
    private static partial Regex SingleDigitRegex();

    /// <summary>One pre-tokenizer step.</summary>
    internal abstract record Step
    {
        public abstract void Apply(ReadOnlyMemory<char> piece, List<ReadOnlyMemory<char>> output);
    }

    private sealed record SplitStep(CodePointRegex Regex) : Step
    {
        public override void Apply(ReadOnlyMemory<char> piece, List<ReadOnlyMemory<char>> output) => Regex.SplitIsolated(piece, output);
    }

    // Hugging Face's ByteLevel pre-tokenizer: prepend a space to a piece that does not start with one, then split it with
    // the GPT-2 regex. Its byte-to-character mapping happens later, inside BpeTokenizer.
    private sealed record ByteLevelStep(bool AddPrefixSpace, bool UseRegex) : Step
    {
        public override void Apply(ReadOnlyMemory<char> piece, List<ReadOnlyMemory<char>> output)
        {
            if (AddPrefixSpace && !piece.Span.StartsWith(' '))
                piece = string.Concat(" ", piece.Span).AsMemory();
            if (UseRegex)
                Gpt2.SplitIsolated(piece, output);
            else if (!piece.IsEmpty)
                output.Add(piece);
        }
    }
}
