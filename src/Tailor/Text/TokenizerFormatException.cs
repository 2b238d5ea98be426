namespace Tailor.Text;

/// <summary>
/// A tokenizer.json or tokenizer_config.json could not be loaded: the file is missing, is not JSON, describes a model
/// Tailor does not support, or is inconsistent. The message names the file and the field and says what to do.
/// </summary>
public sealed class TokenizerFormatException : FormatException
{
    /// <summary>Creates the exception; the message is built as "file: field: problem".</summary>
    /// <param name="source">The file (or stream name) being read.</param>
    /// <param name="field">JSON path of the offending field, e.g. <c>model.merges[12]</c>; empty for the whole file.</param>
    /// <param name="problem">What is wrong and what to do about it.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public TokenizerFormatException(string source, string field, string problem, Exception? inner = null)
        : base(field.Length == 0 ? $"{source}: {problem}" : $"{source}: {field}: {problem}", inner)
    {
        SourceName = source;
        Field = field;
    }

    /// <summary>The file (or stream name) being read.</summary>
    public string SourceName { get; }

    /// <summary>JSON path of the offending field; empty when the problem is the file as a whole.</summary>
    public string Field { get; }
}
