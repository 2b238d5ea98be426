using Tailor.Evaluation;
using Tailor.Recipes;
using Tailor.Tests.Data.Instructions;
using Tailor.Evaluation.Metrics;
using Tailor.Evaluation.Answering;

namespace Tailor.Tests.Evaluation;

/// <summary>The harness's scores are the metric library's scores (which are tested against the references' own values).</summary>
public sealed class TaskScoringTests
{
    private static EvalItem Item(EvalTask task, string id, string prediction, string reference, string template = "plain") =>
        new(task.Name, id, template, "p", prediction, [reference], false, null, 1, TaskScoring.ItemScores(task, prediction, [reference]));

    [Fact]
    public void Translation_corpus_scores_equal_sacrebleu_style_corpus_scores_of_the_same_lines()
    {
        var task = EvalTask.Get("translation-en-de", "data/tasks");
        string[] hyp = ["Dieses Paket enthält Dateien.", "Eine Bibliothek für Bilder", "", "Werkzeuge für die Kommandozeile"];
        string[] refs = ["Dieses Paket enthält die Dateien.", "Eine Bibliothek zum Lesen von Bildern", "Dokumentation", "Kommandozeilenwerkzeuge"];
        var items = hyp.Select((h, i) => Item(task, "i" + i, h, refs[i])).ToList();
        var (m, sig) = TaskScoring.Corpus(task, items);
        Assert.Equal(MetricRunner.Score("bleu", hyp, [refs], new MetricOptions()).Score, m["bleu"], 10);
        Assert.Equal(MetricRunner.Score("chrf", hyp, [refs], new MetricOptions()).Score, m["chrf"], 10);
        Assert.StartsWith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", sig["bleu"]);
        Assert.Equal(ChrF.Sentence(hyp[0], [refs[0]]).Score, items[0].Scores["chrf"], 10);
    }

    [Fact]
    public void Summary_scores_are_mean_rouge_f_with_the_stemmer()
    {
        var task = EvalTask.Get("summarization", "data/tasks");
        string[] hyp = ["tools for converting images", "library of parsers"];
        string[] refs = ["image conversion tools", "parser library for C"];
        var items = hyp.Select((h, i) => Item(task, "s" + i, h, refs[i])).ToList();
        var (m, _) = TaskScoring.Corpus(task, items);
        var expected = MetricRunner.Score("rougeL", hyp, [refs], new MetricOptions { Stemmer = true }).Score;
        Assert.Equal(expected, m["rougeL"], 12);
        Assert.True(m["rouge1"] > 0);
    }

    [Fact]
    public void Classification_counts_off_task_answers_as_misses_of_their_gold_class()
    {
        var task = EvalTask.Get("sentiment", "data/tasks");
        var items = new[]
        {
            Item(task, "a", "positive", "positive"), Item(task, "b", "Negative.", "negative"),
            Item(task, "c", "I think so", "negative"), Item(task, "d", "negative", "positive"),
        };
        var (m, _) = TaskScoring.Corpus(task, items);
        Assert.Equal(0.5, m["accuracy"]);
        // positive: tp 1, fn 1, fp 0 → 2/3; negative: tp 1, fn 1, fp 1 → 1/2; mean 7/12.
        Assert.Equal(7.0 / 12, m["macro_f1"], 12);
    }

    [Fact]
    public void Per_template_scores_and_off_task_rates_are_reported()
    {
        var task = EvalTask.Get("sentiment", "data/tasks");
        var items = new[]
        {
            Item(task, "a", "positive", "positive", "t1"), Item(task, "b", "oops", "negative", "t2") with { OffTask = true, OffTaskReason = "not_a_label" },
        };
        var r = TaskScoring.Summarize(task, items, "generation", 2.0);
        Assert.Equal(1.0, r.ByTemplate["t1"]["accuracy"]);
        Assert.Equal(0.0, r.ByTemplate["t2"]["accuracy"]);
        Assert.Equal(0.5, r.OffTaskRate);
        Assert.Equal(0.5, r.OffTaskReasons["not_a_label"]);
        Assert.Equal(1.0, r.ItemsPerSecond);
    }

    [Fact]
    public void Subsets_are_seeded_stable_and_in_file_order()
    {
        var records = Enumerable.Range(0, 50).Select(i => new EvalRecord("r" + i, "x", ["y"], null)).ToList();
        var a = Questions.Subset(records, 10, 7);
        var b = Questions.Subset(records, 10, 7);
        var c = Questions.Subset(records, 10, 8);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(10, a.Count);
        Assert.Equal(a.OrderBy(r => int.Parse(r.Id[1..], System.Globalization.CultureInfo.InvariantCulture)), a);
        Assert.Same(records, Questions.Subset(records, 0, 7));
    }

