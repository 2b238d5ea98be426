namespace Tailor.Evaluation.Statistics;

/// <summary>How bootstrap resampling is done.</summary>
/// <param name="Resamples">Number of resamples (1,000 as sacreBLEU's <c>--paired-bs-n</c>).</param>
/// <param name="Seed">Seed of the resampling; the same seed and data give the same replicates on every machine.</param>
/// <param name="Confidence">Coverage of the percentile interval (0.95).</param>
public sealed record BootstrapOptions(int Resamples = 1000, ulong Seed = 12345, double Confidence = 0.95)
{
    /// <summary>
    /// The fewest resamples allowed: with fewer than 100, each tail of a 95% percentile interval rests on two or three
    /// replicates and the interval is noise. The one valid range for every command (compare, run) and API caller.
    /// </summary>
    public const int MinResamples = 100;

    /// <summary>The most: a million replicates of every statistic already take minutes and tens of MB per comparison.</summary>
    public const int MaxResamples = 1_000_000;

    /// <summary>Refuses a resample count outside [<see cref="MinResamples"/>, <see cref="MaxResamples"/>], naming <paramref name="where"/>.</summary>
    public static void CheckResamples(int resamples, string where)
    {
        if (resamples is < MinResamples or > MaxResamples)
            throw new TailorException($"{where} = {resamples}: use {MinResamples:N0} to {MaxResamples:N0} resamples (1,000 is the default).");
    }

    /// <summary>Throws when the options cannot give an interval.</summary>
    public void Validate()
    {
        CheckResamples(Resamples, "resamples");
        if (!(Confidence > 0 && Confidence < 1))
            throw new ArgumentOutOfRangeException(nameof(Confidence), Confidence, "confidence must lie strictly between 0 and 1.");
    }
}

/// <summary>A statistic with its bootstrap percentile interval.</summary>
/// <param name="Value">The statistic on the observed data.</param>
/// <param name="Low">Lower end of the percentile interval.</param>
/// <param name="High">Upper end of the percentile interval.</param>
public readonly record struct Interval(double Value, double Low, double High)
{
    /// <summary>Whether the interval lies wholly above 0.</summary>
    public bool AboveZero => Low > 0;

    /// <summary>Whether the interval lies wholly below 0.</summary>
    public bool BelowZero => High < 0;
}

/// <summary>
/// The paired comparison of B with A on the same items: both scores, the difference B − A with its percentile interval,
/// and a two-sided p-value.
/// </summary>
/// <param name="A">A's score on the paired items.</param>
/// <param name="B">B's score on the paired items.</param>
/// <param name="Difference">B − A with its percentile interval.</param>
/// <param name="PValue">Two-sided p-value (see <see cref="Bootstrap.PValue"/>, or McNemar's exact test where <see cref="Test"/> says so).</param>
/// <param name="Units">Number of resampling units (paired items).</param>
/// <param name="Test">Which test gave <see cref="PValue"/>: <c>paired bootstrap</c> or <c>McNemar exact</c>.</param>
public sealed record PairedDifference(double A, double B, Interval Difference, double PValue, int Units, string Test);

/// <summary>
/// Per-unit sufficient statistics of one metric for one system, and the function that turns summed statistics into
/// the metric. A unit is whatever is resampled (a test item); a mean metric has rows <c>[value, 1]</c>, corpus BLEU has
/// sacreBLEU's <c>[sys_len, ref_len, correct_1..4, total_1..4]</c>, macro-F1 per-class TP/FP/FN counts. Summing the rows of a
/// resample and scoring the sum recomputes the corpus metric on that resample exactly.
/// </summary>
public sealed class UnitTable
{
    private readonly double[][] _rows;
    private readonly Func<double[], double> _score;

    /// <summary>Wraps <paramref name="rows"/> (one per unit, all the same length) and the scoring function.</summary>
    public UnitTable(double[][] rows, Func<double[], double> score)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(score);
        if (rows.Length == 0) throw new ArgumentException("a metric needs at least one unit.", nameof(rows));
        Width = rows[0].Length;
        foreach (var r in rows)
            if (r.Length != Width) throw new ArgumentException("every unit's statistics must have the same length.", nameof(rows));
        _rows = rows;
        _score = score;
    }

    /// <summary>Number of units.</summary>
    public int Count => _rows.Length;

    /// <summary>Length of each unit's statistics.</summary>
    public int Width { get; }

    /// <summary>The metric over all units.</summary>
    public double ScoreAll()
    {
        var sum = new double[Width];
        foreach (var r in _rows) Add(sum, r);
        return _score(sum);
    }

    /// <summary>The metric over a sample of unit indices (repeats count as often as they occur).</summary>
    public double Score(ReadOnlySpan<int> sample)
    {
        var sum = new double[Width];
        foreach (int i in sample) Add(sum, _rows[i]);
        return _score(sum);
    }

    /// <summary>The sub-table of the given units, in that order.</summary>
    public UnitTable Select(IReadOnlyList<int> units)
    {
        ArgumentNullException.ThrowIfNull(units);
        return new UnitTable([.. units.Select(i => _rows[i])], _score);
    }

    private static void Add(double[] sum, double[] row)
    {
        for (int j = 0; j < sum.Length; j++) sum[j] += row[j];
    }
}

