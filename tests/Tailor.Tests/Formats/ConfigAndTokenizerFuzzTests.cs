using Tailor.Model;
using Tailor.Text;
using Xunit.Abstractions;

namespace Tailor.Tests.Formats;

/// <summary>
/// The config.json and tokenizer.json readers get thousands of mutated and truncated files: they may only fail with
/// their documented, user-facing exceptions (which name the file), never crash with another exception or hang.
/// </summary>
public sealed class ConfigAndTokenizerFuzzTests(ITestOutputHelper output)
{
    private static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    [Theory]
    [InlineData("tiny-llama", 1500, 11)]
    [InlineData("tiny-qwen2", 1500, 12)]
    public void Mutated_config_json_fails_only_with_a_clear_error(string model, int cases, int rngSeed)
    {
        var report = ReaderFuzzer.FuzzReader(
            File.ReadAllBytes(Fixture("llama", model, "config.json")),
            path => LlamaConfig.FromPretrained(path),
            [typeof(TailorException)],
            cases,
            rngSeed,
            fileName: "config.json");
        output.WriteLine(report.ToString());
        Assert.True(report.Rejected > cases / 4, "most mutations should be caught");
    }

    [Fact]
    public void Mutated_tokenizer_json_fails_only_with_a_clear_error()
    {
        // A small trained tokenizer keeps each case fast; its JSON has every section a real one has.
        string dir = Directory.CreateTempSubdirectory("tailor-tokfuzz-").FullName;
        try
        {
            var texts = Enumerable.Range(0, 200).Select(i => $"line {i}: the quick brown fox, jumps over {i * 7} lazy dogs! ünïcödé 😀");
            BpeTrainer.Train(texts, new BpeTrainerOptions(VocabSize: 300)).Save(dir);
            var report = ReaderFuzzer.FuzzReader(
                File.ReadAllBytes(Path.Combine(dir, "tokenizer.json")),
                path =>
                {
                    var t = TextTokenizer.Load(path);
                    t.Decode(t.Encode("hello world <|im_end|>", parseSpecial: true));
                },
                [typeof(TokenizerFormatException), typeof(TailorException)],
                1500,
                21,
                fileName: "tokenizer.json");
            output.WriteLine(report.ToString());
            Assert.True(report.Rejected > 300, "most mutations should be caught");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
