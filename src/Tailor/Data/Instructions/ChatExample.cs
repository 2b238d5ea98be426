using Tailor.Text;

namespace Tailor.Data.Instructions;

/// <summary>
/// One training example, whatever file format it came from (Alpaca, OpenAI-style chat, ShareGPT, raw text, a templated
/// task record): the messages in order, and where it came from for error messages and reports.
/// </summary>
/// <param name="Messages">The conversation. Raw text is a single assistant message (nothing to condition on).</param>
/// <param name="Source">The file (or task) it was read from; null when built in code.</param>
/// <param name="Line">1-based line in <paramref name="Source"/>; 0 when built in code.</param>
public sealed record ChatExample(IReadOnlyList<ChatMessage> Messages, string? Source, int Line)
{
    /// <summary>"file:line", or "example" when the example was built in code; used to prefix error messages.</summary>
    public string Where => Source is null ? "example" : Line > 0 ? $"{Source}:{Line}" : Source;
}
