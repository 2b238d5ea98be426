using System.Text.Json;
using Tailor.Recipes;
using Tailor.Torch;
using Tailor.Training;

namespace Tailor.Cli.Commands;

/// <summary>`tailor bench`: matmul peak, training tokens/s and MFU, decode tokens/s, in one run.</summary>
public sealed class BenchCommand : Command
{
    public override string Name => "bench";

    public override string Summary => "measure matmul peak, training tokens/s (MFU) and decode tokens/s on this machine";

    private static readonly OptionSpec[] Specs =
    [
        new("--quick", null, "short runs with small batches (a smoke test, not a measurement)"),
        new("--json", null, "print the report as JSON on stdout"),
        new("--only", "SECTIONS", "comma-separated subset of matmul,train,decode (default: all)"),
        new("--precision", "P", "training precisions to measure: fp32, bf16 or both (default: both)"),
        new("--mkl-avx512", null, "AMD CPUs: let the bundled oneMKL use its AVX-512 kernels first (see pretrain's mkl_avx512)"),
        new("--malloc-tuning", null, "keep large blocks in glibc's heap first (see pretrain's malloc_tuning)"),
        .. CommandLine.RuntimeOptions,
    ];

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor bench [--quick] [--json] [--only SECTIONS] [--precision fp32|bf16|both] [--mkl-avx512] [--malloc-tuning] [--device cpu|cuda] [--threads N]",
            "Measures, in one run: fp32/bf16 matmul peak; training step tokens/s for the small (~6M) and base (~17M)\n" +
            "shapes with AdamW (batch 16 x 256 tokens), fp32 and bf16 autocast, with model-FLOPs utilisation against\n" +
            "the measured matmul peak of the same precision;\n" +
            "and batch-1 decode tokens/s with the KV cache, on the TorchSharp path and on Tailor's CpuDecoder.\n" +
            "Ratios are meaningful within one run only. Decode against llama.cpp: bench/decode-vs-llamacpp.sh;\n" +
            "training against PyTorch: bench/compare-pytorch.sh.", Specs);
        if (cl is null) return 0;
        var device = TorchRuntime.SelectDevice(cl.String("--device", "cpu")!);
        TorchRuntime.SetThreads(cl.IntOrNull("--threads", 1));
        bool json = cl.Flag("--json");
        Action<string> log = line => (json ? Console.Error : Console.Out).WriteLine(line);
        string precision = cl.String("--precision", "both")!;
        if (precision is not ("fp32" or "bf16" or "both")) throw new UsageException($"--precision {precision}: expected fp32, bf16 or both.");
        string[] all = ["matmul", "train", "decode"];
        var sections = RecipeOptions.List(cl.String("--only") ?? string.Join(',', all));
        foreach (string s in sections)
            if (!all.Contains(s)) throw new UsageException($"--only {s}: expected a comma-separated subset of {string.Join(",", all)}.");
        string[] precisions = precision == "both" ? ["fp32", "bf16"] : [precision];
        // The benchmark measures each path as asked, so it applies the speed-ups only when named (no auto here).
        if (device.type == TorchSharp.DeviceType.CPU && cl.Flag("--mkl-avx512")) log(CpuTuning.EnableMklAvx512());
        if (device.type == TorchSharp.DeviceType.CPU && cl.Flag("--malloc-tuning")) log(CpuTuning.TuneMalloc());
        var report = Bench.Run(device, cl.Flag("--quick"), log, sections, precisions);
        if (json) Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}