    [Fact]
    public void Classification_shots_take_turns_over_the_labels_in_a_seeded_order()
    {
        // 90% negative: a plain random draw of 4 is all-negative two times in three.
        var train = Enumerable.Range(0, 200).Select(i => new EvalRecord("t" + i, "x" + i, [i % 10 == 0 ? "positive" : "negative"], null)).ToList();
        string[] options = ["negative", "positive"];
        var lastLabels = new HashSet<string>();
        for (long seed = 0; seed < 40; seed++)
        {
            var four = Questions.ShotsFor(train, options, 4, seed);
            Assert.Equal(4, four.Count);
            Assert.Equal(2, four.Count(r => r.References[0] == "positive"));
            Assert.Equal(4, four.Select(r => r.Id).Distinct().Count());
            lastLabels.Add(four[^1].References[0]);
            var three = Questions.ShotsFor(train, options, 3, seed);
            Assert.InRange(three.Count(r => r.References[0] == "positive"), 1, 2);
            Assert.Equal(four, Questions.ShotsFor(train, options, 4, seed));
        }
        Assert.Equal(2, lastLabels.Count);   // the last example's label varies with the seed
        // Not a classification task: a seeded subset, as before.
        Assert.Equal(Questions.Subset(train, 4, 9), Questions.ShotsFor(train, [], 4, 9));
    }

    [Fact]
    public void User_task_files_are_checked_line_by_line()
    {
        string dir = Directory.CreateTempSubdirectory("tailor-evaldata-").FullName;
        try
        {
            string good = Path.Combine(dir, "topics.jsonl");
            File.WriteAllLines(good, ["{\"input\":\"a cat\",\"output\":\"animal\",\"options\":[\"animal\",\"plant\"]}", "", "{\"id\":\"x\",\"input\":\"a rose\",\"output\":\"plant\",\"options\":[\"animal\",\"plant\"]}"]);
            var (task, records) = EvalTask.FromUserFile(good);
            Assert.True(task.IsClassification);
            Assert.Equal(["line-1", "x"], records.Select(r => r.Id));

            string bad = Path.Combine(dir, "bad.jsonl");
            File.WriteAllLines(bad, ["{\"input\":\"a\",\"output\":\"b\"}", "{\"input\":3,\"output\":\"b\"}"]);
            var e = Assert.Throws<TailorException>(() => EvalTask.FromUserFile(bad));
            Assert.Contains("bad.jsonl:2", e.Message);
            Assert.Contains("\"input\"", e.Message);

            File.WriteAllLines(bad, ["{\"input\":\"a\"}"]);
            Assert.Contains("missing field \"output\"", Assert.Throws<TailorException>(() => EvalTask.FromUserFile(bad)).Message);
            File.WriteAllLines(bad, ["{\"input\":\"a\",\"output\":\"c\",\"options\":[\"a\",\"b\"]}"]);
            Assert.Contains("not among", Assert.Throws<TailorException>(() => EvalTask.FromUserFile(bad)).Message);
            File.WriteAllLines(bad, ["{not json"]);
            Assert.Contains("bad.jsonl:1: not valid JSON", Assert.Throws<TailorException>(() => EvalTask.FromUserFile(bad)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Classic_baselines_answer_every_task_and_score_above_chance_where_they_should()
    {
        string dir = Directory.CreateTempSubdirectory("tailor-baseline-").FullName;
        try
        {
            var o = new EvalOptions
            {
                Baseline = "classic", Limit = 200, Output = dir,
                TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder,
                Afinn = Path.Combine(InstructionFixtures.RepoRoot, "data", "baselines", "afinn-165.json"),
            };
            var (run, items) = Evaluate.Run(o);
            Assert.Equal("baseline", run.Kind);
            Assert.Equal(5, run.Tasks.Count);
            Assert.True(run.Tasks[0].Metrics["accuracy"] > 0.6, $"AFINN accuracy {run.Tasks[0].Metrics["accuracy"]}");
            var copy = run.Tasks.Single(t => t.Task == "translation-en-de");
            Assert.True(copy.OffTaskReasons.GetValueOrDefault("wrong_language") > 0.3, "copied English should be flagged as the wrong language");
            var loaded = EvalRun.Load(dir);
            Assert.Equal(items.Count, loaded.Items.Count);
            Assert.Equal(run.DataHash, loaded.Run.DataHash);
            Assert.Equal(run.Tasks[2].Metrics["rougeL"], loaded.Run.Tasks[2].Metrics["rougeL"]);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
