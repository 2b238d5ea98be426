namespace Tailor.Evaluation.Statistics;

/// <summary>
/// Holm's step-down adjustment (Holm 1979) of m p-values for the family-wise error rate: sort them ascending,
/// p(1) ≤ … ≤ p(m); the adjusted value of the i-th is max over j ≤ i of min(1, (m − j + 1)·p(j)). Rejecting where the
/// adjusted value is below α controls the chance of any false rejection at α, with no assumption about how the tests
/// depend on each other. The same numbers as statsmodels' <c>multipletests(p, method="holm")</c>. Pure function.
/// </summary>
public static class Holm
{
    /// <summary>The adjusted p-values, in the order of <paramref name="pValues"/>. NaN inputs stay NaN and do not count in m.</summary>
    public static double[] Adjust(IReadOnlyList<double> pValues)
    {
        ArgumentNullException.ThrowIfNull(pValues);
        var result = new double[pValues.Count];
        var order = Enumerable.Range(0, pValues.Count).Where(i => !double.IsNaN(pValues[i]))
            .OrderBy(i => pValues[i]).ThenBy(i => i).ToList();
        for (int i = 0; i < pValues.Count; i++) result[i] = double.NaN;
        int m = order.Count;
        double running = 0;
        for (int k = 0; k < m; k++)
        {
            double p = pValues[order[k]];
            if (p < 0 || p > 1) throw new ArgumentOutOfRangeException(nameof(pValues), p, "p-values lie in [0, 1].");
            running = Math.Max(running, Math.Min(1.0, (m - k) * p));
            result[order[k]] = running;
        }
        return result;
    }
}