/// <summary>
/// Seeded bootstrap resampling (Efron; paired as Koehn 2004 and sacreBLEU's <c>--paired-bs</c>): units are drawn with
/// replacement, the statistic is recomputed on each resample, and the percentile interval and p-value are read off the
/// replicates. Pure functions; the random stream is SplitMix64, so results do not depend on the .NET version.
/// </summary>
public static class Bootstrap
{
    /// <summary>
    /// Replicates of a statistic over independent groups of units: each resample draws, for every group g, as many unit
    /// indices as the group has (<c>groupSizes[g]</c>) uniformly with replacement, and calls <paramref name="statistic"/>
    /// with one index array per group. One group is the ordinary (paired) bootstrap; several groups resample, say, the
    /// items of several tasks independently.
    /// </summary>
    public static double[] Replicates(IReadOnlyList<int> groupSizes, BootstrapOptions options, Func<int[][], double> statistic)
    {
        ArgumentNullException.ThrowIfNull(groupSizes);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(statistic);
        options.Validate();
        foreach (int n in groupSizes)
            if (n <= 0) throw new ArgumentException("every group needs at least one unit.", nameof(groupSizes));
        var rng = new SplitMix64(options.Seed);
        var samples = groupSizes.Select(n => new int[n]).ToArray();
        var result = new double[options.Resamples];
        for (int r = 0; r < result.Length; r++)
        {
            for (int g = 0; g < samples.Length; g++)
            {
                int n = samples[g].Length;
                for (int i = 0; i < n; i++) samples[g][i] = rng.Next(n);
            }
            result[r] = statistic(samples);
        }
        return result;
    }

    /// <summary>
    /// The percentile interval of <paramref name="replicates"/>: with R sorted replicates and α = (1 − confidence)/2,
    /// the values at 0-based ranks ⌊R·α⌋ and R − ⌊R·α⌋ − 1 (for R = 1,000 at 95%: ranks 25 and 974, as sacreBLEU).
    /// </summary>
    public static (double Low, double High) Percentile(IReadOnlyList<double> replicates, double confidence)
    {
        ArgumentNullException.ThrowIfNull(replicates);
        if (replicates.Count == 0) throw new ArgumentException("no replicates.", nameof(replicates));
        double[] sorted = [.. replicates];
        Array.Sort(sorted);
        int lo = (int)Math.Floor(sorted.Length * (1 - confidence) / 2);
        return (sorted[lo], sorted[sorted.Length - lo - 1]);
    }

    /// <summary>
    /// Two-sided bootstrap p-value for "the difference is 0": twice the smaller share of replicates on either side of
    /// zero (ties count on both sides), with +1 smoothing so it is never 0:
    /// <c>p = min(1, 2·(1 + min(#{d ≤ 0}, #{d ≥ 0})) / (R + 1))</c>. It agrees with the percentile interval: at 95%
    /// the interval excludes 0 exactly when p is below about 0.05. Identical systems give p = 1.
    /// </summary>
    public static double PValue(IReadOnlyList<double> differences)
    {
        ArgumentNullException.ThrowIfNull(differences);
        if (differences.Count == 0) throw new ArgumentException("no replicates.", nameof(differences));
        int le = 0, ge = 0;
        foreach (double d in differences)
        {
            if (d <= 0) le++;
            if (d >= 0) ge++;
        }
        return Math.Min(1.0, 2.0 * (1 + Math.Min(le, ge)) / (differences.Count + 1));
    }

    /// <summary>A statistic of one system with its percentile interval over resampled units.</summary>
    public static Interval Score(UnitTable table, BootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(options);
        var reps = Replicates([table.Count], options, s => table.Score(s[0]));
        var (lo, hi) = Percentile(reps, options.Confidence);
        return new Interval(table.ScoreAll(), lo, hi);
    }

    /// <summary>
    /// Paired bootstrap of B − A: <paramref name="a"/> and <paramref name="b"/> hold the same units in the same order;
    /// each resample draws one set of unit indices and scores both systems on it (corpus metrics recomputed from summed
    /// statistics).
    /// </summary>
    public static PairedDifference Paired(UnitTable a, UnitTable b, BootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(options);
        if (a.Count != b.Count)
            throw new ArgumentException($"a has {a.Count} units but b has {b.Count}; a paired bootstrap needs the same units.", nameof(b));
        var diffs = Replicates([a.Count], options, s => b.Score(s[0]) - a.Score(s[0]));
        var (lo, hi) = Percentile(diffs, options.Confidence);
        double sa = a.ScoreAll(), sb = b.ScoreAll();
        return new PairedDifference(sa, sb, new Interval(sb - sa, lo, hi), PValue(diffs), a.Count, "paired bootstrap");
    }
}
