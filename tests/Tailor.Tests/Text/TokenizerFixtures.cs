using System.IO.Compression;
using System.Text.Json;
using Tailor.Text;

namespace Tailor.Tests.Text;

/// <summary>
/// Reads the committed tokenizer fixtures (Fixtures/tokenizers, written by scripts/tokenizer-fixtures/generate.mjs; see
/// PROVENANCE.md there). Loaded tokenizers are cached: the Llama 3 and Qwen files take a second or two each to read.
/// </summary>
internal static class TokenizerFixtures
{
    private static readonly Dictionary<string, Lazy<TextTokenizer>> Loaded = new()
    {
        ["gpt2"] = new(() => LoadFromGz("gpt2")),
        ["llama3"] = new(() => LoadFromGz("llama3")),
        ["qwen3"] = new(() => LoadFromGz("qwen3")),
    };

    public static string Folder { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizers");

    /// <summary>The reference tokenizer "gpt2", "llama3" or "qwen3", loaded from its tokenizer.json.gz + tokenizer_config.json.gz.</summary>
    public static TextTokenizer Get(string name) => Loaded[name].Value;

    public static byte[] ReadGz(string fileName)
    {
        using FileStream file = File.OpenRead(Path.Combine(Folder, fileName));
        using GZipStream gzip = new(file, CompressionMode.Decompress);
        using MemoryStream buffer = new();
        gzip.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>The reference cases of one tokenizer: text, parseSpecial and the ids the JavaScript tokenizer produced.</summary>
    public static IReadOnlyList<ReferenceCase> Cases(string name)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, $"{name}.cases.json")));
        List<ReferenceCase> cases = [];
        int index = 0;
        foreach (JsonElement c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            cases.Add(new ReferenceCase(
                index++,
                c.GetProperty("text").GetString()!,
                c.GetProperty("parseSpecial").GetBoolean(),
                [.. c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())]));
        }

        return cases;
    }

    /// <summary>A new instance, for tests that change it.</summary>
    public static TextTokenizer LoadFromGz(string name)
    {
        using FileStream json = File.OpenRead(Path.Combine(Folder, $"{name}.tokenizer.json.gz"));
        using GZipStream jsonGz = new(json, CompressionMode.Decompress);
        using FileStream config = File.OpenRead(Path.Combine(Folder, $"{name}.tokenizer_config.json.gz"));
        using GZipStream configGz = new(config, CompressionMode.Decompress);
        return TextTokenizer.Load(jsonGz, configGz, $"{name}.tokenizer.json.gz");
    }
}

internal sealed record ReferenceCase(int Index, string Text, bool ParseSpecial, int[] Ids);

/// <summary>A fresh folder under the temp directory, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tailor-tok-tests", Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
