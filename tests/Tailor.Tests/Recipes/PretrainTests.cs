using System.Diagnostics;
using System.Text.Json.Nodes;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Training;

namespace Tailor.Tests.Recipes;

[Collection("TorchSharp")]
public sealed class PretrainTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-pretrain-").FullName;

    /// <summary>A small deterministic corpus: the mechanism is under test here, not the language.</summary>
    internal static string WriteCorpus(string dir)
    {
        string[] subjects = ["the cat", "a dog", "my friend", "the old man", "every child", "the river"];
        string[] verbs = ["sees", "likes", "follows", "remembers", "paints", "crosses"];
        string[] objects = ["the hill", "a red ball", "the quiet town", "an open door", "the morning sun", "a long road"];
        var random = new Random(5);
        string corpus = Path.Combine(dir, "corpus");
        Directory.CreateDirectory(corpus);
        foreach (var (file, count) in new[] { ("train.jsonl", 400), ("valid.jsonl", 40) })
        {
            using var w = new StreamWriter(Path.Combine(corpus, file));
            for (int i = 0; i < count; i++)
            {
                var sentences = Enumerable.Range(0, 3).Select(_ =>
                    $"{subjects[random.Next(subjects.Length)]} {verbs[random.Next(verbs.Length)]} {objects[random.Next(objects.Length)]}.");
                w.WriteLine(new JsonObject { ["source"] = i % 2 == 0 ? "even" : "odd", ["text"] = string.Join(" ", sentences) }.ToJsonString());
            }
        }
        return corpus;
    }

    private PretrainOptions Options(string output) => new()
    {
        Data = WriteCorpusOnce(), Output = output, Preset = "tiny", VocabSize = 300, Batch = 4, Sequence = 32,
        MaxSteps = 24, WarmupSteps = 4, LogInterval = 1, EvalInterval = 12, EvalWindows = 8, CheckpointInterval = 8,
        // MKL settles its kernels at a process's first matmul: this test host may have done one before any patch, a
        // fresh child process has not, so a test that compares the two must not let auto patch either side.
        Speed = new() { MklAvx512 = Tailor.Torch.Toggle.False },
    };

    private string? _corpus;

    private string WriteCorpusOnce() => _corpus ??= WriteCorpus(_dir);

    private static double[] Losses(string output) => File.ReadLines(Path.Combine(output, "metrics.jsonl"))
        .Select(l => JsonNode.Parse(l)!).Where(n => n["loss"] is not null).Select(n => n["loss"]!.GetValue<double>()).ToArray();

    [Fact]
    public void Training_lowers_the_loss_and_writes_a_loadable_model()
    {
        var result = Pretrain.Run(Options(Path.Combine(_dir, "run")));
        Assert.False(Tailor.Torch.CpuTuning.MallocTuned, "the malloc tuning outlived the training loop");
        Assert.False(result.Interrupted);
        Assert.Equal(24, result.Steps);
        Assert.True(result.Losses[^1].Loss < result.Losses[0].Loss - 0.5, $"loss went from {result.Losses[0].Loss} to {result.Losses[^1].Loss}");
        Assert.Equal(["even", "odd"], result.ValidationLossBySource.Keys.Order());
        using var model = PretrainedModel.Load(Path.Combine(_dir, "run", "final"));
        Assert.Equal(24, JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "run", "checkpoint", "trainer_state.json")))!["step"]!.GetValue<long>());
        var text = model.CreateGenerator().Generate(model.Tokenizer.Encode("the cat"), new() { MaxNewTokens = 8 }).Text;
        Assert.False(string.IsNullOrEmpty(text));
        Assert.True(File.Exists(Path.Combine(_dir, "run", "recipe.json")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_dir, "run", "tensorboard"), "events.out.tfevents.*"));

        string shipped = Path.Combine(_dir, "shipped");
        ModelCard.Ship(Path.Combine(_dir, "run"), shipped, "test-model");
        string card = File.ReadAllText(Path.Combine(shipped, "README.md"));
        Assert.Contains("| tokens seen | 3,072 |", card);
        Assert.Contains("| even |", card);
        Assert.Contains("\"max_steps\": 24", card);
        Assert.Equal("bfloat16", LlamaConfig.FromPretrained(shipped).TorchDtype);
        using var reloaded = PretrainedModel.Load(shipped);
        Assert.Equal(model.Config.ParameterCount(), reloaded.Config.ParameterCount());
    }

    [Fact]
    public void Continued_pretraining_starts_from_the_models_weights_and_tokenizer_and_its_card_counts_all_tokens()
    {
        var scratch = Pretrain.Run(Options(Path.Combine(_dir, "scratch")));
        string first = Path.Combine(_dir, "first");
        ModelCard.Ship(Path.Combine(_dir, "scratch"), first, "first");

        string output = Path.Combine(_dir, "continued");
        var said = new List<string>();
        var continued = Pretrain.Run(Options(output) with { InitFrom = first, MaxSteps = 8, Seed = 7 }, p => { if (p.Message is { } m) said.Add(m); });
        Assert.Contains(said, m => m.Contains("continued from " + first, StringComparison.Ordinal));
        // From the trained weights, the first step's loss is near where the first run ended, far below a fresh model's.
        double start = continued.Losses[0].Loss, fresh = scratch.Losses[0].Loss, trained = scratch.Losses[^1].Loss;
        Assert.True(start < trained + 0.5 && start < fresh - 1, $"first loss {start}: the first run went from {fresh} to {trained}");
        Assert.Equal(File.ReadAllText(Path.Combine(first, "tokenizer.json")), File.ReadAllText(Path.Combine(output, "tokenizer.json")));

        ModelCard.Ship(output, Path.Combine(_dir, "second"), "second");
        string card = File.ReadAllText(Path.Combine(_dir, "second", "README.md"));
        Assert.Contains($"pre-trained further from `{first}`", card);
        Assert.Contains("| tokens seen | 4,096 |", card);
        Assert.Contains($"| continued from | `{first}` after its 3,072 tokens (its card); 1,024 in this run |", card);
        var origin = Tailor.Evaluation.Report.Provenance.Of(Path.Combine(_dir, "second"));
        Assert.Contains("4,096 tokens seen", origin.Text, StringComparison.Ordinal);

        // A starting model without a count (no card): the card says what this run added, and claims no total.
        string uncounted = Path.Combine(_dir, "uncounted");
        Directory.CreateDirectory(uncounted);
        foreach (string file in Directory.GetFiles(first).Where(f => Path.GetFileName(f) != "README.md")) File.Copy(file, Path.Combine(uncounted, Path.GetFileName(file)));
        Pretrain.Run(Options(Path.Combine(_dir, "third-run")) with { InitFrom = uncounted, MaxSteps = 2 });
        ModelCard.Ship(Path.Combine(_dir, "third-run"), Path.Combine(_dir, "third"), "third");
        string third = File.ReadAllText(Path.Combine(_dir, "third", "README.md"));
        Assert.Contains("| tokens seen in this run | 256 |", third);
        Assert.Contains($"| continued from | `{uncounted}`, whose card gives no count of tokens seen |", third);
        Assert.DoesNotContain("| tokens seen |", third);

        var both = Assert.Throws<TailorException>(() => Pretrain.Run(Options(Path.Combine(_dir, "both")) with { InitFrom = first, Tokenizer = first }));
        Assert.Contains("not both", both.Message, StringComparison.Ordinal);
        int positions = LlamaConfig.FromPretrained(first).MaxPositionEmbeddings;
        var longer = Assert.Throws<TailorException>(() => Pretrain.Run(Options(Path.Combine(_dir, "longer")) with { InitFrom = first, Sequence = positions + 1 }));
        Assert.Contains($"max_position_embeddings {positions}", longer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_card_of_a_multilingual_corpus_names_its_languages_and_their_token_shares()
    {
        string corpus = WriteCorpus(Directory.CreateDirectory(Path.Combine(_dir, "multi")).FullName);
        long ValidChars(string source) => Tailor.Data.Corpus.Read(Path.Combine(corpus, "valid.jsonl"))
            .Where(d => d.Source == source).Sum(d => (long)d.Text.Length);
        JsonObject Source(string language, long trainChars, long validChars) => new()
        {
            ["language"] = language, ["train"] = new JsonObject { ["characters"] = trainChars },
            ["valid"] = new JsonObject { ["characters"] = validChars },
        };
        File.WriteAllText(Path.Combine(corpus, "MANIFEST.json"), new JsonObject
        {
            ["sources"] = new JsonObject { ["even"] = Source("en", 30_000, ValidChars("even")), ["odd"] = Source("de", 10_000, ValidChars("odd")) },
        }.ToJsonString());
        string run = Path.Combine(_dir, "multi-run");
        Pretrain.Run(Options(run) with { Data = corpus });
        ModelCard.Ship(run, Path.Combine(_dir, "multi-shipped"), "multi");
        string card = File.ReadAllText(Path.Combine(_dir, "multi-shipped", "README.md"));

        long Tokens(string source, long trainChars)
        {
            using var t = Tailor.Data.TokenFile.Open(Path.Combine(run, "tokens", $"valid.{source}.tok"));
            return (long)Math.Round((double)trainChars * t.Count / ValidChars(source));
        }
        long en = Tokens("even", 30_000), de = Tokens("odd", 10_000);
        Assert.Contains("on the English and German corpus", card);
        Assert.Contains("## Languages", card);
        Assert.Contains($"| English | 30,000 | {en:N0} | {(double)en / (en + de):P1} |", card);
        Assert.Contains($"| German | 10,000 | {de:N0} | {(double)de / (en + de):P1} |", card);
    }

    [Fact]
    public void Eval_by_source_logs_each_sources_validation_loss_at_every_measurement()
    {
        string output = Path.Combine(_dir, "by-source");
        Pretrain.Run(Options(output) with { EvalBySource = true });
        var evals = File.ReadLines(Path.Combine(output, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(n => n["val_loss"] is not null).ToList();
        Assert.Equal([12L, 24L], evals.Select(n => n["step"]!.GetValue<long>()));
        foreach (var e in evals)
        {
            double even = e["val_loss.even"]!.GetValue<double>(), odd = e["val_loss.odd"]!.GetValue<double>();
            Assert.InRange(e["val_loss"]!.GetValue<double>(), Math.Min(even, odd) - 0.2, Math.Max(even, odd) + 0.2);
        }
        Assert.True(evals[1]["val_loss.even"]!.GetValue<double>() < evals[0]["val_loss.even"]!.GetValue<double>());
    }

    [Fact]
    public void A_run_killed_mid_way_resumes_with_the_same_losses_as_an_uninterrupted_run()
    {
        var reference = Pretrain.Run(Options(Path.Combine(_dir, "whole")));

        // Kill a real `tailor pretrain` process once its first checkpoint (step 8) is on disk, then resume in-process.
        string killed = Path.Combine(_dir, "killed");
        var o = Options(killed);
        string cli = Path.Combine(AppContext.BaseDirectory, "Tailor.Cli.dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { cli, "pretrain", "--data", o.Data, "--output", killed, "--preset", "tiny", "--vocab-size", "300",
                "--batch", "4", "--sequence", "32", "--max-steps", "24", "--warmup-steps", "4", "--log-interval", "1",
                "--eval-interval", "12", "--eval-windows", "8", "--checkpoint-interval", "8", "--mkl-avx512", "false" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using (var process = Process.Start(psi)!)
        {
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            string state = Path.Combine(killed, "checkpoint", "trainer_state.json");
            var deadline = Stopwatch.StartNew();
            while (!File.Exists(state) && !process.HasExited && deadline.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(20);
            Assert.True(File.Exists(state), "the child process never wrote a checkpoint");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        long reached = Losses(killed).Length;
        Assert.InRange(reached, 8, 23);   // it died part-way

        var resumed = Pretrain.Run(Options(killed) with { Resume = true });
        Assert.Equal(24, resumed.Steps);
        var whole = Losses(Path.Combine(_dir, "whole"));
        var pieced = Losses(killed);
        Assert.Equal(whole.Length, pieced.Length);
        for (int i = 0; i < whole.Length; i++) Assert.True(Math.Abs(whole[i] - pieced[i]) < 1e-6, $"step {i + 1}: {whole[i]} vs {pieced[i]}");
        Assert.Equal(reference.ValidationLoss!.Value, resumed.ValidationLoss!.Value, 6);
    }

    /// <summary>Trains the tiny model for 16 steps in its own `tailor pretrain` process (MKL settles its kernel choice
    /// at a process's first matmul, and mallopt is global) and returns the losses and the log.</summary>
    private (double[] Losses, string Log) TrainInProcess(string name, params string[] extra)
    {
        string output = Path.Combine(_dir, name);
        var psi = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "Tailor.Cli.dll"), "pretrain", "--data", WriteCorpusOnce(), "--output", output,
                "--preset", "tiny", "--vocab-size", "300", "--batch", "4", "--sequence", "32", "--max-steps", "16",
                "--warmup-steps", "4", "--log-interval", "1", "--eval-interval", "16", "--eval-windows", "8",
                "--checkpoint-interval", "16", "--precision", "fp32", "--threads", "1" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (string e in extra) psi.ArgumentList.Add(e);
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        string log = stdout + stderr.Result;
        Assert.True(process.ExitCode == 0, log);
        return (Losses(output), log);
    }

    private static void AssertSameLosses(double[] plain, double[] other)
    {
        Assert.Equal(16, plain.Length);
        Assert.Equal(16, other.Length);
        // Other kernels sum in another order, so the losses may differ by rounding, which grows a little over the steps.
        for (int i = 0; i < plain.Length; i++)
            Assert.True(Math.Abs(plain[i] - other[i]) < 2e-3 * plain[i], $"step {i + 1}: {plain[i]} vs {other[i]}");
    }

    [Theory]
    [InlineData("--mkl-avx512")]
    [InlineData("--malloc-tuning")]
    public void A_cpu_speed_option_trains_to_the_same_losses_as_the_plain_fp32_path(string option)
    {
        var plain = TrainInProcess("plain-" + option, "--mkl-avx512", "false", "--malloc-tuning", "false");
        var tuned = TrainInProcess("tuned-" + option, option, "true");
        Assert.DoesNotContain("mkl_avx512:", plain.Log);
        Assert.DoesNotContain("malloc_tuning:", plain.Log);
        Assert.Contains("training path: fp32 (as asked)", plain.Log);
        // The option was applied (or, on an Intel CPU, found nothing to change), and said so.
        Assert.Contains(option == "--mkl-avx512" ? "mkl_avx512: " : "malloc_tuning: ", tuned.Log);
        AssertSameLosses(plain.Losses, tuned.Losses);
    }

    [Fact]
    public void The_default_path_names_what_it_chose_and_trains_to_the_plain_paths_losses()
    {
        var plain = TrainInProcess("plain-default", "--mkl-avx512", "false", "--malloc-tuning", "false");
        var chosen = TrainInProcess("default");
        string line = chosen.Log.Split('\n').Single(l => l.Contains("training path: ", StringComparison.Ordinal));
        Assert.Contains("fp32", line);
        // Where the CPU has AVX-512 and the MKL patch verifies, auto uses it; either way the line says what it did.
        if (Tailor.Torch.CpuFeatures.Avx512F) Assert.True(line.Contains("oneMKL AVX-512", StringComparison.Ordinal) || chosen.Log.Contains("auto: MKL keeps", StringComparison.Ordinal), line);
        if (OperatingSystem.IsLinux()) Assert.Contains("malloc tuning", line);
        AssertSameLosses(plain.Losses, chosen.Losses);
    }

    [Fact]
    public void A_step_shape_whose_logits_cannot_fit_in_memory_is_refused_before_tokenizing()
    {
        string output = Path.Combine(_dir, "huge");
        var e = Assert.Throws<TailorException>(() => Pretrain.Run(Options(output) with { Sequence = 1_000_000, Batch = 64 }));
        Assert.StartsWith("--batch 64 x --sequence 1000000: a step's logits", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(output, "tokens")), "the corpus was tokenized before the refusal");
    }

    [Fact]
    public void Cancelling_saves_a_checkpoint_that_resume_continues()
    {
        using var cancel = new CancellationTokenSource();
        string output = Path.Combine(_dir, "cancelled");
        var first = Pretrain.Run(Options(output), p => { if (p.Step == 5) cancel.Cancel(); }, cancel.Token);
        Assert.True(first.Interrupted);
        Assert.Equal(5, first.Steps);
        var again = Assert.Throws<TailorException>(() => Pretrain.Run(Options(output)));
        Assert.Contains("--resume", again.Message);
        // As if killed between the two renames of a checkpoint save: the checkpoint is under its hidden name.
        Directory.Move(Path.Combine(output, "checkpoint"), Path.Combine(output, $".checkpoint.replaced-{Guid.NewGuid():N}"));
        var said = new List<string>();
        var rest = Pretrain.Run(Options(output) with { Resume = true }, p => { if (p.Message is { } m) said.Add(m); });
        Assert.Contains(said, m => m.StartsWith("recovered", StringComparison.Ordinal));
        Assert.Equal(24, rest.Steps);
        Assert.Equal(24, Losses(output).Length);
    }

    [Fact]
    public void A_resumed_runs_first_loss_line_is_the_mean_of_the_steps_it_ran_not_of_a_whole_log_interval()
    {
        // Per-step losses of the uninterrupted run; then a run cancelled after step 5 and resumed logging every 4 steps:
        // its first window holds steps 6-8 only, so its loss line at step 8 is their mean (not their sum / 4).
        string wholeOutput = Path.Combine(_dir, "per-step");
        Pretrain.Run(Options(wholeOutput));
        var perStep = Losses(wholeOutput);
        string output = Path.Combine(_dir, "every-4");
        using var cancel = new CancellationTokenSource();
        var first = Pretrain.Run(Options(output), p => { if (p.Step == 5) cancel.Cancel(); }, cancel.Token);
        Assert.Equal(5, first.Steps);
        Pretrain.Run(Options(output) with { LogInterval = 4, Resume = true });
        var lines = File.ReadLines(Path.Combine(output, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).Where(n => n["loss"] is not null).ToList();
        var at8 = lines.Single(n => n["step"]!.GetValue<long>() == 8)["loss"]!.GetValue<double>();
        double expected = (perStep[5] + perStep[6] + perStep[7]) / 3;
        Assert.True(Math.Abs(at8 - expected) < 1e-3 * expected, $"step 8: {at8} vs the mean of steps 6-8, {expected}");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
