// Batch-1 greedy decode tokens/s, Tailor against llama.cpp (LLamaSharp 0.30.0, CPU backend) on the same weights, in one
// process and one run, the engines interleaved round by round so that a noisy machine hits them alike.
//
//   bench/decode-vs-llamacpp.sh [--models shipped,m] [--threads N] [--rounds R] [--new-tokens N] [--processes P] [--json]
//
// --processes P runs the whole measurement in P fresh processes, one after another, and reports the spread of the
// per-process results: on VMs a process keeps one placement of each engine's weights in physical memory for all its
// rounds, and two placements can stream at speeds 1.5x apart, so one process is one draw.
//
// Models: "shipped" is models/tailor-base-small (6.9M, d 256); "m" is a random model of the "M" benchmark shape (29.5M:
// d 512, 8 layers, ff 1376, vocab 8192), made on the fly. Each is exported by `Export.Run` to GGUF f32 and f16.
// Engines: tailor-torch (TextGenerator: TorchSharp, fp32, KV cache), tailor-cpu (CpuDecoder: plain C#, f32 arithmetic,
// weights held in bf16 when that is exact, i.e. for bf16 checkpoints, and once more forced to f32),
// llama.cpp f32 and f16 (f16 KV cache, flash attention auto: llama.cpp's defaults). Time includes the 16-token prefill,
// as the project's decode measurements do. The ratio column is tokens/s over llama.cpp f32's in the same round, median over rounds.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Text;
using static TorchSharp.torch;

string[] models = ["shipped", "m"];
int threads = 2, rounds = 3, newTokens = 256, processes = 1;
bool json = false;
for (int i = 0; i < args.Length; i++)
{
    string option = args[i];
    if (option is "--models" or "--threads" or "--rounds" or "--new-tokens" or "--processes" && i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"{option} needs a value");
        return 2;
    }
    int? count = option is "--threads" or "--rounds" or "--new-tokens" or "--processes"
        ? (int.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 ? n : null)
        : 0;
    if (count is null)
    {
        Console.Error.WriteLine($"{option} takes a whole number of at least 1, not '{args[i]}'");
        return 2;
    }
    switch (option)
    {
        case "--models": models = args[++i].Split(','); break;
        case "--threads": threads = count.Value; break;
        case "--rounds": rounds = count.Value; break;
        case "--new-tokens": newTokens = count.Value; break;
        case "--processes": processes = count.Value; break;
        case "--json": json = true; break;
        default:
            Console.Error.WriteLine($"unknown option {option}; options: --models shipped,m --threads N --rounds R --new-tokens N --processes P --json");
            return 2;
    }
}
if (processes > 1)
{
    var childArgs = new List<string>();                                                  // the same options, for one process
    for (int i = 0; i < args.Length; i++)
    {
        if (args[i] == "--processes") i++;
        else if (args[i] != "--json") childArgs.Add(args[i]);
    }
    return Spread.Run(childArgs, processes, json);
}

