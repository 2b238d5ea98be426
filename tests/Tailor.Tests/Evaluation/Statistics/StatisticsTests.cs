using Tailor.Evaluation;
using Tailor.Evaluation.Statistics;
using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Statistics;

public class StatisticsTests
{
    // Expected values: exact binomial tails computed with Python's fractions module,
    // 2 * sum(comb(n, i) for i in range(min(b, c) + 1)) / 2**n, capped at 1 (statsmodels' mcnemar(exact=True)).
    [Theory]
    [InlineData(0, 5, 0.0625)]
    [InlineData(1, 6, 0.125)]
    [InlineData(10, 25, 0.01667384780012071)]
    [InlineData(5, 5, 1.0)]
    [InlineData(3, 0, 0.25)]
    [InlineData(59, 79, 0.10545402577641182)]
    [InlineData(400, 500, 0.0009564441369189461)]
    [InlineData(0, 1, 1.0)]
    [InlineData(0, 0, 1.0)]
    public void McNemar_exact_p_equals_the_two_sided_binomial_tail(int b, int c, double expected)
    {
        double p = McNemar.ExactPValue(b, c);
        Assert.Equal(expected, p, 1e-12 * Math.Max(1, 1 / expected));
        Assert.Equal(p, McNemar.ExactPValue(c, b));   // symmetric in b and c
    }

    [Fact]
    public void McNemar_counts_the_discordant_pairs_of_per_item_outcomes()
    {
        bool[] a = [true, true, false, false, true, false, false];
        bool[] b = [true, false, true, true, true, true, false];
        var r = McNemar.Test(a, b);
        Assert.Equal((2, 1, 3, 1), (r.Both, r.OnlyA, r.OnlyB, r.Neither));
        Assert.Equal(0.625, r.PValue, 12);   // 2 * (1 + 4) / 16
        Assert.Equal(2.0 / 7, r.Difference, 12);
    }

    [Fact]
    public void Bootstrap_with_the_same_seed_gives_the_same_replicates_and_another_seed_different_ones()
    {
        var table = MeanTable(Enumerable.Range(0, 200).Select(i => (double)(i * 37 % 11)).ToArray());
        double Stat(int[][] s) => table.Score(s[0]);
        var one = Bootstrap.Replicates([table.Count], new BootstrapOptions(300, 7), Stat);
        var two = Bootstrap.Replicates([table.Count], new BootstrapOptions(300, 7), Stat);
        var other = Bootstrap.Replicates([table.Count], new BootstrapOptions(300, 8), Stat);
        Assert.Equal(one, two);
        Assert.NotEqual(one, other);
    }

    [Fact]
    public void SplitMix64_matches_the_reference_sequence()
    {
        // First outputs of SplitMix64 seeded with 1234567 (reference C implementation by Sebastiano Vigna).
        var rng = new SplitMix64(1234567);
        Assert.Equal(6457827717110365317UL, rng.NextUInt64());
        Assert.Equal(3203168211198807973UL, rng.NextUInt64());
        Assert.Equal(9817491932198370423UL, rng.NextUInt64());
    }

    [Fact]
    public void Paired_bootstrap_interval_contains_the_true_difference_and_excludes_zero()
    {
        // B = A + 0.1 + noise: the true mean difference is 0.1.
        var rng = new Random(3);
        int n = 400;
        var a = new double[n];
        var b = new double[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = 0.5 + 0.2 * (rng.NextDouble() - 0.5);
            b[i] = a[i] + 0.1 + 0.2 * (rng.NextDouble() - 0.5);
        }
        var r = Bootstrap.Paired(MeanTable(a), MeanTable(b), new BootstrapOptions());
        Assert.InRange(0.1, r.Difference.Low, r.Difference.High);
        Assert.True(r.Difference.AboveZero);
        Assert.Equal(b.Average() - a.Average(), r.Difference.Value, 12);
        Assert.Equal(2.0 / 1001, r.PValue, 12);   // no replicate at or below 0: the smallest p the test can give
    }

