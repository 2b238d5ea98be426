namespace Tailor.Training;

/// <summary>Seeds that are pure functions of (run seed, step, micro-batch), so a resumed run repeats the uninterrupted one.</summary>
public static class Seeds
{
    /// <summary>Seed of micro-batch <paramref name="micro"/> of step <paramref name="step"/>: a pure function, so resume repeats it.</summary>
    public static int BatchSeed(long seed, long step, int micro)
    {
        ulong h = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)step * 0xC2B2AE3D27D4EB4FUL ^ (ulong)micro * 0x165667B19E3779F9UL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 32;
        return (int)(h & 0x7FFFFFFF);
    }

    /// <summary>A seeded permutation of 0..<paramref name="n"/>-1 for epoch <paramref name="epoch"/>: a pure function, so resume repeats it.</summary>
    public static int[] Permutation(int n, long seed, long epoch)
    {
        var random = new Random(BatchSeed(seed, epoch, 7));
        int[] order = [.. Enumerable.Range(0, n)];
        random.Shuffle(order);
        return order;
    }
}
