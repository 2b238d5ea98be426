namespace Tailor.Cli;

/// <summary>One `tailor` command: a name, a one-line summary, and a Run that parses its own options.</summary>
public abstract class Command
{
    /// <summary>The word after `tailor`.</summary>
    public abstract string Name { get; }

    /// <summary>One line for `tailor --help`.</summary>
    public abstract string Summary { get; }

    /// <summary>Runs the command; returns the process exit code.</summary>
    public abstract int Run(string[] args);

    /// <summary>Parses args; prints help and returns null when --help was asked for.</summary>
    protected CommandLine? Parse(string[] args, string usage, string description, OptionSpec[] specs, int maxPositionals = 0)
    {
        var cl = CommandLine.Parse(Name, args, specs, maxPositionals);
        if (!cl.HelpRequested) return cl;
        Console.WriteLine(CommandLine.Help(usage, description, specs));
        return null;
    }
}

/// <summary>Which exceptions are the user's to fix (one line, no stack trace) and how to print them.</summary>
public static class Errors
{
    /// <summary>Bad input, a bad file, a missing file: anything the message alone explains.</summary>
    public static bool IsUserError(Exception e) => e is TailorException or InvalidDataException or FormatException
        or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException;

    /// <summary>The message on one line.</summary>
    public static string OneLine(Exception e) => e.Message.ReplaceLineEndings(" ").Trim();
}
