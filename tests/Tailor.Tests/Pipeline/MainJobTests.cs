using System.Text.Json.Nodes;
using Tailor.Evaluation;
using Tailor.Evaluation.Report;
using Tailor.Tests.Data.Instructions;
using Tailor.Pipeline;

namespace Tailor.Tests.Pipeline;

/// <summary>`tailor run --profile smoke`: every stage runs and the report is produced; a second run skips everything.</summary>
[Collection("TorchSharp")]
public sealed class MainJobTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-run-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private RunOptions Options() => new()
    {
        Profile = RunProfileName.Smoke, Output = Path.Combine(_dir, "run"), Runtime = new() { Threads = 1 }, Limit = 6, Resamples = 200,
        BaseModels = "small=" + Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small") + ",base=" + Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small"),
        TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder,
        Afinn = Path.Combine(InstructionFixtures.RepoRoot, "data", "baselines", "afinn-165.json"),
    };

    [Fact]
    public void The_smoke_profile_runs_every_stage_writes_the_report_and_then_skips_what_did_not_change()
    {
        var started = new List<string>();
        var result = MainJob.Run(Options(), new RunEvents { StageStarted = (_, _, name, _) => started.Add(name) });
        string[] expected =
        [
            "base-small", "base-base", "finetune-small", "instruct-small", "instruct-vague-small", "finetune-base", "instruct-base",
            "encoder-minilm", "finetune-minilm", "eval-classic-baselines", "eval-base-small-1shot", "eval-base-base-1shot",
            "eval-finetune-small", "eval-instruct-small", "eval-instruct-vague-small", "eval-finetune-base", "eval-instruct-base", "eval-finetune-minilm", "report",
        ];
        Assert.Equal(expected, started);
        Assert.All(result.Stages, s => Assert.False(s.Skipped));
        foreach (var (name, folder) in result.Evaluations)
        {
            var (run, items) = EvalRun.Load(folder);
            Assert.Equal(name, run.Name);
            Assert.Equal(name == "finetune-minilm" ? ["sentiment", "sentiment-imdb"] : ["sentiment", "sentiment-imdb", "summarization", "translation-en-de", "translation-en-fr"],
                run.Tasks.Select(t => t.Task));
            Assert.NotEmpty(items);
        }
        Assert.Equal("instruct-vague", result.Roles["instruct-vague-small"].Role);
        // Each base is evaluated once, k-shot, and that evaluation is the claims' base; its labels are ranked.
        Assert.Equal(("base", "small"), result.Roles["base-small-1shot"]);
        Assert.False(result.Roles.ContainsKey("base-small"));
        Assert.Equal("rank", EvalRun.Load(result.Evaluations["base-small-1shot"]).Run.Tasks[0].Mode);
        Assert.Equal("chat", EvalRun.Load(result.Evaluations["instruct-small"]).Run.Kind);
        Assert.Equal("finetuned", EvalRun.Load(result.Evaluations["finetune-small"]).Run.Kind);
        Assert.Contains("| instruct-small | chat |", result.MainTable);
        Assert.True(File.Exists(Path.Combine(result.Report, "main-table.md")));
        Assert.Contains("[19/19] report", File.ReadAllText(Path.Combine(result.Folder, "run.log")));
        Assert.True(File.Exists(Path.Combine(result.Report, "roles.json")));
        foreach (string f in new[] { "report.md", "report.html", "results.json", "claims.md" })
            Assert.True(File.Exists(Path.Combine(result.Report, f)), f + " missing");
        Assert.Contains("instruction-tuned", File.ReadAllText(Path.Combine(result.Report, "claims.md")), StringComparison.OrdinalIgnoreCase);

        // The seed's fine-tuned BERT (smoke: a tiny random BERT with MiniLM's vocabulary) is a classifier in its own role,
        // claim 9 pits each instruct model against it on both sentiment sets, and the tables say where the weights came from.
        Assert.Equal(("encoder-finetuned", "-"), result.Roles["finetune-minilm"]);
        Assert.Equal("classifier", EvalRun.Load(result.Evaluations["finetune-minilm"]).Run.Tasks[0].Mode);
        var claim9 = ComparisonReport.Load(Path.Combine(result.Report, "results.json")).Claims.Rows.Single(c => c.Number == 9);
        Assert.NotEqual(Verdict.NotMeasured, claim9.Verdict);
        Assert.Equal(4, claim9.Evidence.Count);   // instruct-small and instruct-base, each on sentiment and sentiment-imdb
        Assert.Contains("| finetune-minilm | finetuned |", result.MainTable);
        Assert.Contains("| random (never trained), tuned here |", result.MainTable);
        Assert.Contains("| base-small-1shot | base 1-shot | ", result.MainTable);
        Assert.DoesNotContain("origin not recorded", result.MainTable);   // the tiny random bases say so too
        Assert.Contains("random weights, never pre-trained (encoder-minilm); then finetune here", File.ReadAllText(Path.Combine(result.Report, "report.md")));
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(result.Folder, Stages.ManifestFile)))!;
        Assert.True(manifest["finished"]!.GetValue<bool>());
        Assert.Equal(expected.Length, manifest["stages"]!.AsArray().Count);

        var again = MainJob.Run(Options());
        Assert.All(again.Stages, s => Assert.True(s.Skipped, s.Name + " ran again although nothing changed"));

        // A changed option reruns the stages it feeds, and only those.
        var third = MainJob.Run(Options() with { Limit = 5 });
        Assert.All(third.Stages.Where(s => s.Kind is "bases" or "train"), s => Assert.True(s.Skipped, s.Name));
        Assert.All(third.Stages.Where(s => s.Kind is "eval" or "report"), s => Assert.False(s.Skipped, s.Name));
    }
}
