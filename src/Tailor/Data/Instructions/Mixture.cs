namespace Tailor.Data.Instructions;

/// <summary>One draw of a mixture: a task and an index into that task's examples.</summary>
public readonly record struct MixtureDraw(string Task, int Index);

/// <summary>
/// Examples-proportional mixing with a size cap (T5, Raffel et al. 2020, §3.5.2; used by FLAN): each draw picks task m
/// with probability min(e_m, K) / Σ_n min(e_n, K), where e_m is the task's number of examples and K the cap, so a huge
/// task cannot drown the small ones. Within a task, examples are drawn without replacement in a seeded order and
/// reshuffled when used up. Everything depends only on (sizes, cap, seed, count).
/// </summary>
public sealed class ExamplesProportionalMixture
{
    private readonly string[] _tasks;
    private readonly int[] _sizes;
    private readonly long[] _weights;

    /// <summary>Creates the mixture.</summary>
    /// <param name="sizes">Examples per task; tasks with none are left out.</param>
    /// <param name="cap">K, the most examples a task counts as having.</param>
    /// <exception cref="ArgumentException">No task has examples, or a size is negative.</exception>
    public ExamplesProportionalMixture(IEnumerable<KeyValuePair<string, int>> sizes, int cap)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentOutOfRangeException.ThrowIfLessThan(cap, 1);
        // Ordinal order, so a dictionary's enumeration order cannot change the draws.
        var tasks = sizes.Where(kv => kv.Value != 0).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        if (tasks.Any(kv => kv.Value < 0)) throw new ArgumentException("task sizes must not be negative", nameof(sizes));
        if (tasks.Length == 0) throw new ArgumentException("no task has examples", nameof(sizes));
        _tasks = [.. tasks.Select(kv => kv.Key)];
        _sizes = [.. tasks.Select(kv => kv.Value)];
        _weights = [.. _sizes.Select(s => (long)Math.Min(s, cap))];
        Cap = cap;
        Rates = _tasks.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => (double)_weights[x.i] / _weights.Sum(), StringComparer.Ordinal);
    }

    /// <summary>K.</summary>
    public int Cap { get; }

    /// <summary>Probability of each task per draw.</summary>
    public IReadOnlyDictionary<string, double> Rates { get; }

    /// <summary>Σ min(e_m, K): the natural number of draws for one pass over the (capped) mixture.</summary>
    public long CappedTotal => _weights.Sum();

    /// <summary>Draws <paramref name="count"/> (task, index) pairs.</summary>
    public IReadOnlyList<MixtureDraw> Sample(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        SplitMix64 pick = new(StableHash.Mix((ulong)(uint)seed) ^ 0x6D69787475726521UL);
        long total = _weights.Sum();
        var orders = new int[_tasks.Length][];
        var next = new int[_tasks.Length];
        var epoch = new int[_tasks.Length];
        List<MixtureDraw> draws = new(count);
        for (int n = 0; n < count; n++)
        {
            long r = pick.NextByModulo(total);
            int m = 0;
            while (r >= _weights[m])
            {
                r -= _weights[m];
                m++;
            }

            if (orders[m] is null || next[m] == _sizes[m])
            {
                orders[m] = Permutation(_sizes[m], seed, _tasks[m], epoch[m]++);
                next[m] = 0;
            }

            draws.Add(new MixtureDraw(_tasks[m], orders[m][next[m]++]));
        }

        return draws;
    }

    /// <summary>Draws <paramref name="count"/> items from per-task pools with <paramref name="cap"/> (see the class).</summary>
    public static IReadOnlyList<T> Mix<T>(IReadOnlyDictionary<string, IReadOnlyList<T>> pools, int cap, int count, int seed)
    {
        ArgumentNullException.ThrowIfNull(pools);
        var mixture = new ExamplesProportionalMixture(pools.Select(kv => KeyValuePair.Create(kv.Key, kv.Value.Count)), cap);
        return [.. mixture.Sample(count, seed).Select(d => pools[d.Task][d.Index])];
    }

    private static int[] Permutation(int n, int seed, string task, int epoch)
    {
        SplitMix64 random = new(StableHash.Mix(StableHash.Of(task) ^ StableHash.Mix(((ulong)(uint)seed << 32) | (uint)epoch)));
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)random.NextByModulo(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }
}
