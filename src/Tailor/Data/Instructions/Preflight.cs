using System.Globalization;
using System.Text;
using Tailor.Text;

namespace Tailor.Data.Instructions;

/// <summary>The preflight text and the warnings it contains (a recipe may refuse to start on warnings).</summary>
/// <param name="Text">Human-readable report: a rendered example with trained spans marked, length statistics, warnings.</param>
/// <param name="Warnings">The warnings alone, one sentence each.</param>
public sealed record PreflightReport(string Text, IReadOnlyList<string> Warnings);

/// <summary>
/// A look at encoded training data before spending compute on it: what the model is trained on, how long examples
/// are, and the mistakes that silently ruin instruction tuning (no stop token learned, nothing trained, wrong template,
/// responses cut off).
/// </summary>
public static class Preflight
{
    /// <summary>Opens a trained span in <see cref="Mark"/>.</summary>
    public const string OpenMark = "⟦";

    /// <summary>Closes a trained span in <see cref="Mark"/>.</summary>
    public const string CloseMark = "⟧";

    /// <summary>
    /// Builds the report for <paramref name="examples"/> encoded with <paramref name="tokenizer"/>.
    /// </summary>
    /// <param name="examples">The encoded examples (after truncation).</param>
    /// <param name="tokenizer">The tokenizer they were encoded with.</param>
    /// <param name="format">The layout they were encoded in (decides which stop token and template are expected).</param>
    /// <param name="stats">Counts from <see cref="ExampleEncoder.EncodeAll"/>, for the truncation figures; optional.</param>
    /// <param name="show">Index of the example to render.</param>
    public static PreflightReport Run(IReadOnlyList<EncodedExample> examples, TextTokenizer tokenizer, PromptFormat format = PromptFormat.ChatMl,
        EncodingStats? stats = null, int show = 0)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(tokenizer);
        CultureInfo c = CultureInfo.InvariantCulture;
        StringBuilder text = new();
        List<string> warnings = [];

        text.AppendLine(c, $"preflight: {examples.Count} examples, format {format}");
        if (examples.Count > 0)
        {
            int at = Math.Clamp(show, 0, examples.Count - 1);
            text.AppendLine(c, $"example {at} (trained tokens between {OpenMark} {CloseMark}):");
            text.AppendLine(Mark(examples[at], tokenizer));
        }

        int? endOfTurn = tokenizer.TokenToId(ChatTemplate.EndToken);
        int? eos = tokenizer.EosId;
        int noStop = 0, noTargets = 0;
        long tokens = 0, targets = 0;
        int longest = 0;
        List<int> lengths = new(examples.Count);
        foreach (EncodedExample e in examples)
        {
            lengths.Add(e.Length);
            tokens += e.Length;
            longest = Math.Max(longest, e.Length);
            int n = e.TargetCount;
            targets += n;
            if (n == 0) noTargets++;
            bool stops = false;
            for (int i = 1; i < e.Length && !stops; i++)
                stops = e.Trained[i] && (e.Ids[i] == endOfTurn || e.Ids[i] == eos);
            if (!stops) noStop++;
        }

        if (examples.Count > 0)
        {
            lengths.Sort();
            text.AppendLine(c, $"tokens per example: mean {(double)tokens / examples.Count:F1}, median {lengths[lengths.Count / 2]}, max {longest}; trained {targets} of {tokens} tokens ({Percent(targets, tokens)})");
        }

        if (stats is not null)
        {
            text.AppendLine(c, $"truncation (max {stats.MaxLength}, {stats.Policy}): {stats.Examples} in, {stats.Kept} kept; longest before truncation {stats.LongestBeforeTruncation}");
            text.AppendLine(c, $"  prompt cut {stats.PromptTruncated} ({Percent(stats.PromptTruncated, stats.Examples)}), response cut {stats.ResponseTruncated} ({Percent(stats.ResponseTruncated, stats.Examples)}), dropped too long {stats.DroppedTooLong}, dropped with nothing to train {stats.DroppedNoTargets}");
            if (stats.ResponseTruncated > 0)
                warnings.Add($"{stats.ResponseTruncated} of {stats.Examples} responses ({Percent(stats.ResponseTruncated, stats.Examples)}) were cut at {stats.MaxLength} tokens and lost their stop token; raise the maximum length or drop long examples.");
            if (stats.DroppedNoTargets > 0)
                warnings.Add($"{stats.DroppedNoTargets} examples had no token left to train on and were dropped.");
        }

        if (noTargets > 0)
            warnings.Add($"{noTargets} of {examples.Count} examples have every label masked: they cost compute and teach nothing.");
        string stopName = format == PromptFormat.ChatMl ? ChatTemplate.EndToken : tokenizer.IdToToken(eos ?? -1) ?? "EOS";
        if (noStop > 0)
            warnings.Add($"{noStop} of {examples.Count} examples train on no end-of-turn/EOS token ({stopName}): the model will not learn to stop.");
        if (format == PromptFormat.ChatMl && tokenizer.ChatTemplate is null)
            warnings.Add("the tokenizer has no chat_template: install ChatTemplate.Jinja before saving, so that transformers, llama.cpp and vLLM prompt the model in ChatML too.");
        else if (format == PromptFormat.ChatMl && !ChatTemplate.IsChatMl(tokenizer.ChatTemplate))
            warnings.Add("template mismatch: the tokenizer's chat_template is not ChatML, but the data is encoded in ChatML; other tools would prompt the model differently.");
        if (tokenizer.PadId is { } pad && (pad == eos || pad == endOfTurn))
            warnings.Add($"the pad token is also the end token ({tokenizer.IdToToken(pad)}); use a separate <|pad|>.");

        text.AppendLine(warnings.Count == 0 ? "no warnings" : $"{warnings.Count} warning(s):");
        foreach (string w in warnings) text.AppendLine("  ! " + w);
        return new PreflightReport(text.ToString().TrimEnd('\n'), warnings);
    }

    /// <summary>
    /// The example's text with every run of trained tokens wrapped in ⟦ ⟧ (special tokens written out), e.g.
    /// <c>&lt;|im_start|&gt;user\nHi&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n⟦Yo&lt;|im_end|&gt;⟧\n</c>.
    /// Token 0 is never a target, so it is never marked.
    /// </summary>
    public static string Mark(EncodedExample example, TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(example);
        ArgumentNullException.ThrowIfNull(tokenizer);
        StringBuilder text = new();
        List<int> run = [];
        bool runTrained = false;
        for (int i = 0; i <= example.Length; i++)
        {
            bool trained = i < example.Length && i > 0 && example.Trained[i];
            if (i == example.Length || (run.Count > 0 && trained != runTrained))
            {
                string piece = tokenizer.Decode(run);
                text.Append(runTrained ? OpenMark + piece + CloseMark : piece);
                run.Clear();
            }

            if (i == example.Length) break;
            run.Add(example.Ids[i]);
            runTrained = trained;
        }

        return text.ToString();
    }

    private static string Percent(long part, long whole) =>
        whole == 0 ? "0%" : (100.0 * part / whole).ToString("F1", CultureInfo.InvariantCulture) + "%";
}