string root = FindRoot();
string shipped = Path.Combine(root, "models", "tailor-base-small");
string temp = Directory.CreateTempSubdirectory("tailor-decode-bench-").FullName;
NativeLibraryConfig.All.WithLogCallback((level, message) => { });
set_num_threads(threads);
var results = new List<object>();
try
{
    foreach (string name in models)
    {
        string folder = name switch
        {
            "shipped" => shipped,
            "m" => MakeMShape(Path.Combine(temp, "m"), shipped),
            _ => throw new ArgumentException($"unknown model '{name}'; use shipped or m"),
        };
        foreach (string dtype in new[] { "f32", "f16" })
            Export.Run(folder, null, "gguf", Path.Combine(temp, $"{name}-{dtype}.gguf"), dtype);

        using var model = PretrainedModel.Load(folder);
        var tokenizer = model.Tokenizer;
        var prompt = tokenizer.Encode("The old house stood at the end of the road, and every night the lights in its windows").Take(16).ToArray();
        int capacity = Math.Min(prompt.Length + newTokens, model.Config.MaxPositionEmbeddings);
        int steps = capacity - prompt.Length;

        var llama = model.Model as LlamaForCausalLM
            ?? throw new Tailor.TailorException($"{folder}: CpuDecoder runs Llama/Qwen2 models only; this one is {model.Model.GetType().Name}.");
        var generator = model.CreateGenerator();
        var decoder = new CpuDecoder(llama, capacity: capacity, threads: threads);
        var decoderF32 = new CpuDecoder(llama, capacity: capacity, threads: threads, bf16Weights: false);
        using var llamaF32 = new LlamaEngine(Path.Combine(temp, $"{name}-f32.gguf"), capacity, threads);
        using var llamaF16 = new LlamaEngine(Path.Combine(temp, $"{name}-f16.gguf"), capacity, threads);
        var engines = new (string Name, Func<int, List<int>> Run)[]
        {
            ("tailor-torch fp32", n => [.. generator.Generate(prompt, new SamplingOptions { MaxNewTokens = n, StopAtEos = false }).Ids]),
            ($"tailor-cpu {(decoder.UsesBf16Weights ? "bf16" : "f32")} w", n => decoder.Greedy(prompt, n)),
            ("tailor-cpu f32 w", n => decoderF32.Greedy(prompt, n)),
            ("llama.cpp f32", n => llamaF32.Greedy(prompt, n)),
            ("llama.cpp f16", n => llamaF16.Greedy(prompt, n)),
        };

        const int Llama = 3;                                                                  // llama.cpp f32: the reference
        var outputs = engines.Select(e => e.Run(steps)).ToArray();                            // warm-up, and the tokens
        var speeds = engines.Select(_ => new List<double>()).ToArray();
        var ratios = engines.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < rounds; r++)
        {
            var round = new double[engines.Length];
            for (int e = 0; e < engines.Length; e++)
            {
                var sw = Stopwatch.StartNew();
                int count = engines[e].Run(steps).Count;
                round[e] = count / sw.Elapsed.TotalSeconds;
                speeds[e].Add(round[e]);
            }
            for (int e = 0; e < engines.Length; e++) ratios[e].Add(round[e] / round[Llama]);
            Console.Error.WriteLine($"{name} round {r + 1}/{rounds}: " + string.Join(", ", engines.Select((e, i) => $"{e.Name} {round[i]:F0}")));
        }

        Console.Error.WriteLine($"\n{name} ({llama.Config.ParameterCount() / 1e6:F1}M parameters), {threads} threads, prompt {prompt.Length}, {steps} new tokens; median of {rounds} rounds");
        Console.Error.WriteLine($"{"engine",-20} {"tokens/s",10} {"vs llama.cpp f32",18}  same greedy tokens as llama.cpp f32");
        for (int e = 0; e < engines.Length; e++)
        {
            bool same = outputs[e].SequenceEqual(outputs[Llama]);
            Console.Error.WriteLine($"{engines[e].Name,-20} {Median(speeds[e]),10:F0} {Median(ratios[e]),18:F2}  {(same ? "yes" : $"no (first {Agree(outputs[e], outputs[Llama])} agree)")}");
            results.Add(new { model = name, engine = engines[e].Name, threads, new_tokens = steps, tokens_per_second = Median(speeds[e]),
                ratio_to_llamacpp_f32 = Median(ratios[e]), same_tokens_as_llamacpp_f32 = same });
        }
        Console.Error.WriteLine();
    }
    if (json) Console.WriteLine(JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
    return 0;
}
finally
{
    Directory.Delete(temp, recursive: true);
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

static int Agree(List<int> a, List<int> b) => a.Zip(b).TakeWhile(p => p.First == p.Second).Count();

static string FindRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props"))) return dir.FullName;
    throw new InvalidOperationException("run from inside the Tailor repository");
}

// The M shape with random N(0, 0.02) weights, saved in bf16, and the shipped tokenizer: decode speed does not depend on the values.
static string MakeMShape(string folder, string shipped)
{
    var tokenizer = TextTokenizer.Load(shipped);
    var config = LlamaConfig.Create(tokenizer.VocabSize, hidden: 512, intermediate: 1376, layers: 8, heads: 8, maxPositions: 512);
    config.EosTokenId = [tokenizer.EosId!.Value];
    using var model = LlamaForCausalLM.FromConfig(config);
    ModelFolder.Save(folder, model, tokenizer, ScalarType.BFloat16);                      // as `pretrain ship` saves models
    return folder;
}

/// <summary>llama.cpp greedy decoding through LLamaSharp's low-level API (batch, decode, logits, argmax in C#).</summary>
internal sealed class LlamaEngine : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LLamaBatch _batch = new();

    public LlamaEngine(string path, int context, int threads)
    {
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)context,
            GpuLayerCount = 0,
            Threads = threads,
            BatchThreads = threads,
        };
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
    }

    public List<int> Greedy(IReadOnlyList<int> prompt, int count)
    {
        _context.NativeHandle.MemoryClear(true);
        _batch.Clear();
        for (int i = 0; i < prompt.Count; i++) _batch.Add(prompt[i], i, LLamaSeqId.Zero, logits: i == prompt.Count - 1);
        var output = new List<int>(count);
        int position = prompt.Count;
        while (true)
        {
            if (_context.Decode(_batch) != DecodeResult.Ok) throw new InvalidOperationException("llama.cpp decode failed");
            int next = Sampler.ArgMax(_context.NativeHandle.GetLogitsIth(_batch.TokenCount - 1));
            output.Add(next);
            if (output.Count == count) return output;
            _batch.Clear();
            _batch.Add(next, position++, LLamaSeqId.Zero, logits: true);
        }
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}

