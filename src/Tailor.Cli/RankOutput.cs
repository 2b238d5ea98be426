using System.Text;

namespace Tailor.Cli;

/// <summary>
/// Under mpirun every rank runs the same command line, but only rank 0 should print options, progress and results: the
/// other ranks' stdout is discarded and their stderr keeps only the one-line errors of <c>Program.cs</c> ("tailor
/// &lt;command&gt;: …"), prefixed with the rank so the user sees which process failed.
/// </summary>
internal static class RankOutput
{
    /// <summary>This process's rank as the MPI launcher set it (Open MPI or PMIx), or null outside mpirun.</summary>
    public static int? LaunchedRank() =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") ?? Environment.GetEnvironmentVariable("PMIX_RANK"), out int rank) ? rank : null;

    /// <summary>Silences a non-zero rank's console as described above; rank 0 and plain runs are left alone.</summary>
    public static void QuietUnlessRankZero(string command)
    {
        if (LaunchedRank() is not { } rank || rank == 0) return;
        Console.SetOut(TextWriter.Null);
        Console.SetError(new ErrorsOnly(Console.Error, $"tailor {command}:", $"rank {rank}: "));
    }

    private sealed class ErrorsOnly(TextWriter inner, string keepPrefix, string rankPrefix) : TextWriter
    {
        private readonly StringBuilder _line = new();

        public override Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            if (value != '\n')
            {
                _line.Append(value);
                return;
            }
            string line = _line.ToString().TrimEnd('\r');
            _line.Clear();
            if (line.StartsWith(keepPrefix, StringComparison.Ordinal))
            {
                inner.WriteLine(rankPrefix + line);
                inner.Flush();
            }
        }
    }
}
