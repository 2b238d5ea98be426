using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Tailor.Tests.Formats;

/// <summary>What a fuzz run did: how many mutated files the reader accepted and rejected, and the common rejections.</summary>
public sealed record FuzzReport(int Cases, int Accepted, int Rejected, IReadOnlyList<(string Reason, int Count)> TopRejections)
{
    public override string ToString()
    {
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{Cases} cases: {Accepted} accepted, {Rejected} rejected with an allowed exception. Most common rejections:");
        foreach ((string reason, int count) in TopRejections)
            text.Append(CultureInfo.InvariantCulture, $"\n  {count,5}  {reason}");
        return text.ToString();
    }
}

/// <summary>
/// Feeds mutated and truncated copies of a valid file to a reader and checks that it only ever fails with the
/// documented exception types, and never hangs. Reusable for any file reader (safetensors, index, config.json...).
/// </summary>
/// <remarks>
/// Mutations: bit flips (anywhere, and concentrated at the start where headers live), truncation, block splices,
/// insertions and deletions, edits of the 8-byte safetensors length prefix, and JSON token edits (numbers, strings and
/// literals replaced by hostile values, tokens swapped). When the input is a safetensors file, JSON edits keep the
/// length prefix consistent so that the mutation reaches the header validation rather than stopping at the length.
/// Runs are deterministic for a given <c>rngSeed</c>.
/// </remarks>
public static partial class ReaderFuzzer
{
    private static readonly string[] HostileTokens =
    [
        "0", "1", "-1", "7", "8", "65536", "4294967296", "9223372036854775807", "9223372036854775808",
        "18446744073709551616", "-9223372036854775808", "1e309", "1.5", "-0", "null", "true", "[]", "{}", "[0]",
        "[0,0]", "[1,2,3]", "[-1,8]", "\"\"", "\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"", "\"BOOL\"", "\"U8\"", "\"F64\"",
        "\"F8_E4M3\"", "\"U16\"", "\"f32\"", "\"__metadata__\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"",
        "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00x\"", "\"a\\\"b\"", "\"../x\"", "{\"a\":1}", "\"\u00c3\u00a9\"", // the last one: é as its UTF-8 bytes (the text is Latin-1 decoded bytes)
    ];

    /// <summary>Runs <paramref name="cases"/> mutated copies of <paramref name="seedFile"/> through <paramref name="read"/>.</summary>
    /// <param name="seedFile">A valid input for the reader.</param>
    /// <param name="read">Reads the file at the given path (and disposes whatever it creates).</param>
    /// <param name="allowedExceptions">The exception types (or base types) the reader documents; anything else fails the run.</param>
    /// <param name="cases">Number of mutated inputs.</param>
    /// <param name="rngSeed">Seed of the mutation generator.</param>
    /// <param name="directory">Folder to write the case file in (for readers that look beside it); a temp folder when null.</param>
    /// <param name="fileName">The case file's name.</param>
    /// <param name="perCaseTimeout">A case that runs longer counts as a hang (default 10 s).</param>
    /// <exception cref="Xunit.Sdk.XunitException">A case threw another exception type or hung; the message lists the
    /// first failures, and the failing inputs are kept on disk for replay.</exception>
    public static FuzzReport FuzzReader(
        byte[] seedFile,
        Action<string> read,
        Type[] allowedExceptions,
        int cases,
        int rngSeed,
        string? directory = null,
        string fileName = "fuzz-case.bin",
        TimeSpan? perCaseTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(seedFile);
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(allowedExceptions);
        TimeSpan timeout = perCaseTimeout ?? TimeSpan.FromSeconds(10);
        var rng = new Random(rngSeed);
        string folder = directory ?? Directory.CreateTempSubdirectory("tailor-fuzz-").FullName;
        string path = Path.Combine(folder, fileName);
        string failuresFolder = Path.Combine(Path.GetTempPath(), $"tailor-fuzz-failures-{rngSeed}");
        var failures = new List<string>();
        var rejections = new Dictionary<string, int>(StringComparer.Ordinal);
        int accepted = 0;

        try
        {
            for (int i = 0; i < cases && failures.Count < 5; i++)
            {
                (byte[] input, string mutation) = Mutate(seedFile, rng);
                File.WriteAllBytes(path, input);

                Exception? thrown = null;
                Task run = Task.Run(() => read(path));
                bool finished;
                try
                {
                    finished = run.Wait(timeout);
                }
                catch (AggregateException e)
                {
                    finished = true;
                    thrown = e.InnerException;
                }

                if (!finished)
                {
                    failures.Add($"case {i} ({mutation}) did not finish in {timeout.TotalSeconds} s; input kept at {Keep(failuresFolder, i, input)}");
                    break; // the hung task still holds the file
                }

                if (thrown is null)
                {
                    accepted++;
                }
                else if (allowedExceptions.Any(t => t.IsInstanceOfType(thrown)))
                {
                    string reason = Reason(thrown);
                    rejections[reason] = rejections.GetValueOrDefault(reason) + 1;
                }
                else
                {
                    failures.Add($"case {i} ({mutation}) threw {thrown.GetType().FullName}: {thrown.Message}; input kept at {Keep(failuresFolder, i, input)}\n{thrown.StackTrace}");
                }
            }
        }
        finally
        {
            if (directory is null)
                TryDelete(folder);
        }

        if (failures.Count > 0)
            throw new Xunit.Sdk.XunitException($"Fuzzing with seed {rngSeed} found {failures.Count} failure(s):\n" + string.Join("\n", failures));

        var top = rejections.OrderByDescending(p => p.Value).Take(12).Select(p => (p.Key, p.Value)).ToList();
        return new FuzzReport(cases, accepted, cases - accepted, top);
    }

