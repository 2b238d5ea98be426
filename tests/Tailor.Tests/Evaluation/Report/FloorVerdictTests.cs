using System.Text.Json.Nodes;
using Tailor.Evaluation;
using Tailor.Evaluation.Report;
using Tailor.Recipes;
using Tailor.Report.Charts;
using static Tailor.Tests.Evaluation.Report.RunFixtures;
using TempDir = Tailor.Tests.Evaluation.Report.SyntheticEvals.TempDir;

namespace Tailor.Tests.Evaluation.Report;

/// <summary>Floors, degeneracy and the verdicts that use them (issue 14), on eval folders written as tailor eval writes them.</summary>
public class FloorVerdictTests
{
    private static CompareOptions Options(string output, string data, params string[] inputs) =>
        new() { Inputs = inputs, Output = output, Resamples = 400, NoContamination = true, Data = data };

    [Fact]
    public void The_degenerate_default_run_reads_claims_2_and_3_as_uninformative_not_supported()
    {
        using var tmp = new TempDir();
        string data = WriteTaskData(tmp.Path);
        string output = Path.Combine(tmp.Path, "report");
        var report = Compare.Run(Options(output, data,
            ClassicBaselines(tmp.Path, data), SilentBase(tmp.Path, data), DegenerateInstruct(tmp.Path, data)) with { Baseline = "base-small" }, charts: new ScottPlotCharts());
        var claims = report.Claims.Rows.ToDictionary(c => c.Number);
        if (Environment.GetEnvironmentVariable("TAILOR_FIXTURE_REPORT_OUT") is { Length: > 0 } keep)   // to look at the report
            foreach (string f in Directory.GetFiles(output)) File.Copy(f, Path.Combine(Directory.CreateDirectory(keep).FullName, Path.GetFileName(f)), overwrite: true);

        // Without floors these would read "supported": every raw difference is large and significant.
        Assert.All(claims[2].Evidence.Concat(claims[3].Evidence), e => Assert.True(e.Effect > 0 && e.PValue < 0.01, $"{e.Label}: {e.Effect} p={e.PValue}"));
        Assert.Equal(Verdict.Uninformative, claims[2].Verdict);
        Assert.Equal(Verdict.Uninformative, claims[3].Verdict);
        Assert.Equal(Verdict.Uninformative, claims[1].Verdict);
        Assert.All(claims[3].Evidence, e => Assert.Equal(EvidenceStatus.Uninformative, e.Status));
        Assert.Contains("instruct-small is at floor on translation-en-de", claims[3].Note, StringComparison.Ordinal);
        Assert.Contains("the source copied unchanged", claims[3].Note, StringComparison.Ordinal);

        // The sentiment floor is the train split's majority label ("negative", 60% of train), scored on the test items.
        var sentiment = report.Tasks.Single(t => t.Task == "sentiment");
        Assert.StartsWith("majority label of the train split (\"negative\"", sentiment.Floor, StringComparison.Ordinal);
        var test = EvalTask.Get("sentiment", data).ReadTest();
        Assert.Equal(test.Count(r => r.References[0] == "negative") / (double)test.Count, sentiment.Primary!.Floor!.Value, 12);
        Assert.True(sentiment.AtFloor("instruct-small"));
        Assert.False(sentiment.AtFloor("classic-baselines"));
        var translation = report.Tasks.Single(t => t.Task == "translation-en-de");
        Assert.True(translation.Primary!.Floor!.Value > 20, $"copying the source should score well above 20 chrF here: {translation.Primary.Floor.Value}");
        Assert.True(translation.AtFloor("instruct-small"));

        // Degeneracy: the silent base gives one (empty) answer to every review.
        var silent = sentiment.DegeneracyOf("base-small")!;
        Assert.True(silent.Degenerate);
        Assert.Equal(("(empty)", 1.0), (silent.TopAnswer, silent.TopShare));
        var instruct = sentiment.DegeneracyOf("instruct-small")!;
        Assert.InRange(instruct.TopShare, 0.75, 0.89);   // 82% "negative": below the 90% flag, caught by the floor instead
        Assert.False(instruct.Degenerate);

        // Holm: raw and adjusted p are both kept; adjusted ≥ raw.
        Assert.All(report.Claims.Rows.SelectMany(c => c.Evidence), e => Assert.True(e.AdjustedPValue >= e.PValue - 1e-15));

        // The first screen says so, in both reports.
        Assert.InRange(report.Summary!.Count, 3, 5);
        Assert.Contains(report.Summary, s => s.Contains("uninformative", StringComparison.Ordinal) && s.Contains("claims 1, 2, 3", StringComparison.Ordinal));
        string md = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Contains("## Summary", md, StringComparison.Ordinal);
        Assert.True(md.IndexOf("## Summary", StringComparison.Ordinal) < md.IndexOf("## Main table", StringComparison.Ordinal));
        Assert.Contains("![Forest plot", md, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(output, "chart-forest.png")));
        Assert.Contains("*at floor*", md, StringComparison.Ordinal);
        Assert.Contains("| floor (no model) |", md, StringComparison.Ordinal);
        Assert.Contains("**uninformative**", md, StringComparison.Ordinal);
        string html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("id=\"chart-forest\"", html, StringComparison.Ordinal);
        Assert.Contains("class=\"verdict uninf\">uninformative</td>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Competent_models_are_still_supported_against_the_same_floors()
    {
        using var tmp = new TempDir();
        string data = WriteTaskData(tmp.Path);
        var report = Compare.Run(Options(Path.Combine(tmp.Path, "report"), data,
            ClassicBaselines(tmp.Path, data), SilentBase(tmp.Path, data), CompetentInstruct(tmp.Path, data)) with { Baseline = "base-small" });
        var claims = report.Claims.Rows.ToDictionary(c => c.Number);
        Assert.Equal(Verdict.Supported, claims[1].Verdict);
        Assert.Equal(Verdict.Supported, claims[2].Verdict);
        Assert.Equal(Verdict.Supported, claims[3].Verdict);
        Assert.All(report.Tasks, t => Assert.False(t.AtFloor("instruct-small"), t.Task));
        Assert.All(claims[3].Evidence, e => Assert.Equal(EvidenceStatus.Supports, e.Status));
        // Copying the source is the translation baseline itself: it is at (exactly) its floor.
        Assert.True(report.Tasks.Single(t => t.Task == "translation-en-de").AtFloor("classic-baselines"));
        Assert.Contains(report.Summary!, s => s.StartsWith("On ", StringComparison.Ordinal) && s.Contains("instruct-small scores", StringComparison.Ordinal));
    }

    [Fact]
    public void A_win_by_a_model_that_gives_one_label_to_nine_reviews_in_ten_is_uninformative_even_above_the_floor()
    {
        using var tmp = new TempDir();
        // Reviews are 8% positive in the test set while the train split is 60% positive: the majority-label floor is about
        // 0.08, and a model that says "negative" to 95% of reviews (right on the rest) scores far above it. It is still
        // degenerate: its win over the silent base says nothing about reading reviews.
        string data = WriteTaskData(tmp.Path, testPositive: 0.08, trainMajority: "positive");
        var rng = new Random(2);
        string constant = WriteEval(tmp.Path, data, "instruct-small", "chat", ["sentiment"], (task, r, i) => rng.NextDouble() < 0.95 ? "negative" : r.References[0]);
        var report = Compare.Run(Options(Path.Combine(tmp.Path, "report"), data, SilentBase(tmp.Path, data), constant));
        var sentiment = report.Tasks.Single(t => t.Task == "sentiment");
        Assert.False(sentiment.AtFloor("instruct-small"));
        var d = sentiment.DegeneracyOf("instruct-small")!;
        Assert.True(d.Degenerate);
        Assert.Contains("one answer (\"negative\")", d.Flags[0], StringComparison.Ordinal);
        var claim = report.Claims.Rows.Single(c => c.Number == 2);
        Assert.True(claim.Evidence.Single().AdjustedPValue < 0.001);
        Assert.Equal(Verdict.Uninformative, claim.Verdict);
        Assert.Contains("instruct-small is degenerate on sentiment", claim.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Folders_written_before_inputs_and_train_files_were_recorded_still_get_floors_from_the_task_data()
    {
        using var tmp = new TempDir();
        string data = WriteTaskData(tmp.Path);
        string[] inputs = [SilentBase(tmp.Path, data), DegenerateInstruct(tmp.Path, data)];
        foreach (string folder in inputs)
        {
            string results = Path.Combine(folder, "results.json");
            var json = JsonNode.Parse(File.ReadAllText(results))!;
            foreach (var t in json["tasks"]!.AsArray())
            {
                t!.AsObject().Remove("train_file");
                t.AsObject().Remove("labels");
                t.AsObject().Remove("target_language");
            }
            File.WriteAllText(results, json.ToJsonString());
            string predictions = Path.Combine(folder, "predictions.jsonl");
            File.WriteAllLines(predictions, File.ReadAllLines(predictions).Select(l =>
            {
                var o = JsonNode.Parse(l)!.AsObject();
                Assert.True(o.Remove("input"));
                return o.ToJsonString();
            }));
        }
        var report = Compare.Run(Options(Path.Combine(tmp.Path, "report"), data, inputs));
        Assert.All(report.Tasks, t => Assert.NotNull(t.Primary!.Floor));
        Assert.StartsWith("majority label of the train split (\"negative\"", report.Tasks.Single(t => t.Task == "sentiment").Floor, StringComparison.Ordinal);
        Assert.Equal(Verdict.Uninformative, report.Claims.Rows.Single(c => c.Number == 3).Verdict);

        // Without the task data, the classification floor falls back to the scored items' majority and says so; the
        // generation floors cannot be built and are named in the warnings.
        var bare = Compare.Run(Options(Path.Combine(tmp.Path, "bare"), Path.Combine(tmp.Path, "nowhere"), inputs));
        Assert.StartsWith("most frequent gold label of the scored items", bare.Tasks.Single(t => t.Task == "sentiment").Floor, StringComparison.Ordinal);
        Assert.Null(bare.Tasks.Single(t => t.Task == "translation-en-de").Primary!.Floor);
        Assert.Contains(bare.Warnings, w => w.StartsWith("translation-en-de: no floor", StringComparison.Ordinal) && w.Contains("rerun tailor eval", StringComparison.Ordinal));
    }

    [Fact]
    public void A_users_own_tasks_get_floors_and_degeneracy_too()
    {
        using var tmp = new TempDir();
        string topics = Path.Combine(tmp.Path, "topics.jsonl"), answers = Path.Combine(tmp.Path, "answers.jsonl");
        var rng = new Random(4);
        string[] labels = ["sports", "politics", "science"];
        File.WriteAllLines(topics, Enumerable.Range(0, 90).Select(i =>
            $$"""{"id":"q{{i}}","input":"headline {{i}} about {{labels[i % 3]}}","output":"{{labels[i % 3]}}","options":["sports","politics","science"]}"""));
        File.WriteAllLines(answers, Enumerable.Range(0, 90).Select(i =>
            $$"""{"id":"a{{i}}","input":"Question {{i}}: name the {{English(i)}} colour of item {{i}} please","output":"the {{English(i)}} colour"}"""));
        string Eval(string name, string kind, Func<EvalTask, EvalRecord, string> answer)
        {
            var items = new List<EvalItem>();
            var results = new List<TaskResult>();
            foreach (string file in new[] { topics, answers })
            {
                var (task, records) = EvalTask.FromUserFile(file);
                var taskItems = records.Select(r =>
                {
                    string p = answer(task, r);
                    string? reason = OffTask.Reason(task, r.Input, p);
                    return new EvalItem(task.Name, r.Id, "plain", r.Input, p, r.References, reason is not null, reason, 1, TaskScoring.ItemScores(task, p, r.References), r.Input);
                }).ToList();
                results.Add(TaskScoring.Summarize(task, taskItems, "generation", 1));
                items.AddRange(taskItems);
            }
            string folder = Path.Combine(tmp.Path, name);
            new EvalRun(name, "models/" + name, "h", kind, 0, "d", new Dictionary<string, string>(), results, DateTime.UnixEpoch, "test").Save(folder, items);
            return folder;
        }
        string mine = Eval("my-model", "chat", (t, r) => t.IsClassification ? (rng.NextDouble() < 0.9 ? r.References[0] : "sports") : r.References[0]);
        string theirs = Eval("their-model", "base", (t, r) => t.IsClassification ? "sports" : "I do not know");
        var report = Compare.Run(Options(Path.Combine(tmp.Path, "report"), Path.Combine(tmp.Path, "no-data"), theirs, mine));

        var topic = report.Tasks.Single(t => t.Task == "topics");
        Assert.StartsWith("most frequent gold label of the scored items", topic.Floor, StringComparison.Ordinal);
        Assert.Equal(1 / 3.0, topic.Primary!.Floor!.Value, 12);
        Assert.True(topic.AtFloor("their-model"));
        Assert.False(topic.AtFloor("my-model"));
        Assert.True(topic.DegeneracyOf("their-model")!.Degenerate);
        var qa = report.Tasks.Single(t => t.Task == "answers");
        Assert.StartsWith("the input's first 3 words", qa.Floor, StringComparison.Ordinal);
        Assert.False(qa.AtFloor("my-model"));
        Assert.True(qa.DegeneracyOf("their-model")!.Degenerate);   // one answer to every question
        Assert.InRange(report.Summary!.Count, 3, 5);

        static string English(int i) => new[] { "red", "green", "blue", "yellow" }[i % 4];
    }
}