    [Fact]
    public void Paired_bootstrap_of_identical_systems_gives_zero_difference_and_p_one()
    {
        double[] x = [.. Enumerable.Range(0, 50).Select(i => Math.Sin(i))];
        var r = Bootstrap.Paired(MeanTable(x), MeanTable(x), new BootstrapOptions());
        Assert.Equal(0, r.Difference.Value);
        Assert.Equal((0.0, 0.0), (r.Difference.Low, r.Difference.High));
        Assert.Equal(1.0, r.PValue);
    }

    [Fact]
    public void Bootstrap_p_value_counts_the_smaller_side_with_plus_one_smoothing()
    {
        double[] d = [.. Enumerable.Range(0, 99).Select(i => i < 9 ? -1.0 : 1.0)];   // 9 of 99 below zero
        Assert.Equal(2.0 * 10 / 100, Bootstrap.PValue(d), 12);
        Assert.Equal(1.0, Bootstrap.PValue([0.0, 0.0, 0.0]));
    }

    [Fact]
    public void Percentile_interval_takes_ranks_25_and_974_of_1000()
    {
        double[] reps = [.. Enumerable.Range(0, 1000).Select(i => (double)(999 - i))];
        Assert.Equal((25.0, 974.0), Bootstrap.Percentile(reps, 0.95));
    }

    [Fact]
    public void Corpus_bleu_from_unit_statistics_equals_corpus_bleu_of_the_same_items()
    {
        string[] hyps = ["the cat sat on the mat", "a quick brown fox", "hello world again", "it is raining today here"];
        string[] refs = ["the cat is on the mat", "the quick brown fox jumps", "hello big world", "it rains today"];
        var units = hyps.Select((h, i) => (IReadOnlyList<EvalItem>)[Item(h, refs[i])]).ToList();
        var bleu = ItemMetric.For("bleu", null)!.Build(units);
        var chrf = ItemMetric.For("chrf", null)!.Build(units);
        var streams = new IReadOnlyList<string?>[] { refs };
        Assert.Equal(Bleu.Corpus(hyps, streams).Score, bleu.ScoreAll(), 10);
        Assert.Equal(ChrF.Corpus(hyps, streams).Score, chrf.ScoreAll(), 10);
        // A resample with repeats is the corpus score of the repeated items.
        string[] h2 = [hyps[0], hyps[0], hyps[3]];
        string?[] r2 = [refs[0], refs[0], refs[3]];
        Assert.Equal(Bleu.Corpus(h2, [r2]).Score, bleu.Score([0, 0, 3]), 10);
    }

    [Fact]
    public void Macro_f1_from_unit_statistics_equals_the_classification_metric_with_off_label_answers_as_misses()
    {
        (string Gold, string Prediction, bool Correct)[] rows =
        [
            ("positive", "positive", true), ("negative", "Positive.", false), ("negative", "negative", true),
            ("positive", "I don't know", false), ("positive", "negative", false), ("negative", "negative", true),
        ];
        var units = rows.Select(r => (IReadOnlyList<EvalItem>)[Item(r.Prediction, r.Gold, r.Correct ? 1 : 0)]).ToList();
        var table = ItemMetric.For("macro_f1", null)!.Build(units);
        var expected = Classification.MacroF1(
            rows.Select(r => r.Gold).ToList(), ["positive", "positive", "negative", "none", "negative", "negative"], ["negative", "positive"]);
        Assert.Equal(expected, table.ScoreAll(), 12);
    }

    private static EvalItem Item(string prediction, string reference, double correct = 0) =>
        new("t", Guid.NewGuid().ToString(), "plain", "", prediction, [reference], false, null, 0,
            new Dictionary<string, double> { ["correct"] = correct });

    private static UnitTable MeanTable(double[] values) => new([.. values.Select(v => new[] { v, 1.0 })], s => s[0] / s[1]);
}
