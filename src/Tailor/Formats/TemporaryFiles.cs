namespace Tailor.Formats;

/// <summary>Leftovers of interrupted atomic writes (a temporary file written beside its target, then renamed over it).</summary>
internal static class TemporaryFiles
{
    /// <summary>
    /// Deletes the files in <paramref name="directory"/> named <c>{prefix}{32 hex digits}{suffix}</c>: the temporaries a
    /// writer names with a fresh GUID and renames away when done, so one still there is a crashed write's. Files of any
    /// other name are never touched. Failures are ignored (a leftover is harmless; the write itself goes on).
    /// </summary>
    public static void DeleteLeftovers(string directory, string prefix, string suffix)
    {
        if (!Directory.Exists(directory)) return;
        foreach (string file in Directory.EnumerateFiles(directory, prefix + "*" + suffix))
        {
            string name = Path.GetFileName(file);
            if (name.Length != prefix.Length + 32 + suffix.Length || !name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(suffix, StringComparison.Ordinal))
                continue;
            if (!name.AsSpan(prefix.Length, 32).ContainsAnyExcept("0123456789abcdef"))
            {
                try
                {
                    File.Delete(file);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
    }
}
