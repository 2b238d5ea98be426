using Tailor.Data.Instructions;

namespace Tailor.Tests.Data.Instructions;

public class MixtureTests
{
    private static readonly Dictionary<string, int> Sizes = new() { ["small"] = 100, ["medium"] = 1_000, ["huge"] = 100_000 };

    [Fact]
    public void Rates_are_proportional_to_sizes_capped_at_K()
    {
        var mixture = new ExamplesProportionalMixture(Sizes, cap: 500);

        // min(e, K) = 100, 500, 500 → 1/11, 5/11, 5/11: the huge task counts no more than the medium one.
        Assert.Equal(100.0 / 1100, mixture.Rates["small"], 12);
        Assert.Equal(500.0 / 1100, mixture.Rates["medium"], 12);
        Assert.Equal(500.0 / 1100, mixture.Rates["huge"], 12);
        Assert.Equal(1100, mixture.CappedTotal);
    }

    [Fact]
    public void Without_a_binding_cap_rates_follow_the_sizes()
    {
        var mixture = new ExamplesProportionalMixture(Sizes, cap: int.MaxValue);

        Assert.Equal(100.0 / 101_100, mixture.Rates["small"], 12);
        Assert.Equal(100_000.0 / 101_100, mixture.Rates["huge"], 12);
    }

    [Fact]
    public void Sampled_proportions_match_the_rates()
    {
        var mixture = new ExamplesProportionalMixture(Sizes, cap: 500);
        const int n = 22_000;

        var counts = mixture.Sample(n, seed: 1).GroupBy(d => d.Task).ToDictionary(g => g.Key, g => g.Count());

        foreach ((string task, double rate) in mixture.Rates)
        {
            double sd = Math.Sqrt(n * rate * (1 - rate));
            Assert.True(Math.Abs(counts[task] - (n * rate)) < 4 * sd, $"{task}: {counts[task]} draws, expected {n * rate:F0} ± {sd:F0}");
        }
    }

    [Fact]
    public void Within_a_task_examples_repeat_only_after_all_were_drawn()
    {
        var mixture = new ExamplesProportionalMixture(Sizes, cap: 500);

        var small = mixture.Sample(11_000, seed: 2).Where(d => d.Task == "small").Select(d => d.Index).ToList();

        Assert.True(small.Count >= 300, $"{small.Count} draws of the small task");
        for (int epoch = 0; (epoch + 1) * 100 <= small.Count; epoch++)
            Assert.Equal(Enumerable.Range(0, 100), small.Skip(epoch * 100).Take(100).Order());
        Assert.NotEqual(small.Take(100), small.Skip(100).Take(100)); // reshuffled each pass
        Assert.All(mixture.Sample(5_000, seed: 2).Where(d => d.Task == "huge"), d => Assert.InRange(d.Index, 0, 99_999));
    }

    [Fact]
    public void Sampling_is_deterministic_for_a_seed_and_independent_of_dictionary_order()
    {
        var reordered = new Dictionary<string, int> { ["huge"] = 100_000, ["small"] = 100, ["medium"] = 1_000, ["empty"] = 0 };

        var a = new ExamplesProportionalMixture(Sizes, 500).Sample(2_000, seed: 7);
        var b = new ExamplesProportionalMixture(reordered, 500).Sample(2_000, seed: 7);
        var c = new ExamplesProportionalMixture(Sizes, 500).Sample(2_000, seed: 8);

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Mix_returns_the_items_of_the_pools()
    {
        var pools = new Dictionary<string, IReadOnlyList<string>> { ["a"] = ["a0", "a1"], ["b"] = ["b0", "b1", "b2", "b3"] };

        var items = ExamplesProportionalMixture.Mix(pools, cap: 2, count: 400, seed: 3);

        Assert.Equal(400, items.Count);
        Assert.InRange(items.Count(i => i.StartsWith('a')), 150, 250); // cap 2: both tasks at rate 1/2
        Assert.Equal(["a0", "a1", "b0", "b1", "b2", "b3"], items.Distinct().Order(StringComparer.Ordinal));
    }
}