/// <summary>
/// --processes: the measurement run in fresh processes of this program (with --json), one after another, and the spread
/// of their medians: per engine its tokens/s, and per pair of engines at the same bytes per weight (CpuDecoder's
/// bf16-held weights against llama.cpp f16, its f32 against llama.cpp f32) the ratio within each process.
/// </summary>
internal static class Spread
{
    private static readonly (string Tailor, string Llama)[] SameBytes = [("tailor-cpu bf16 w", "llama.cpp f16"), ("tailor-cpu f32 w", "llama.cpp f32")];

    public static int Run(List<string> childArgs, int processes, bool json)
    {
        var runs = new List<List<Row>>();
        for (int p = 0; p < processes; p++)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(typeof(Spread).Assembly.Location);
            foreach (var a in childArgs) start.ArgumentList.Add(a);
            start.ArgumentList.Add("--json");
            using var child = Process.Start(start)!;
            var stderr = child.StandardError.ReadToEndAsync();
            string stdout = child.StandardOutput.ReadToEnd();
            child.WaitForExit();
            if (child.ExitCode != 0)
            {
                Console.Error.Write(stderr.Result);
                Console.Error.WriteLine($"process {p + 1}/{processes} failed with exit code {child.ExitCode}");
                return child.ExitCode;
            }
            var rows = JsonSerializer.Deserialize<List<Row>>(stdout, SnakeCase)!;
            runs.Add(rows);
            Console.Error.WriteLine($"process {p + 1}/{processes}: " + string.Join("; ", rows.GroupBy(r => r.Model).Select(g =>
                $"{g.Key} " + string.Join(", ", g.Select(r => $"{r.Engine} {r.TokensPerSecond:F0}")))));
        }
        var summary = new List<object>();
        foreach (var model in runs[0].Select(r => r.Model).Distinct())
        {
            var first = runs[0].First(r => r.Model == model);
            Console.Error.WriteLine($"\n{model}, {first.Threads} threads, {first.NewTokens} new tokens; {processes} processes, each the median of its rounds");
            Console.Error.WriteLine($"{"engine",-20} {"tokens/s min / median / max",30}  same greedy tokens as llama.cpp f32");
            foreach (var engine in runs[0].Where(r => r.Model == model).Select(r => r.Engine).Distinct())
            {
                var speeds = runs.Select(run => run.First(r => r.Model == model && r.Engine == engine).TokensPerSecond).ToList();
                bool same = runs.All(run => run.First(r => r.Model == model && r.Engine == engine).SameTokensAsLlamacppF32);
                Console.Error.WriteLine($"{engine,-20} {$"{speeds.Min():F0} / {Mid(speeds):F0} / {speeds.Max():F0}",30}  {(same ? "yes" : "no, in at least one process")}");
                summary.Add(new { model, engine, threads = first.Threads, processes, tokens_per_second = speeds, same_tokens_as_llamacpp_f32 = same });
            }
            Console.Error.WriteLine($"{"same bytes per weight",-38} {"ratio min / median / max",26}  processes ahead");
            foreach (var (tailor, llama) in SameBytes)
            {
                if (!runs[0].Any(r => r.Model == model && r.Engine == tailor)) continue;
                var ratios = runs.Select(run => run.First(r => r.Model == model && r.Engine == tailor).TokensPerSecond
                                              / run.First(r => r.Model == model && r.Engine == llama).TokensPerSecond).ToList();
                Console.Error.WriteLine($"{$"{tailor} / {llama}",-38} {$"{ratios.Min():F2} / {Mid(ratios):F2} / {ratios.Max():F2}",26}  {ratios.Count(r => r >= 1)} of {processes}");
                summary.Add(new { model, pair = $"{tailor} / {llama}", threads = first.Threads, processes, ratios });
            }
        }
        Console.Error.WriteLine();
        if (json) Console.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static double Mid(List<double> values)
    {
        var sorted = values.Order().ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record Row(string Model, string Engine, int Threads, int NewTokens, double TokensPerSecond, bool SameTokensAsLlamacppF32);
}
