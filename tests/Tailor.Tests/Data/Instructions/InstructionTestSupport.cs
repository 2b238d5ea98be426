using System.IO.Compression;
using Tailor.Tests.Text;
using Tailor.Text;

namespace Tailor.Tests.Data.Instructions;

/// <summary>Tokenizers and repository paths the instruction-data tests share.</summary>
internal static class InstructionFixtures
{
    private static readonly Lazy<TextTokenizer> TrainedTokenizer = new(() =>
        BpeTrainer.Train(TrainingCorpus.Documents(60_000), new BpeTrainerOptions(VocabSize: 600)));

    /// <summary>The repository root (the folder holding Tailor.slnx), found upwards from the test binaries.</summary>
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>data/templates.</summary>
    public static string TemplatesFolder => Path.Combine(RepoRoot, "data", "templates");

    /// <summary>A file of data/tasks.</summary>
    public static string TaskFile(string name) => Path.Combine(RepoRoot, "data", "tasks", name);

    /// <summary>
    /// A byte-level tokenizer with no merges: every UTF-8 byte is its own token (id = byte value) and the default special
    /// tokens follow: 256 &lt;|endoftext|&gt; (EOS), 257 &lt;|im_start|&gt;, 258 &lt;|im_end|&gt;, 259 &lt;|pad|&gt;.
    /// Ids can be written down by hand. A new instance each call (ChatTemplate is mutable).
    /// </summary>
    public static TextTokenizer Bytes() => BpeTrainer.Train(["ab"], new BpeTrainerOptions(VocabSize: 260, MinFrequency: 1));

    /// <summary>A 600-token BPE trained on the test corpus, with merges (shared: do not change its ChatTemplate).</summary>
    public static TextTokenizer Trained => TrainedTokenizer.Value;

    /// <summary>Qwen3's tokenizer and tokenizer_config.json (chat_template: Qwen3's own, not plain ChatML). A new instance each call.</summary>
    public static TextTokenizer Qwen3()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizers");
        using var json = new GZipStream(File.OpenRead(Path.Combine(folder, "qwen3.tokenizer.json.gz")), CompressionMode.Decompress);
        using var config = new GZipStream(File.OpenRead(Path.Combine(folder, "qwen3.tokenizer_config.json.gz")), CompressionMode.Decompress);
        return TextTokenizer.Load(json, config, "qwen3");
    }

    /// <summary>UTF-8 bytes of <paramref name="text"/> as ids of <see cref="Bytes"/>.</summary>
    public static IEnumerable<int> B(string text) => System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b);

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tailor.slnx"))) return dir.FullName;
        }

        throw new InvalidOperationException($"no Tailor.slnx above {AppContext.BaseDirectory}");
    }
}
