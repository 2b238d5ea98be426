using System.Diagnostics;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Training;
using TorchSharp;
using static TorchSharp.torch;


namespace Tailor.Recipes;

/// <summary>What <c>tailor bench</c> measured, all in one run so that ratios are meaningful on a noisy machine.</summary>
public sealed record BenchReport(
    double MatmulFp32Gflops,
    double MatmulBf16Gflops,
    IReadOnlyList<TrainBench> Training,
    IReadOnlyList<DecodeBench> Decoding,
    int Threads,
    string Device)
{
    /// <summary>With <c>--default-path</c>: the path auto chose ("training path: bf16 autocast, …"); else null.</summary>
    public string? TrainingPath { get; init; }
}

/// <summary>One training-step measurement.</summary>
public sealed record TrainBench(string Preset, string Precision, long Parameters, int Batch, int Sequence, double TokensPerSecond,
    double FlopsPerToken, double Mfu, TrainPhases? Phases = null);

/// <summary>
/// Where a training step's time went, in seconds per step: forward with the loss, backward, gradient clipping, the
/// AdamW update, and zeroing the gradients. On the CPU every op is synchronous, so the phases add up to the step.
/// </summary>
public sealed record TrainPhases(double Forward, double Backward, double Clip, double Optimizer, double ZeroGrad)
{
    /// <summary>The sum of the phases.</summary>
    public double Step => Forward + Backward + Clip + Optimizer + ZeroGrad;

    /// <summary>"forward 41% · backward 52% · …" for the log.</summary>
    public override string ToString() =>
        $"forward {Forward / Step:P0} · backward {Backward / Step:P0} · clip {Clip / Step:P0} · AdamW {Optimizer / Step:P0} · zero_grad {ZeroGrad / Step:P0} of {Step * 1000:F0} ms/step";
}

/// <summary>One decode measurement; Engine is "torch" (TextGenerator, a TorchSharp forward per token) or "cpu" (CpuDecoder).</summary>
public sealed record DecodeBench(string Preset, string DType, int PromptTokens, int NewTokens, double TokensPerSecond, string Engine = "torch");

/// <summary>
/// The benchmark recipe: matmul peak (fp32 and bf16), training step tokens/s for the small and base shapes (AdamW
/// included; fp32 and bf16 autocast), and batch-1 decode tokens/s with the KV cache. MFU is model FLOPs per second over
/// the measured matmul peak of the same precision.
/// </summary>
public static class Bench
{
    /// <summary>Runs the chosen sections (default all) at the chosen training precisions (default fp32 and bf16). <paramref name="quick"/> shortens each one (for CI smoke runs).</summary>
    public static BenchReport Run(Device device, bool quick, Action<string>? log = null, IReadOnlyCollection<string>? sections = null,
        IReadOnlyCollection<string>? precisions = null)
    {
        log ??= _ => { };
        sections ??= ["matmul", "train", "decode"];
        precisions ??= ["fp32", "bf16"];
        int square = quick ? 512 : 1536;
        // The peaks are needed for MFU, so they are measured whenever training is.
        double fp32 = 0, bf16 = 0;
        if (sections.Contains("matmul") || sections.Contains("train"))
        {
            fp32 = MatmulGflops(square, ScalarType.Float32, device, quick ? 0.3 : 1.5);
            log($"matmul {square}² fp32: {fp32:F0} GFLOP/s");
            bf16 = MatmulGflops(square, ScalarType.BFloat16, device, quick ? 0.3 : 1.5);
            log($"matmul {square}² bf16: {bf16:F0} GFLOP/s{(Tailor.Torch.Autocast.CpuHasNativeBf16 ? "" : " (no native bf16 on this CPU: emulated)")}");
        }

        var training = new List<TrainBench>();
        var decoding = new List<DecodeBench>();
        foreach (var (preset, vocab) in new[] { ("small", 8192), ("base", 8192) })   // the shipped models' vocabulary (and bench/pytorch's)
        {
            var config = LlamaConfig.Preset(preset, vocab);
            int batch = quick ? 2 : 16, seq = quick ? 64 : 256, steps = quick ? 2 : preset == "small" ? 6 : 3;
            foreach (string precision in sections.Contains("train") ? precisions : Array.Empty<string>())
            {
                if (precision == "bf16" && !Tailor.Torch.Autocast.CpuHasNativeBf16 && device.type == DeviceType.CPU)
                {
                    log($"train {preset} bf16: skipped, this CPU has no native bf16 (AVX-512 BF16/AMX); libtorch would emulate it");
                    continue;
                }
                var (tps, phases) = TrainTokensPerSecond(config, batch, seq, steps, device, precision == "bf16");
                double flops = FlopsPerToken(config, seq);
                double peak = precision == "bf16" ? bf16 : fp32;
                var t = new TrainBench(preset, precision, config.ParameterCount(), batch, seq, tps, flops, tps * flops / (peak * 1e9), phases);
                training.Add(t);
                log($"train {preset} {precision} ({t.Parameters / 1e6:F1}M, B={batch} T={seq}, AdamW): {tps:F0} tokens/s, " +
                    $"MFU {t.Mfu:P0} of the measured {precision} matmul peak");
                if (device.type == DeviceType.CPU) log($"  {phases}");
            }

            if (!sections.Contains("decode")) continue;
            int newTokens = quick ? 16 : 128;
            double dps = DecodeTokensPerSecond(config, 16, newTokens, device);
            decoding.Add(new DecodeBench(preset, "float32", 16, newTokens, dps));
            log($"decode {preset} fp32 (prompt 16, {newTokens} new, KV cache): {dps:F0} tokens/s");
            if (device.type != DeviceType.CPU) continue;
            double cps = DecodeTokensPerSecond(config, 16, newTokens, device, cpuDecoder: true);
            decoding.Add(new DecodeBench(preset, "float32", 16, newTokens, cps, "cpu"));
            log($"decode {preset} fp32 on CpuDecoder (no TorchSharp call per op): {cps:F0} tokens/s ({cps / dps:F1}x)");
        }
        return new BenchReport(fp32, bf16, training, decoding, get_num_threads(), device.ToString());
    }

