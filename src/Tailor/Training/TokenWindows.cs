using Tailor.Data;
using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Training;

/// <summary>
/// Windows of a token file for pre-training: seeded random training windows, and the fixed, evenly spaced validation
/// windows whose mean next-token loss every measurement (and every model card) reports.
/// </summary>
public static class TokenWindows
{
    /// <summary>
    /// Fills <paramref name="ids"/> with <paramref name="batch"/> random windows of sequence + 1 tokens, after passing
    /// over the first <paramref name="skip"/> windows of the same draw (another rank's share of the global batch).
    /// </summary>
    public static void FillRandom(TokenFile file, long[] ids, int batch, int sequence, int seed, int skip = 0)
    {
        var random = new Random(seed);
        for (int b = 0; b < skip; b++) random.NextInt64(0, file.Count - sequence - 1);
        for (int b = 0; b < batch; b++)
        {
            long start = random.NextInt64(0, file.Count - sequence - 1);
            file.Read(start, ids.AsSpan(b * (sequence + 1), sequence + 1));
        }
    }

    /// <summary>Mean next-token loss over <paramref name="windows"/> evenly spaced windows (the same ones every time).</summary>
    public static double MeanLoss(CausalLM model, TokenFile file, int sequence, int windows, int batch, Device device)
    {
        int t = (int)Math.Min(sequence, file.Count - 1);
        long span = file.Count - t - 1;
        int n = (int)Math.Max(1, Math.Min(windows, span + 1));
        var starts = Enumerable.Range(0, n).Select(i => n == 1 ? 0 : i * span / (n - 1)).ToArray();
        double total = 0;
        bool wasTraining = model.training;
        model.eval();
        using (no_grad())
        {
            for (int i = 0; i < n; i += batch)
            {
                int rows = Math.Min(batch, n - i);
                var ids = new long[rows * (t + 1)];
                for (int r = 0; r < rows; r++) file.Read(starts[i + r], ids.AsSpan(r * (t + 1), t + 1));
                using var scope = NewDisposeScope();
                var all = tensor(ids, [rows, t + 1], device: device);
                var logits = model.call(all.narrow(1, 0, t));
                var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), all.narrow(1, 1, t).reshape(-1));
                total += loss.item<float>() * rows;
            }
        }
        if (wasTraining) model.train();
        return total / n;
    }
}
