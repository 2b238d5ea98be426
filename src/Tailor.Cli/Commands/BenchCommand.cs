using System.Text.Json;
using Tailor.Recipes;
using Tailor.Torch;

namespace Tailor.Cli.Commands;

/// <summary>`tailor bench`: matmul peak, training tokens/s and MFU, decode tokens/s, in one run.</summary>
public sealed class BenchCommand : Command
{
    public override string Name => "bench";

    public override string Summary => "measure matmul peak, training tokens/s (MFU) and decode tokens/s on this machine";

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor bench [--quick] [--json] [--only SECTIONS] [--precision fp32|bf16|both] [--mkl-avx512] [--malloc-tuning] [--default-path] [--device cpu|cuda] [--threads N]",
            "Measures, in one run: fp32/bf16 matmul peak; training step tokens/s for the small (~6M) and base (~17M)\n" +
            "shapes with AdamW (batch 16 x 256 tokens), fp32 and bf16 autocast, with model-FLOPs utilisation against\n" +
            "the measured matmul peak of the same precision;\n" +
            "and batch-1 decode tokens/s with the KV cache, on the TorchSharp path and on Tailor's CpuDecoder.\n" +
            "Ratios are meaningful within one run only. Decode against llama.cpp: bench/decode-vs-llamacpp.sh;\n" +
            "training against PyTorch: bench/compare-pytorch.sh.", RecipeCommandLine.Specs<BenchOptions>());
        if (cl is null) return 0;
        var o = RecipeCommandLine.Load(cl, new BenchOptions());
        RecipeCommandLine.Validate<BenchOptions>(o.Validate);
        var device = TorchRuntime.SelectDevice(o.Runtime.Device);
        TorchRuntime.SetThreads(o.Runtime.Threads);
        bool json = o.Json;
        Action<string> log = line => (json ? Console.Error : Console.Out).WriteLine(line);
        // The benchmark measures each path as asked, so it applies the speed-ups only when named, or all of them on auto
        // with --default-path (what the training recipes do).
        var precisions = o.Precisions();
        string? pathName = null;
        if (o.DefaultPath)
        {
            var path = CpuTuning.Choose(new CpuSpeedOptions(), device, log);
            precisions = [path.Bf16 ? "bf16" : "fp32"];
            pathName = path.Description;
        }
        else
        {
            if (device.type == TorchSharp.DeviceType.CPU && o.MklAvx512) log(CpuTuning.EnableMklAvx512());
            if (device.type == TorchSharp.DeviceType.CPU && o.MallocTuning) log(CpuTuning.TuneMalloc());
        }
        var report = Bench.Run(device, o.Quick, log, o.Sections(), precisions) with { TrainingPath = pathName };
        if (json) Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}
