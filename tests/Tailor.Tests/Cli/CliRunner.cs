using System.Reflection;

namespace Tailor.Tests.Cli;

/// <summary>Runs the `tailor` entry point in-process, capturing stdout and stderr.</summary>
internal static class CliRunner
{
    private static readonly MethodInfo EntryPoint = typeof(Tailor.Cli.Command).Assembly.EntryPoint!;
    private static readonly Lock Gate = new();

    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        lock (Gate)
        {
            var oldOut = Console.Out;
            var oldErr = Console.Error;
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            Console.SetOut(stdout);
            Console.SetError(stderr);
            try
            {
                object? result = EntryPoint.Invoke(null, [args]);
                return ((int)result!, stdout.ToString(), stderr.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }
}