    /// <summary>One mutated copy of the seed and a short description of what was done.</summary>
    internal static (byte[] Bytes, string Mutation) Mutate(byte[] seed, Random rng)
    {
        int rounds = rng.Next(10) < 7 ? 1 : rng.Next(2, 4);
        byte[] bytes = seed;
        var description = new List<string>();
        for (int r = 0; r < rounds; r++)
        {
            (bytes, string what) = MutateOnce(bytes, rng);
            description.Add(what);
        }

        return (bytes, string.Join(" + ", description));
    }

    private static (byte[], string) MutateOnce(byte[] seed, Random rng)
    {
        byte[] bytes = (byte[])seed.Clone();
        int headerEnd = SafetensorsHeaderEnd(bytes) ?? Math.Min(bytes.Length, 4096);
        switch (rng.Next(9))
        {
            case 0:
                return (FlipBits(bytes, rng, bytes.Length), "bit flips anywhere");
            case 1:
                return (FlipBits(bytes, rng, headerEnd), "bit flips in the header");
            case 2:
                int keep = rng.Next(bytes.Length);
                return (bytes[..keep], $"truncated to {keep}");
            case 3:
                return (Splice(bytes, rng), "block splice");
            case 4:
                return rng.Next(2) == 0 ? (Insert(bytes, rng, headerEnd), "insertion") : (Delete(bytes, rng, headerEnd), "deletion");
            case 5:
                return (EditLengthPrefix(bytes, rng), "length prefix edit");
            case 6:
            case 7:
                return EditJsonToken(bytes, rng);
            default:
                return SwapJsonTokens(bytes, rng);
        }
    }

    private static byte[] FlipBits(byte[] bytes, Random rng, int regionEnd)
    {
        if (regionEnd <= 0)
            return bytes;
        int flips = rng.Next(1, 9);
        for (int f = 0; f < flips; f++)
            bytes[rng.Next(regionEnd)] ^= (byte)(1 << rng.Next(8));
        return bytes;
    }

    private static byte[] Splice(byte[] bytes, Random rng)
    {
        if (bytes.Length < 2)
            return bytes;
        int length = rng.Next(1, Math.Min(64, bytes.Length));
        int from = rng.Next(bytes.Length - length + 1);
        int to = rng.Next(bytes.Length - length + 1);
        Array.Copy(bytes.ToArray(), from, bytes, to, length);
        return bytes;
    }

    private static byte[] Insert(byte[] bytes, Random rng, int regionEnd)
    {
        int at = rng.Next(Math.Max(1, regionEnd));
        var extra = new byte[rng.Next(1, 16)];
        rng.NextBytes(extra);
        return [.. bytes.AsSpan(0, Math.Min(at, bytes.Length)), .. extra, .. bytes.AsSpan(Math.Min(at, bytes.Length))];
    }

    private static byte[] Delete(byte[] bytes, Random rng, int regionEnd)
    {
        if (bytes.Length == 0)
            return bytes;
        int at = rng.Next(Math.Max(1, Math.Min(regionEnd, bytes.Length)));
        int length = Math.Min(rng.Next(1, 16), bytes.Length - at);
        return [.. bytes.AsSpan(0, at), .. bytes.AsSpan(at + length)];
    }

