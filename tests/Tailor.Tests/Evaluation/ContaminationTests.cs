using Tailor.Evaluation;

namespace Tailor.Tests.Evaluation;

public class ContaminationTests
{
    private const string Shared13 = "the quick brown fox jumps over the lazy dog near the old river bank";   // 14 words

    [Fact]
    public void Words_are_lowercased_runs_of_letters_and_digits()
    {
        Assert.Equal(["it", "s", "3", "5gb", "für", "café"], Contamination.Words("It's 3.5GB — FÜR café!"));
    }

    [Fact]
    public void Items_sharing_a_13_word_run_are_found_and_shorter_runs_are_not()
    {
        var test = new Dictionary<string, IReadOnlyList<TestText>>
        {
            ["set"] =
            [
                // 1: shares 14 words (two 13-grams) with the corpus, in another case and punctuation.
                new("a", ["Start: THE quick, brown fox jumps over the lazy dog near the old river bank! End here now."]),
                // 2: shares only 12 consecutive words.
                new("b", ["quick brown fox jumps over the lazy dog near the old river and then something else entirely"]),
                // 3: too short for any 13-gram.
                new("c", ["short text"]),
                // 4: its second field overlaps the tuning corpus only.
                new("d", ["unrelated words", "one two three four five six seven eight nine ten eleven twelve thirteen"]),
            ],
        };
        var corpora = new List<(string, IEnumerable<string>)>
        {
            ("pretrain", ["Once upon a time " + Shared13 + " and more.", "nothing to see"]),
            ("tuning", ["count: one two three four five six seven eight nine ten eleven twelve thirteen fourteen"]),
        };
        var rows = Contamination.Measure(test, corpora);
        var pre = rows.Single(r => r.Corpus == "pretrain");
        var tune = rows.Single(r => r.Corpus == "tuning");

        // Distinct 13-grams: a has 18 words → 6; b has 17 → 5; c none; d's second field exactly 13 → 1. Total 12.
        Assert.Equal((4, 3, 12L), (pre.Items, pre.EligibleItems, pre.TestNgrams));
        Assert.Equal(1, pre.OverlappingItems);   // only a
        Assert.Equal(2L, pre.FoundNgrams);        // the 14 shared words hold two 13-grams
        Assert.Equal(1, tune.OverlappingItems);   // only d
        Assert.Equal(1L, tune.FoundNgrams);
        Assert.Equal(0.25, pre.OverlappingShare);
        Assert.Equal(2.0 / 12, pre.NgramShare, 12);
    }

    [Fact]
    public void Test_sets_and_corpora_are_read_from_jsonl_text_fields_only()
    {
        string dir = Directory.CreateTempSubdirectory("tailor-contam-").FullName;
        try
        {
            string test = Path.Combine(dir, "t.test.jsonl");
            File.WriteAllLines(test,
            [
                $$"""{"id":"x1","package":"{{Shared13}}","text":"{{Shared13}}","label":"positive"}""",
                """{"id":"x2","text":"nothing in common here"}""",
            ]);
            string corpus = Path.Combine(dir, "c.jsonl");
            File.WriteAllLines(corpus, [$$"""{"source":"kjv","text":"{{Shared13}}"}"""]);
            var items = Contamination.ReadTestSet(test);
            Assert.Equal(["x1", "x2"], items.Select(i => i.Id));
            Assert.Single(items[0].Texts);   // "package" is metadata, not text
            var rows = Contamination.Measure(new Dictionary<string, IReadOnlyList<TestText>> { ["t"] = items },
                [("c", Contamination.StreamTexts([dir + "/c.jsonl"]))]);
            Assert.Equal(1, rows[0].OverlappingItems);

            File.AppendAllText(corpus, "{not json\n");
            var e = Assert.Throws<TailorException>(() => Contamination.StreamTexts([corpus]).ToList());
            Assert.Contains("c.jsonl:2", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
