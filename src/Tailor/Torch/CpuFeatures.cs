namespace Tailor.Torch;

/// <summary>The CPU features that decide Tailor's training path, read once from <c>/proc/cpuinfo</c> (none elsewhere).</summary>
public static class CpuFeatures
{
    private static readonly HashSet<string> Flags = Read();

    /// <summary>AVX-512 Foundation: oneMKL has AVX-512 fp32 kernels for this CPU (it uses them on Intel by itself).</summary>
    public static bool Avx512F => Flags.Contains("avx512f");

    /// <summary>AVX-512 BF16 dot products (Cooper Lake, Zen 4/5): libtorch computes bf16 matmuls natively.</summary>
    public static bool Avx512Bf16 => Flags.Contains("avx512_bf16");

    /// <summary>AMX tiles with bf16 (Sapphire Rapids and later): oneDNN's bf16 matmuls run on the matrix unit.</summary>
    public static bool AmxBf16 => Flags.Contains("amx_bf16");

    private static HashSet<string> Read()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return [];
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return line is null ? [] : [.. line.Split([' ', ':', '\t'], StringSplitOptions.RemoveEmptyEntries)];
        }
        catch (IOException)
        {
            return [];
        }
    }
}
