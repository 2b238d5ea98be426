namespace Tailor.Evaluation.Statistics;

/// <summary>The outcome of an exact McNemar test on paired binary outcomes (say, item correct under model A and B).</summary>
/// <param name="Both">Pairs where both are right.</param>
/// <param name="OnlyA">Discordant pairs where only A is right (b in the usual 2×2 table).</param>
/// <param name="OnlyB">Discordant pairs where only B is right (c).</param>
/// <param name="Neither">Pairs where both are wrong.</param>
/// <param name="PValue">Two-sided exact p-value.</param>
public sealed record McNemarResult(int Both, int OnlyA, int OnlyB, int Neither, double PValue)
{
    /// <summary>Number of pairs.</summary>
    public int Pairs => Both + OnlyA + OnlyB + Neither;

    /// <summary>Accuracy of B minus accuracy of A: (c − b) / pairs.</summary>
    public double Difference => Pairs == 0 ? 0 : (double)(OnlyB - OnlyA) / Pairs;
}

/// <summary>
/// McNemar's exact test: under the null hypothesis that A and B are equally accurate, each of the n = b + c discordant
/// pairs falls on either side with probability ½, so b ~ Binomial(n, ½). The two-sided p-value is
/// <c>min(1, 2·P(X ≤ min(b, c)))</c>, as statsmodels' <c>mcnemar(table, exact=True)</c> computes it; n = 0 gives 1.
/// </summary>
public static class McNemar
{
    /// <summary>The exact test from the discordant counts.</summary>
    /// <param name="onlyA">b: pairs where only A is right.</param>
    /// <param name="onlyB">c: pairs where only B is right.</param>
    public static double ExactPValue(int onlyA, int onlyB)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(onlyA);
        ArgumentOutOfRangeException.ThrowIfNegative(onlyB);
        int n = onlyA + onlyB;
        if (n == 0) return 1.0;
        return Math.Min(1.0, 2.0 * BinomialHalfCdf(Math.Min(onlyA, onlyB), n));
    }

    /// <summary>The exact test on aligned per-item outcomes of A and B.</summary>
    public static McNemarResult Test(IReadOnlyList<bool> a, IReadOnlyList<bool> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count)
            throw new ArgumentException($"a has {a.Count} outcomes but b has {b.Count}; McNemar needs one pair per item.", nameof(b));
        int both = 0, onlyA = 0, onlyB = 0, neither = 0;
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] && b[i]) both++;
            else if (a[i]) onlyA++;
            else if (b[i]) onlyB++;
            else neither++;
        }
        return new McNemarResult(both, onlyA, onlyB, neither, ExactPValue(onlyA, onlyB));
    }

    /// <summary>P(X ≤ k) for X ~ Binomial(n, ½), summed in log space so n in the tens of thousands stays exact to ~1e-12.</summary>
    internal static double BinomialHalfCdf(int k, int n)
    {
        if (k >= n) return 1.0;
        // log C(n, i) built up term by term; log-sum-exp over i = 0..k, then subtract n·log 2.
        double logC = 0, logSum = 0;   // i = 0: C(n, 0) = 1
        for (int i = 1; i <= k; i++)
        {
            logC += Math.Log((double)(n - i + 1) / i);
            logSum = logSum >= logC
                ? logSum + double.LogP1(Math.Exp(logC - logSum))
                : logC + double.LogP1(Math.Exp(logSum - logC));
        }
        return Math.Min(1.0, Math.Exp(logSum - n * Math.Log(2)));
    }
}
