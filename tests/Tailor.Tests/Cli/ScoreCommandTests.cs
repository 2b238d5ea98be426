using System.Text.Json;

namespace Tailor.Tests.Cli;

[Collection("TorchSharp")]
public sealed class ScoreCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-score-").FullName;

    // The example of sacreBLEU's README (mjpost/sacrebleu, README.md, "Using SacreBLEU from Python"):
    // corpus BLEU 48.53, chrF2 59.73.
    private string[] Files()
    {
        string hyp = Path.Combine(_dir, "hyp.txt"), r1 = Path.Combine(_dir, "r1.txt"), r2 = Path.Combine(_dir, "r2.txt");
        File.WriteAllText(hyp, "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n");
        File.WriteAllText(r1, "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n");
        File.WriteAllText(r2, "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n");
        return [hyp, r1, r2];
    }

    [Fact]
    public void Bleu_over_files_matches_the_sacrebleu_readme_example()
    {
        var f = Files();
        var (exit, stdout, _) = CliRunner.Run("score", "--metric", "bleu", "--hyp", f[0], "--ref", f[1], "--ref", f[2]);
        Assert.Equal(0, exit);
        Assert.StartsWith("BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.53 ", stdout);
    }

    [Fact]
    public void Json_output_carries_the_score_and_the_bleu_statistics()
    {
        var f = Files();
        var (exit, stdout, _) = CliRunner.Run("score", "--metric", "chrf", "--hyp", f[0], "--ref", f[1], "--ref", f[2], "--json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(59.73, doc.RootElement.GetProperty("score").GetDouble(), 2);
        (exit, stdout, _) = CliRunner.Run("score", "--metric", "bleu", "--hyp", f[0], "--ref", f[1], "--json");
        using var bleu = JsonDocument.Parse(stdout);
        foreach (string key in new[] { "counts", "totals", "bp", "sys_len", "ref_len", "signature" })
            Assert.True(bleu.RootElement.TryGetProperty(key, out _), key);
    }

    [Fact]
    public void Misaligned_files_and_unknown_flags_are_errors_that_name_the_problem()
    {
        var f = Files();
        File.AppendAllText(f[1], "one more line\n");
        var (exit, _, stderr) = CliRunner.Run("score", "--metric", "bleu", "--hyp", f[0], "--ref", f[1]);
        Assert.Equal(1, exit);
        Assert.Contains("r1.txt has 4 lines", stderr);
        (exit, _, stderr) = CliRunner.Run("score", "--metric", "bleu", "--hyp", f[0], "--ref", f[2], "--smoth", "exp");
        Assert.Equal(2, exit);
        Assert.Contains("unknown option --smoth", stderr);
        Assert.Contains("--smooth", stderr);
        (exit, _, stderr) = CliRunner.Run("score", "--metric", "bleu4", "--hyp", f[0], "--ref", f[2]);
        Assert.Equal(2, exit);
        Assert.Contains("bleu4", stderr);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