    /// <summary>Model FLOPs per trained token (PaLM convention): 6·N(non-norm) + 12·L·d·T.</summary>
    public static double FlopsPerToken(LlamaConfig c, int sequence)
    {
        long norms = (2L * c.NumHiddenLayers + 1) * c.HiddenSize;
        return 6.0 * (c.ParameterCount() - norms) + 12.0 * c.NumHiddenLayers * c.HiddenSize * sequence;
    }

    /// <summary>Best-of-windows GFLOP/s of an n×n×n matmul in the given dtype.</summary>
    public static double MatmulGflops(int n, ScalarType dtype, Device device, double seconds)
    {
        using var scope = NewDisposeScope();
        var a = randn([n, n], dtype: dtype, device: device);
        var b = randn([n, n], dtype: dtype, device: device);
        var c = empty([n, n], dtype: dtype, device: device);
        for (int i = 0; i < 3; i++) MatmulInto(a, b, c);
        double best = 0;
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            var sw = Stopwatch.StartNew();
            int reps = 0;
            while (sw.Elapsed.TotalSeconds < seconds / 5)
            {
                MatmulInto(a, b, c);
                reps++;
            }
            Synchronize(device);
            best = Math.Max(best, 2.0 * n * n * n * reps / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    /// <summary>
    /// Tokens/s of full training steps (forward, loss, backward, clip, AdamW, zero_grad) after one warm-up step, and the
    /// mean time of each phase (meaningful on the CPU, where ops run synchronously).
    /// </summary>
    public static (double TokensPerSecond, TrainPhases Phases) TrainTokensPerSecond(LlamaConfig config, int batch, int seq, int steps, Device device, bool bf16 = false)
    {
        using var model = LlamaForCausalLM.FromConfig(config);
        model.to(device);
        using var opt = Optimizers.AdamW(model, 3e-4, 0.1);
        var gen = new TorchSharp.torch.Generator(0, device);
        using var ids = randint(0, config.VocabSize, [batch, seq + 1], dtype: ScalarType.Int64, device: device, generator: gen);
        using var x = ids.narrow(1, 0, seq);
        using var y = ids.narrow(1, 1, seq);
        Stopwatch? sw = null;
        var phase = new double[5];
        var lap = new Stopwatch();
        void Mark(int i, bool timed)
        {
            if (timed) phase[i] += lap.Elapsed.TotalSeconds;
            lap.Restart();
        }
        for (int step = -1; step < steps; step++)
        {
            if (step == 0) { Synchronize(device); sw = Stopwatch.StartNew(); }
            bool timed = step >= 0;
            using var scope = NewDisposeScope();
            lap.Restart();
            Tensor logits;
            using (Tailor.Torch.Autocast.Bf16(bf16)) logits = model.call(x).flatten(0, 1);    // (B·T, V)
            var loss = FusedCrossEntropy.Loss(logits, y.reshape(-1), 1.0 / logits.shape[0], out var gradient);   // as Pretrain
            Mark(0, timed);
            FusedCrossEntropy.Backward(logits, loss, gradient);
            Mark(1, timed);
            nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            Mark(2, timed);
            opt.step();
            Mark(3, timed);
            model.zero_grad();
            Mark(4, timed);
        }
        Synchronize(device);
        var phases = new TrainPhases(phase[0] / steps, phase[1] / steps, phase[2] / steps, phase[3] / steps, phase[4] / steps);
        return ((double)batch * seq * steps / sw!.Elapsed.TotalSeconds, phases);
    }

    /// <summary>Batch-1 greedy decode tokens/s with the KV cache, prefill included; on the TorchSharp path or on <see cref="CpuDecoder"/>.</summary>
    public static double DecodeTokensPerSecond(LlamaConfig config, int promptTokens, int newTokens, Device device, bool cpuDecoder = false)
    {
        using var model = LlamaForCausalLM.FromConfig(config);
        model.to(device);
        model.eval();
        var generator = new TextGenerator(model, _ => "", [], cpuDecoder ? new CpuDecoder(model) : null);
        var prompt = Enumerable.Range(0, promptTokens).Select(i => (i * 37 + 11) % config.VocabSize).ToArray();
        var options = new SamplingOptions { MaxNewTokens = newTokens, StopAtEos = false };
        generator.Generate(prompt, options with { MaxNewTokens = 4 });                          // warm-up
        var sw = Stopwatch.StartNew();
        var result = generator.Generate(prompt, options);
        return result.Ids.Count / sw.Elapsed.TotalSeconds;
    }

    private static void MatmulInto(Tensor a, Tensor b, Tensor c)
    {
        using var product = a.matmul(b);
        c.copy_(product);
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }
}
