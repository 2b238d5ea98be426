using System.Diagnostics;
using System.Globalization;
using Tailor.Distributed;
using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Bench;

/// <summary>
/// Times MPI_Allreduce on flat float32 buckets the size of each preset's gradients (what one data-parallel training
/// step sends), under the launcher it runs in: <c>mpirun -np 2 dotnet Tailor.Bench.dll allreduce [vocab]</c>
/// (bench/mpi-scaling.sh does it). Rank 0 prints one line per preset: bucket MB, median and min milliseconds.
/// </summary>
internal static class MpiAllReduce
{
    public static int Run(string[] args)
    {
        int vocab = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 8000;
        var group = ProcessGroups.Current;
        foreach (string preset in new[] { "tiny", "small", "base" })
        {
            long n = LlamaConfig.Preset(preset, vocab).ParameterCount();
            using var bucket = ones(n, ScalarType.Float32);
            var times = new List<double>();
            for (int i = 0; i < 25; i++)
            {
                group.Barrier();
                var clock = Stopwatch.StartNew();
                group.AllReduceSum(bucket);
                if (i >= 5) times.Add(clock.Elapsed.TotalMilliseconds);   // 5 warm-up calls open the connections
            }
            times.Sort();
            if (group.Rank == 0)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"allreduce {preset,-5} vocab {vocab}: {n:N0} floats = {n * 4 / 1e6:F1} MB over {group.Size} ranks: median {times[times.Count / 2]:F2} ms, min {times[0]:F2} ms"));
        }
        return 0;
    }
}
