using BenchmarkDotNet.Running;

// BenchmarkDotNet micro-benchmarks: `dotnet run -c Release --project bench/Tailor.Bench -- --filter '*'`.
// Whole-model speed (training tokens/s, MFU, decode tokens/s) is `./tailor bench`, which runs in one process.
// `allreduce` times MPI_Allreduce on gradient-sized buckets under mpirun (bench/mpi-scaling.sh).
if (args.Length > 0 && args[0] == "allreduce") return Tailor.Bench.MpiAllReduce.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
