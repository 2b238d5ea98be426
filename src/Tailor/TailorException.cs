namespace Tailor;

/// <summary>
/// A problem the user can fix: bad input, a wrong option, an unusable file. Its message names the file, line or field
/// and says what to do next; shells print it on one line without a stack trace.
/// </summary>
public class TailorException : Exception
{
    /// <summary>Creates the exception with a message that names what is wrong and what to do.</summary>
    public TailorException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the underlying cause.</summary>
    public TailorException(string message, Exception? inner) : base(message, inner) { }
}
