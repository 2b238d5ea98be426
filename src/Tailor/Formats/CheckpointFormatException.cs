using System.Globalization;
using System.Text;

namespace Tailor.Formats;

/// <summary>
/// The one exception the checkpoint readers and writers throw when a file's content is wrong: a truncated or corrupt
/// safetensors file, a sharded index that points at missing shards or tensors, or weights that do not fit the model.
/// The message is a single line that names the file (and the tensor, when there is one), says what is wrong and what
/// to do next.
/// </summary>
/// <remarks>
/// Missing top-level paths that the caller passed in (a file or folder that does not exist at all) surface as the usual
/// <see cref="FileNotFoundException"/> / <see cref="DirectoryNotFoundException"/>; everything about the content of a
/// checkpoint is reported with this type.
/// </remarks>
public sealed class CheckpointFormatException : TailorException
{
    // Names in a corrupt header can be anything; keep the message one readable line of bounded length.
    private const int MaxNameLength = 200;

    /// <summary>Creates the exception; the message becomes <c>"{file}: tensor '{name}': {problem}"</c>.</summary>
    /// <param name="filePath">The file whose content is wrong.</param>
    /// <param name="tensorName">The tensor concerned, or <see langword="null"/> when the problem is not about one tensor.</param>
    /// <param name="problem">What is wrong and what to do next, as one or two sentences.</param>
    /// <param name="innerException">The lower-level error, if any (for example the JSON parser's).</param>
    public CheckpointFormatException(string filePath, string? tensorName, string problem, Exception? innerException = null)
        : base(Compose(filePath, tensorName, problem), innerException)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The file whose content is wrong.</summary>
    public string FilePath { get; }

    /// <summary>The tensor concerned, or <see langword="null"/> when the problem is about the file as a whole.</summary>
    public string? TensorName { get; }

    private static string Compose(string filePath, string? tensorName, string problem) =>
        tensorName is null
            ? $"{filePath}: {OneLine(problem)}"
            : $"{filePath}: tensor '{Printable(tensorName)}': {OneLine(problem)}";

    /// <summary>Escapes control characters and shortens long names so that a hostile header cannot break the message.</summary>
    internal static string Printable(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, MaxNameLength) + 8);
        foreach (char c in text)
        {
            if (builder.Length >= MaxNameLength)
            {
                builder.Append("...");
                break;
            }

            if (char.IsControl(c))
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else
                builder.Append(c);
        }

        return builder.ToString();
    }

    private static string OneLine(string text) => text.Replace('\n', ' ').Replace('\r', ' ');
}
