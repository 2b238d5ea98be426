using BenchmarkDotNet.Running;

// BenchmarkDotNet micro-benchmarks: `dotnet run -c Release --project bench/Tailor.Bench -- --filter '*'`.
// Whole-model speed (training tokens/s, MFU, decode tokens/s) is `./tailor bench`, which runs in one process.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
