using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Training;

/// <summary>Optimizer construction and the learning-rate schedule, as pure as TorchSharp allows.</summary>
public static class Optimizers
{
    /// <summary>
    /// AdamW with two groups: matrices (embeddings, projections) decay; vectors (norm weights, biases) do not, as in
    /// nanoGPT's configure_optimizers. Frozen parameters (requires_grad false, e.g. a LoRA base) are left out.
    /// Matrices in <paramref name="noDecay"/> do not decay either (an embedding of which only some rows train: decay
    /// would shrink the frozen rows too).
    /// </summary>
    public static AdamW AdamW(nn.Module model, double lr, double weightDecay, double beta1 = 0.9, double beta2 = 0.95,
        double eps = 1e-8, IReadOnlyCollection<Parameter>? noDecay = null)
    {
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        bool Exempt(Parameter p) => noDecay is not null && noDecay.Any(n => ReferenceEquals(n, p));
        var decay = trainable.Where(p => p.dim() >= 2 && !Exempt(p)).ToList();
        var noDecayGroup = trainable.Where(p => p.dim() < 2 || Exempt(p)).ToList();
        var groups = new List<TorchSharp.Modules.AdamW.ParamGroup>();
        if (decay.Count > 0) groups.Add(new(decay, lr, beta1, beta2, eps, weightDecay, false, false));
        if (noDecayGroup.Count > 0) groups.Add(new(noDecayGroup, lr, beta1, beta2, eps, 0.0, false, false));
        if (groups.Count == 0) throw new TailorException("the model has no trainable parameters; nothing to optimise.");
        return optim.AdamW(groups, lr, beta1, beta2, eps, weightDecay);
    }

    /// <summary>Sets every group's learning rate (called each step with the schedule's value).</summary>
    public static void SetLearningRate(optim.Optimizer optimizer, double lr)
    {
        foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
    }

    /// <summary>
    /// Linear warm-up from 0 to <paramref name="maxLr"/> over <paramref name="warmup"/> steps, then cosine decay to
    /// <paramref name="minLr"/> at <paramref name="total"/> steps, flat afterwards. <paramref name="step"/> counts from 0.
    /// </summary>
    public static double CosineWithWarmup(long step, long warmup, long total, double maxLr, double minLr)
    {
        if (warmup > 0 && step < warmup) return maxLr * (step + 1) / warmup;
        if (step >= total) return minLr;
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);  // 0 → 1
        return minLr + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (maxLr - minLr);
    }

    /// <summary>
    /// Warmup-stable-decay: linear warm-up from 0 to <paramref name="maxLr"/> over <paramref name="warmup"/> steps, constant
    /// <paramref name="maxLr"/>, then a linear decay to <paramref name="minLr"/> over the last <paramref name="decay"/> steps
    /// before <paramref name="total"/>, flat afterwards (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training
    /// Beyond Fixed Training Durations"). Only the decay depends on <paramref name="total"/>, so a long run can be ended
    /// sooner by lowering it while the rate is still constant.
    /// </summary>
    public static double WarmupStableDecay(long step, long warmup, long total, long decay, double maxLr, double minLr)
    {
        if (warmup > 0 && step < warmup) return maxLr * (step + 1) / warmup;
        if (step >= total) return minLr;
        long decayStart = Math.Max(warmup, total - decay);
        if (step < decayStart) return maxLr;
        double progress = (double)(step - decayStart) / Math.Max(1, total - decayStart);  // 0 → 1
        return maxLr + progress * (minLr - maxLr);
    }
}
