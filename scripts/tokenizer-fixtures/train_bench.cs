#:project ../../src/Tailor/Tailor.csproj
#:property PublishAot=false
// Times BpeTrainer on a text file and reports seconds and peak working set.
// Usage: dotnet run -c Release scripts/tokenizer-fixtures/train_bench.cs -- CORPUS.txt [VOCAB] [OUT_FOLDER]
using System.Diagnostics;
using Tailor.Text;

string corpus = args.Length > 0 ? args[0] : throw new ArgumentException("usage: train_bench.cs CORPUS.txt [VOCAB] [OUT_FOLDER]");
int vocab = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 8192;
long bytes = new FileInfo(corpus).Length;

Stopwatch clock = Stopwatch.StartNew();
double countingSeconds = 0;
TextTokenizer tokenizer = BpeTrainer.Train(File.ReadLines(corpus), new BpeTrainerOptions(VocabSize: vocab), new Progress(p =>
{
    // The first report above 0 comes after the first merges, i.e. right after word counting.
    if (p > 0 && countingSeconds == 0)
        countingSeconds = clock.Elapsed.TotalSeconds;
}));
double seconds = clock.Elapsed.TotalSeconds;
Process self = Process.GetCurrentProcess();
self.Refresh();

Console.WriteLine($"input {bytes / 1e6:F1} MB ({bytes} bytes), vocab {tokenizer.VocabSize}, {Environment.ProcessorCount} cores");
Console.WriteLine($"train {seconds:F2} s (word counting ~{countingSeconds:F2} s), peak working set {self.PeakWorkingSet64 / (1024.0 * 1024.0):F0} MiB");

clock.Restart();
long tokens = 0;
foreach (string line in File.ReadLines(corpus))
    tokens += tokenizer.Encode(line).Count;
Console.WriteLine($"encode {clock.Elapsed.TotalSeconds:F2} s, {tokens} tokens ({bytes / (double)tokens:F2} bytes/token)");
if (args.Length > 2)
    tokenizer.Save(args[2]);

sealed class Progress(Action<double> report) : IProgress<double>
{
    public void Report(double value) => report(value);
}
