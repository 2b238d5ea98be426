using System.Security.Cryptography;
using System.Text;

namespace Tailor;

/// <summary>
/// The one place for hashing in Tailor: hashes and seeded draws that are the same on every machine and .NET version
/// (<c>string.GetHashCode</c> is randomised per process and <c>System.Random</c>'s algorithm is not promised), and the
/// SHA-256 digests that fingerprint files and data. Results depend on these exact functions (subsets, shuffles,
/// template choices, bootstrap resamples): changing one changes every reported number.
/// </summary>
public static class StableHash
{
    /// <summary>FNV-1a 64-bit offset basis.</summary>
    public const ulong FnvOffset = 14695981039346656037UL;

    /// <summary>FNV-1a 64-bit prime.</summary>
    public const ulong FnvPrime = 1099511628211UL;

    /// <summary>SplitMix64's increment (2^64 / golden ratio).</summary>
    public const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>FNV-1a 64-bit over the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static ulong Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ulong h = FnvOffset;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            h ^= b;
            h *= FnvPrime;
        }
        return h;
    }

    /// <summary>FNV-1a 32-bit over the UTF-16 code units of <paramref name="text"/> (seeds the report's example shuffle).</summary>
    public static int Of32(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        unchecked
        {
            int h = (int)2166136261;
            foreach (char c in text) h = (h ^ c) * 16777619;
            return h;
        }
    }

    /// <summary>SplitMix64's output function (Stafford's variant 13): spreads every input bit over the output.</summary>
    public static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>One SplitMix64 step from state <paramref name="x"/>: <see cref="Finalize"/>(x + <see cref="Golden"/>).</summary>
    public static ulong Mix(ulong x) => Finalize(x + Golden);

    /// <summary>SHA-256 of a file's bytes, lower-case hex (64 digits).</summary>
    public static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>SHA-256 of the UTF-8 bytes of <paramref name="parts"/> written one after another, lower-case hex.</summary>
    public static string Sha256(IEnumerable<string> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string p in parts) sha.AppendData(Encoding.UTF8.GetBytes(p));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator whose sequence is fixed by its seed on every
/// platform. A mutable struct: keep it in a local or a field, never pass it by value.
/// </summary>
public struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => StableHash.Finalize(_state += StableHash.Golden);

    /// <summary>Uniform in [0, n) without modulo bias (Lemire's multiply-shift with rejection); the bootstrap's draw.</summary>
    public int Next(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ulong bound = (ulong)n;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            UInt128 m = (UInt128)NextUInt64() * bound;
            if ((ulong)m >= threshold) return (int)(ulong)(m >> 64);
        }
    }

    /// <summary>Uniform in [0, n) without modulo bias (rejection of the top partial range, then modulo); the mixture's draw.</summary>
    public long NextByModulo(long n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ulong bound = (ulong)n;
        ulong limit = ulong.MaxValue - (ulong.MaxValue % bound);
        ulong x;
        do x = NextUInt64(); while (x >= limit);
        return (long)(x % bound);
    }
}
