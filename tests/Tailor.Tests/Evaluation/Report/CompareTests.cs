using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Evaluation;
using Tailor.Evaluation.Report;
using Tailor.Recipes;
using Tailor.Tests.Cli;
using static Tailor.Tests.Evaluation.Report.SyntheticEvals;

namespace Tailor.Tests.Evaluation.Report;

public class CompareTests
{
    private static CompareOptions Options(string output, params string[] inputs) =>
        new() { Inputs = inputs, Output = output, Resamples = 300, NoContamination = true };

    [Fact]
    public void Compare_marks_a_large_gain_significant_and_an_identical_model_not()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.55, 0.3, 0.3), 1, OffTask: 0.2));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.9, 0.85, 0.85), 2, OffTask: 0.02));
        string copy = Write(tmp.Path, new Spec("base-copy", "base", Q(0.55, 0.3, 0.3), 1, OffTask: 0.2));
        var report = Compare.Run(Options(Path.Combine(tmp.Path, "out"), b, i, copy));

        Assert.Equal("base-small", report.Reference);
        var summ = report.Tasks.Single(t => t.Task == "summarization");
        Assert.Equal("rougeL", summ.PrimaryMetric);
        var rougeL = summ.Metrics.Single(m => m.Metric == "rougeL");
        var gain = rougeL.Comparisons.Single(c => c.Model == "instruct-small");
        Assert.True(gain.Better);
        Assert.True(gain.Low > 0);
        Assert.Equal("paired bootstrap", gain.Test);   // the chat model has two templates per item
        Assert.Equal(SummaryItems, gain.Units);
        var same = rougeL.Comparisons.Single(c => c.Model == "base-copy");
        Assert.Equal((0.0, 0.0, 0.0, 1.0), (same.Delta, same.Low, same.High, same.PValue));
        Assert.Equal("", same.Mark);

        // Accuracy of two one-answer-per-item models: McNemar's exact test.
        var acc = report.Tasks.Single(t => t.Task == "sentiment").Metrics.Single(m => m.Metric == "accuracy");
        Assert.Equal("McNemar exact", acc.Comparisons.Single(c => c.Model == "base-copy").Test);

        // Recomputed scores equal what results.json reports (so no warning), BLEU included.
        Assert.DoesNotContain(report.Warnings, w => w.Contains("recomputed", StringComparison.Ordinal));
        var bleu = report.Tasks.Single(t => t.Task == "translation-en-de").Metrics.Single(m => m.Metric == "bleu");
        foreach (var s in bleu.Scores) Assert.Equal(s.Reported!.Value, s.Value, 9);

        // Off-task: the chat model answers off-task far less often.
        var off = summ.OffTask.Single(o => o.Model == "instruct-small").Comparison!;
        Assert.True(off.Better && off.Delta < 0);

        // Claims with roles from the kinds: 1-3 and 5 measured and supported; 4, 7, 8 not measured.
        var claims = report.Claims.Rows.ToDictionary(c => c.Number);
        Assert.Equal(Verdict.Supported, claims[1].Verdict);
        Assert.Equal(Verdict.Supported, claims[2].Verdict);
        Assert.Equal(Verdict.Supported, claims[3].Verdict);
        Assert.Equal(Verdict.Supported, claims[5].Verdict);
        Assert.Equal(Verdict.NotMeasured, claims[4].Verdict);
        Assert.Equal(Verdict.NotMeasured, claims[7].Verdict);
        Assert.Equal(Verdict.NotMeasured, claims[8].Verdict);
        Assert.Contains("(1) Instruction-tuned beats its base model on summarization", report.Claims.ToText(), StringComparison.Ordinal);

        foreach (string f in new[] { "report.md", "report.html", "results.json" })
            Assert.True(File.Exists(Path.Combine(tmp.Path, "out", f)), f);
        var reloaded = ComparisonReport.Load(Path.Combine(tmp.Path, "out", "results.json"));
        Assert.Equal(gain.Delta, reloaded.Tasks.Single(t => t.Task == "summarization").Metrics.Single(m => m.Metric == "rougeL")
            .Comparisons.Single(c => c.Model == "instruct-small").Delta);
    }

    [Fact]
    public void Claims_follow_the_roles_file_across_two_base_sizes()
    {
        using var tmp = new TempDir();
        string[] inputs =
        [
            Write(tmp.Path, new Spec("base-small", "base", Q(0.5, 0.3, 0.3), 1, 0.2)),
            Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.6, 0.45, 0.4), 2, 0.1)),
            Write(tmp.Path, new Spec("vague-small", "chat", Q(0.6, 0.45, 0.4), 2, 0.1)),   // same answers as instruct-small
            Write(tmp.Path, new Spec("finetuned-small", "finetuned", Q(0.9, 0.9, 0.9), 4, 0.0)),
            Write(tmp.Path, new Spec("base-base", "base", Q(0.5, 0.3, 0.3), 5, 0.2)),
            Write(tmp.Path, new Spec("instruct-base", "chat", Q(0.95, 0.95, 0.95), 6, 0.0)),
        ];
        string roles = Path.Combine(tmp.Path, "roles.json");
        File.WriteAllText(roles, """
            {
              "base-small": {"role": "base", "base": "small"},
              "instruct-small": {"role": "instruct", "base": "small"},
              "vague-small": {"role": "instruct-vague", "base": "small"},
              "finetuned-small": {"role": "finetuned", "base": "small"},
              "base-base": {"role": "base", "base": "base"},
              "instruct-base": {"role": "instruct", "base": "base"}
            }
            """);
        var report = Compare.Run(Options(Path.Combine(tmp.Path, "out"), inputs) with { Roles = roles });
        var claims = report.Claims.Rows.ToDictionary(c => c.Number);

        Assert.Equal(2, claims[1].Evidence.Count);                    // one per base size
        Assert.Equal(Verdict.NotSupported, claims[4].Verdict);        // the fine-tuned model is far better
        Assert.Contains("opposite direction", claims[4].Note, StringComparison.Ordinal);
        Assert.Equal(Verdict.NotSupported, claims[7].Verdict);        // vague instructions gave identical answers
        Assert.All(claims[7].Evidence, e => Assert.Equal(0, e.Effect));
        // The base-size model gains much more on every task, but on sentiment instruct-small (q 0.6 on reviews about half
        // positive) is not significantly above the majority-label floor, so that row cannot count: mixed.
        Assert.Equal(3, claims[8].Evidence.Count);                    // one per task
        Assert.Equal(EvidenceStatus.Uninformative, claims[8].Evidence.Single(e => e.Label.StartsWith("sentiment", StringComparison.Ordinal)).Status);
        Assert.All(claims[8].Evidence.Where(e => !e.Label.StartsWith("sentiment", StringComparison.Ordinal)), e => Assert.Equal(EvidenceStatus.Supports, e.Status));
        Assert.Equal(Verdict.Mixed, claims[8].Verdict);
        Assert.NotEqual(Verdict.NotMeasured, claims[6].Verdict);
        Assert.Equal(2, claims[6].Evidence.Count);

        // base_size orders the bases: declared the other way round, the larger base now gains less.
        File.WriteAllText(roles, File.ReadAllText(roles)
            .Replace("\"base\": \"small\"}", "\"base\": \"small\", \"base_size\": 9e7}", StringComparison.Ordinal)
            .Replace("\"base\": \"base\"}", "\"base\": \"base\", \"base_size\": 1e7}", StringComparison.Ordinal));
        var flipped = Compare.Run(Options(Path.Combine(tmp.Path, "out2"), inputs) with { Roles = roles }).Claims.Rows.Single(c => c.Number == 8);
        Assert.Equal(Verdict.NotSupported, flipped.Verdict);
        Assert.Contains("opposite direction", flipped.Note, StringComparison.Ordinal);
        Assert.StartsWith("translation-en-de chrf: (instruct-small − base-small)", flipped.Evidence.Single(e => e.Label.StartsWith("translation", StringComparison.Ordinal)).Label, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_seed_gives_the_same_results_and_another_seed_other_intervals()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.6, 0.4, 0.4), 1));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.7, 0.5, 0.5), 2));
        string Tasks(string output, ulong seed)
        {
            Compare.Run(Options(Path.Combine(tmp.Path, output), b, i) with { Seed = seed });
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Path, output, "results.json")))!;
            return json["tasks"]!.ToJsonString() + json["claims"]!.ToJsonString();
        }
        string one = Tasks("one", 1), two = Tasks("two", 1), other = Tasks("other", 2);
        Assert.Equal(one, two);
        Assert.NotEqual(one, other);
    }

    [Fact]
    public void Contamination_is_measured_against_the_task_and_pretraining_files()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.6, 0.4, 0.4), 1));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.7, 0.5, 0.5), 2));
        string data = Path.Combine(tmp.Path, "data", "tasks");
        Directory.CreateDirectory(data);
        string leaked = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi";
        File.WriteAllLines(Path.Combine(data, "summarization.test.jsonl"),
            [$$"""{"id":"s1","text":"{{leaked}}","summary":"a b"}""", """{"id":"s2","text":"clean item","summary":"c"}"""]);
        File.WriteAllLines(Path.Combine(data, "summarization.train.jsonl"), [$$"""{"id":"t1","text":"prefix {{leaked}}","summary":"x"}"""]);
        Directory.CreateDirectory(Path.Combine(tmp.Path, "data", "pretrain", "subset"));
        File.WriteAllLines(Path.Combine(tmp.Path, "data", "pretrain", "subset", "train.jsonl"), ["""{"source":"x","text":"unrelated"}"""]);

        var report = Compare.Run(Options(Path.Combine(tmp.Path, "out"), b, i) with { NoContamination = false, Data = data });
        var rows = report.Contamination.Where(r => r.TestSet == "summarization").ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(0, rows.Single(r => r.Corpus.StartsWith("pre-training", StringComparison.Ordinal)).OverlappingItems);
        var tuning = rows.Single(r => r.Corpus.StartsWith("tuning", StringComparison.Ordinal));
        Assert.Equal((1, 2), (tuning.OverlappingItems, tuning.Items));
        Assert.Contains(report.Warnings, w => w.Contains("sentiment.test.jsonl", StringComparison.Ordinal));   // not in this data folder
    }

    [Fact]
    public void Contamination_with_pre_training_reads_the_corpus_the_compared_model_was_pre_trained_on()
    {
        using var tmp = new TempDir();
        string data = Path.Combine(tmp.Path, "data", "tasks");
        Directory.CreateDirectory(data);
        string leaked = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi";
        File.WriteAllLines(Path.Combine(data, "summarization.test.jsonl"),
            [$$"""{"id":"s1","text":"{{leaked}}","summary":"a b"}""", """{"id":"s2","text":"clean item","summary":"c"}"""]);
        // The English corpus of the first bases is clean; the corpus this model's base read has the test text.
        Directory.CreateDirectory(Path.Combine(tmp.Path, "data", "pretrain", "subset"));
        File.WriteAllLines(Path.Combine(tmp.Path, "data", "pretrain", "subset", "train.jsonl"), ["""{"source":"x","text":"unrelated"}"""]);
        string corpus = Path.Combine(tmp.Path, "data", "pretrain-multi");
        Directory.CreateDirectory(Path.Combine(corpus, "subset"));
        File.WriteAllLines(Path.Combine(corpus, "subset", "train.jsonl"), [$$"""{"source":"x","text":"said {{leaked}}"}"""]);
        File.WriteAllText(Path.Combine(corpus, "MANIFEST.json"), """{"outputs":{}}""");
        string baseModel = Path.Combine(tmp.Path, "tailor-multi-small"), tuned = Path.Combine(tmp.Path, "instruct", "final");
        Directory.CreateDirectory(baseModel);
        Directory.CreateDirectory(tuned);
        File.WriteAllText(Path.Combine(baseModel, "README.md"),
            $"| | |\n|---|---|\n| tokens seen | 10 |\n| corpus manifest | `MANIFEST.json` sha256 {Tailor.StableHash.Sha256File(Path.Combine(corpus, "MANIFEST.json"))[..16]} |\n");
        File.WriteAllText(Path.Combine(tuned, "tailor.json"), JsonSerializer.Serialize(new { stage = "instruct", base_model = baseModel }));
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.6, 0.4, 0.4), 1, ModelPath: baseModel));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.7, 0.5, 0.5), 2, ModelPath: tuned));

        var report = Compare.Run(Options(Path.Combine(tmp.Path, "out"), b, i) with { NoContamination = false, Data = data });
        var row = Assert.Single(report.Contamination, r => r.TestSet == "summarization" && r.Corpus.StartsWith("pre-training", StringComparison.Ordinal));
        Assert.Equal(1, row.OverlappingItems);
        Assert.StartsWith($"pre-training of tailor-multi-small ({Path.Combine(corpus, "subset")}, the committed sample", row.Corpus, StringComparison.Ordinal);
        // --pretrain still decides when it is given.
        var given = Compare.Run(Options(Path.Combine(tmp.Path, "out2"), b, i) with
        {
            NoContamination = false, Data = data, Pretrain = Path.Combine(tmp.Path, "data", "pretrain", "subset"),
        });
        Assert.Equal(0, Assert.Single(given.Contamination, r => r.TestSet == "summarization" && r.Corpus.StartsWith("pre-training", StringComparison.Ordinal)).OverlappingItems);
    }

    [Fact]
    public void Training_curves_are_found_next_to_the_model_folder()
    {
        using var tmp = new TempDir();
        string run = Path.Combine(tmp.Path, "runs", "instruct-small");
        Directory.CreateDirectory(Path.Combine(run, "final"));
        File.WriteAllLines(Path.Combine(run, "metrics.jsonl"),
        [
            """{"step":10,"loss":3.2,"lr":0.001,"tokens_per_s":100}""", """{"step":20,"loss":2.9,"lr":0.001,"tokens_per_s":100}""",
            """{"step":20,"dev_loss":3.0,"dev_loss/sentiment":2.5}""",
        ]);
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.6, 0.4, 0.4), 1));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.7, 0.5, 0.5), 2, ModelPath: Path.Combine(run, "final")));
        var report = Compare.Run(Options(Path.Combine(tmp.Path, "out"), b, i));
        var curve = Assert.Single(report.Curves);
        Assert.Equal("instruct-small", curve.Label);
        Assert.Equal([new CurvePoint(10, 3.2, null), new CurvePoint(20, 2.9, null), new CurvePoint(20, null, 3.0)], curve.Points);
    }

    [Fact]
    public void Bad_inputs_are_errors_that_name_the_file_and_what_to_do()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.6, 0.4, 0.4), 1));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.7, 0.5, 0.5), 2));
        string output = Path.Combine(tmp.Path, "out");

        string empty = Path.Combine(tmp.Path, "empty");
        Directory.CreateDirectory(empty);
        var e = Assert.Throws<TailorException>(() => Compare.Run(Options(output, b, empty)));
        Assert.Contains(empty, e.Message, StringComparison.Ordinal);
        Assert.Contains("results.json", e.Message, StringComparison.Ordinal);

        string noPredictions = Path.Combine(tmp.Path, "nopred");
        Directory.CreateDirectory(noPredictions);
        File.Copy(Path.Combine(b, "results.json"), Path.Combine(noPredictions, "results.json"));
        e = Assert.Throws<TailorException>(() => Compare.Run(Options(output, b, noPredictions)));
        Assert.Contains("predictions.jsonl", e.Message, StringComparison.Ordinal);
        Assert.Contains("rerun", e.Message, StringComparison.Ordinal);

        string roles = Path.Combine(tmp.Path, "roles.json");
        File.WriteAllText(roles, """{"base-small": {"role": "teacher", "base": "small"}}""");
        e = Assert.Throws<TailorException>(() => Compare.Run(Options(output, b, i) with { Roles = roles }));
        Assert.Contains("roles.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("unknown role 'teacher'", e.Message, StringComparison.Ordinal);

        File.WriteAllText(roles, """{"base-smal": {"role": "base"}}""");
        e = Assert.Throws<TailorException>(() => Compare.Run(Options(output, b, i) with { Roles = roles }));
        Assert.Contains("'base-smal'", e.Message, StringComparison.Ordinal);

        // Same task, disjoint item ids: nothing to pair.
        string other = Path.Combine(tmp.Path, "other");
        var (run, items) = EvalRun.Load(b);
        (run with { Name = "other" }).Save(other, items.Select(x => x with { Id = "x-" + x.Id }));
        e = Assert.Throws<TailorException>(() => Compare.Run(Options(output, b, other)));
        Assert.Contains("no sentiment item id is shared", e.Message, StringComparison.Ordinal);

        // Same ids, other references: not the same test items.
        string changed = Path.Combine(tmp.Path, "changed");
        (run with { Name = "changed" }).Save(changed, items.Select(x => x.Task == "summarization" && x.Id.EndsWith("7", StringComparison.Ordinal) ? x with { References = ["other"] } : x));
        e = Assert.Throws<TailorException>(() => Compare.Run(Options(output, b, changed)));
        Assert.Contains("summarization item summarization-0007 has other references", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<TailorException>(() => Compare.Run(Options(output, b, i) with { Baseline = "nobody" }));
        Assert.Contains("--baseline nobody", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cli_compare_writes_the_report_and_prints_the_claims()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Q(0.6, 0.4, 0.4), 1));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Q(0.9, 0.8, 0.8), 2));
        string output = Path.Combine(tmp.Path, "out");
        var (exit, stdout, stderr) = CliRunner.Run("compare", b, i, "--output", output, "--resamples", "200", "--no-contamination");
        Assert.True(exit == 0, stderr);
        Assert.Contains("(1) Instruction-tuned beats its base model on summarization", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(output, "report.html")));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json")));
        Assert.Equal(200, doc.RootElement.GetProperty("resamples").GetInt32());

        string roles = Path.Combine(tmp.Path, "roles.json");
        File.WriteAllText(roles, """{"instruct-small": {"role": "chatbot"}}""");
        (exit, _, stderr) = CliRunner.Run("compare", b, i, "--output", output, "--roles", roles, "--no-contamination");
        Assert.Equal(1, exit);
        Assert.Contains("unknown role 'chatbot'", stderr, StringComparison.Ordinal);

        (exit, _, stderr) = CliRunner.Run("compare", b, "--output", output);
        Assert.Equal(2, exit);
        Assert.Contains("at least two evaluation folders", stderr, StringComparison.Ordinal);
    }
}
