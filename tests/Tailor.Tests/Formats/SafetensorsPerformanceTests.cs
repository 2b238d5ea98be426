using System.Diagnostics;
using Tailor.Formats;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Tailor.Tests.Formats;

/// <summary>
/// Loading a 30M-parameter f32 checkpoint (~122 MB) from the page cache must take well under a second. The bound
/// asserted here is loose (the test machine is shared); the measured times go to the test output.
/// </summary>
[Collection("TorchSharp")]
public class SafetensorsPerformanceTests(ITestOutputHelper output)
{
    private const double LoadBudgetMs = 1000;

    // A Llama-like layout: 32768 × 512 embedding, 4 layers of attention (4 × 512²) and MLP (3 × 512 × 1536), norms.
    private static Dictionary<string, long[]> Shapes()
    {
        var shapes = new Dictionary<string, long[]> { ["embed_tokens"] = [32768, 512], ["norm"] = [512] };
        for (int layer = 0; layer < 4; layer++)
        {
            foreach (string projection in new[] { "q", "k", "v", "o" })
                shapes[$"layer{layer}_{projection}_proj"] = [512, 512];
            shapes[$"layer{layer}_gate_proj"] = [1536, 512];
            shapes[$"layer{layer}_up_proj"] = [1536, 512];
            shapes[$"layer{layer}_down_proj"] = [512, 1536];
            shapes[$"layer{layer}_input_norm"] = [512];
            shapes[$"layer{layer}_post_norm"] = [512];
        }

        return shapes;
    }

    private sealed class FlatModel : nn.Module
    {
        public FlatModel(Dictionary<string, long[]> shapes)
            : base(nameof(FlatModel))
        {
            foreach ((string name, long[] shape) in shapes)
                register_parameter(name, new Parameter(torch.zeros(shape)));
        }
    }

    [Fact]
    public void Loading_a_30M_parameter_checkpoint_from_page_cache_takes_well_under_a_second()
    {
        using var temp = new TempFolder();
        string path = temp.File("model.safetensors");
        Dictionary<string, long[]> shapes = Shapes();
        long parameters = shapes.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b));
        Assert.InRange(parameters, 30_000_000, 31_000_000);

        double saveMs;
        using (DisposeScope scope = torch.NewDisposeScope())
        {
            torch.manual_seed(7);
            Dictionary<string, Tensor> tensors = shapes.ToDictionary(p => p.Key, p => torch.randn(p.Value));
            var watch = Stopwatch.StartNew();
            Safetensors.Save(path, tensors, new SafetensorsWriteOptions { FlushToDisk = false });
            saveMs = watch.Elapsed.TotalMilliseconds;
        }

        long bytes = new FileInfo(path).Length;
        File.ReadAllBytes(path); // make sure the file is in the page cache

        double mapped = Best(() =>
        {
            using DisposeScope scope = torch.NewDisposeScope();
            Safetensors.Load(path, new SafetensorsReadOptions { Mode = SafetensorsReadMode.MemoryMapped });
        });
        double streamed = Best(() =>
        {
            using DisposeScope scope = torch.NewDisposeScope();
            Safetensors.Load(path, new SafetensorsReadOptions { Mode = SafetensorsReadMode.Streamed });
        });

        using var model = new FlatModel(shapes);
        string folder = temp.Path;
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), "{}");
        double loadInto = Best(() => HfCheckpoint.LoadInto(model, folder));

        using (torch.NewDisposeScope())
        {
            Tensor first = model.state_dict()["embed_tokens"];
            Tensor reread = Safetensors.Load(path)["embed_tokens"];
            Assert.True(first.Equals(reread), "LoadInto must fill the parameters with the file's values");
        }

        output.WriteLine($"{parameters:N0} parameters, {bytes / 1e6:F1} MB f32; save (no fsync) {saveMs:F0} ms");
        output.WriteLine($"load, memory-mapped: {mapped:F0} ms ({bytes / 1e6 / (mapped / 1000):F0} MB/s)");
        output.WriteLine($"load, streamed:      {streamed:F0} ms ({bytes / 1e6 / (streamed / 1000):F0} MB/s)");
        output.WriteLine($"LoadInto module:     {loadInto:F0} ms ({bytes / 1e6 / (loadInto / 1000):F0} MB/s)");
        Assert.True(mapped < LoadBudgetMs, $"memory-mapped load took {mapped:F0} ms");
        Assert.True(streamed < LoadBudgetMs, $"streamed load took {streamed:F0} ms");
        Assert.True(loadInto < LoadBudgetMs, $"LoadInto took {loadInto:F0} ms");
    }

    /// <summary>Best of five runs, in milliseconds (the first run also warms up).</summary>
    private static double Best(Action action)
    {
        double best = double.MaxValue;
        for (int run = 0; run < 5; run++)
        {
            var watch = Stopwatch.StartNew();
            action();
            best = Math.Min(best, watch.Elapsed.TotalMilliseconds);
        }

        return best;
    }
}