    private static byte[] EditLengthPrefix(byte[] bytes, Random rng)
    {
        if (bytes.Length < 8)
            return bytes;
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        ulong length = (ulong)bytes.Length;
        ulong[] interesting = [0, 1, 7, 8, length - 8, length - 7, length, n - 1, n + 1, n - 8, n + 8, ulong.MaxValue, 1UL << 63, 100_000_001, (ulong)rng.NextInt64()];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, interesting[rng.Next(interesting.Length)]);
        return bytes;
    }

    private static (byte[], string) EditJsonToken(byte[] bytes, Random rng)
    {
        (int start, string text, bool prefixed) = JsonRegion(bytes);
        MatchCollection tokens = JsonToken().Matches(text);
        if (tokens.Count == 0)
            return (FlipBits(bytes, rng, bytes.Length), "bit flips (no JSON tokens)");
        Match token = tokens[rng.Next(tokens.Count)];
        string replacement = HostileTokens[rng.Next(HostileTokens.Length)];
        string edited = string.Concat(text.AsSpan(0, token.Index), replacement, text.AsSpan(token.Index + token.Length));
        return (Rebuild(bytes, start, text, edited, prefixed), $"JSON token {Shorten(token.Value)} -> {replacement}");
    }

    private static (byte[], string) SwapJsonTokens(byte[] bytes, Random rng)
    {
        (int start, string text, bool prefixed) = JsonRegion(bytes);
        MatchCollection tokens = JsonToken().Matches(text);
        if (tokens.Count < 2)
            return (FlipBits(bytes, rng, bytes.Length), "bit flips (too few JSON tokens)");
        int a = rng.Next(tokens.Count), b = rng.Next(tokens.Count);
        (Match first, Match second) = tokens[a].Index <= tokens[b].Index ? (tokens[a], tokens[b]) : (tokens[b], tokens[a]);
        if (first.Index == second.Index || first.Index + first.Length > second.Index)
            return (bytes, "no-op swap");
        string edited = text[..first.Index] + second.Value + text[(first.Index + first.Length)..second.Index]
            + first.Value + text[(second.Index + second.Length)..];
        return (Rebuild(bytes, start, text, edited, prefixed), $"JSON tokens swapped {Shorten(first.Value)} <-> {Shorten(second.Value)}");
    }

    /// <summary>The JSON text of the input: the safetensors header when the input is one, else the whole file.</summary>
    private static (int Start, string Text, bool Prefixed) JsonRegion(byte[] bytes)
    {
        if (SafetensorsHeaderEnd(bytes) is { } end)
            return (8, Encoding.Latin1.GetString(bytes, 8, end - 8), true);
        return (0, Encoding.Latin1.GetString(bytes), false);
    }

    /// <summary>Puts edited JSON back; for a safetensors file, with a length prefix that matches the new header.</summary>
    private static byte[] Rebuild(byte[] bytes, int start, string oldText, string newText, bool prefixed)
    {
        // Latin-1 maps bytes 1:1 to chars, so the text holds the file's bytes and goes back unchanged around the edit.
        byte[] edited = Encoding.Latin1.GetBytes(newText);
        byte[] result = [.. bytes.AsSpan(0, start), .. edited, .. bytes.AsSpan(start + oldText.Length)];
        if (prefixed)
            BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)edited.Length);
        return result;
    }

    /// <summary>End of the header (8 + N) when the bytes look like a safetensors file, else null.</summary>
    private static int? SafetensorsHeaderEnd(byte[] bytes)
    {
        if (bytes.Length < 10)
            return null;
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return n >= 2 && n <= (ulong)(bytes.Length - 8) && bytes[8] == (byte)'{' ? 8 + (int)n : null;
    }

    private static string Reason(Exception e)
    {
        // Group rejections by their wording, with numbers and quoted names blanked out.
        string message = e.Message;
        int colon = message.IndexOf(": ", StringComparison.Ordinal);
        if (colon >= 0)
            message = message[(colon + 2)..];
        message = QuotedOrNumber().Replace(message, "#");
        return $"{e.GetType().Name}: {(message.Length > 110 ? message[..110] + "..." : message)}";
    }

    private static string Keep(string folder, int caseNumber, byte[] input)
    {
        Directory.CreateDirectory(folder);
        string kept = Path.Combine(folder, $"case-{caseNumber}.bin");
        File.WriteAllBytes(kept, input);
        return kept;
    }

    private static string Shorten(string token) => token.Length > 24 ? token[..24] + "..." : token;

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    // A JSON string, number or literal.
    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"|-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?|true|false|null")]
    private static partial Regex JsonToken();

    [GeneratedRegex("'[^']*'|\\d+")]
    private static partial Regex QuotedOrNumber();
}
