using System.Diagnostics;
using System.Text.Json.Nodes;
using Tailor.Model;
using Tailor.Tests.Data.Instructions;
using Tailor.Tests.Recipes;
using Tailor.Text;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Tests.Distributed;

/// <summary>A fact that needs Open MPI's mpirun; skipped, saying so, only where it is not installed.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiTrainingTests.MpiRun is null) Skip = "mpirun is not on PATH; scripts/setup-system.sh installs Debian's openmpi-bin (CI runs it).";
    }
}

/// <summary>
/// `mpirun -np 2 tailor …` on loopback against one process with the whole batch: same losses, rank 0 alone writes, a
/// killed rank stops the job and leaves a checkpoint that resumes.
/// </summary>
[Collection("TorchSharp")]
public sealed class MpiTrainingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-mpi-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    internal static string? MpiRun { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    private static string Cli => Path.Combine(AppContext.BaseDirectory, "Tailor.Cli.dll");

    /// <summary>`tailor args` as one process (ranks 0) or under mpirun with that many ranks on this machine.</summary>
    internal static ProcessStartInfo Command(int ranks, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(ranks == 0 ? "dotnet" : MpiRun!) { RedirectStandardError = true, RedirectStandardOutput = true };
        if (ranks > 0)
        {
            foreach (string a in new[] { "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "dotnet" }) psi.ArgumentList.Add(a);
            // Tests run as root in CI containers; loopback TCP works where shared memory segments may be too small.
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
            psi.Environment["OMPI_MCA_btl"] = "self,tcp";
            psi.Environment["OMPI_MCA_btl_tcp_if_include"] = "lo";
            psi.Environment["OMPI_MCA_oob_tcp_if_include"] = "lo";
        }
        psi.ArgumentList.Add(Cli);
        foreach (string a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    internal static (int Exit, string Log) Run(int ranks, IEnumerable<string> args)
    {
        using var process = Process.Start(Command(ranks, args))!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    private static double[] Losses(string output) => [.. File.ReadLines(Path.Combine(output, "metrics.jsonl"))
        .Select(l => JsonNode.Parse(l)!).Where(n => n["loss"] is not null).Select(n => n["loss"]!.GetValue<double>())];

    private static void AssertSameLosses(double[] one, double[] two)
    {
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < one.Length; i++)
            Assert.True(Math.Abs(one[i] - two[i]) <= 1e-5 * Math.Abs(one[i]), $"step {i + 1}: one process {one[i]:R}, two ranks {two[i]:R}");
    }

    private string[] PretrainArgs(string output, int batch, int steps, int checkpointInterval = 100) =>
    [
        "pretrain", "--data", PretrainTests.WriteCorpus(_dir), "--output", Path.Combine(_dir, output), "--preset", "tiny", "--vocab-size", "300",
        "--batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture), "--sequence", "32",
        "--max-steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--warmup-steps", "2", "--log-interval", "1",
        "--eval-interval", "100", "--eval-windows", "4", "--checkpoint-interval", checkpointInterval.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--precision", "fp32", "--threads", "1", "--mkl-avx512", "false",
    ];

    [MpiFact]
    public void Two_ranks_of_batch_2_pretrain_with_the_losses_of_one_process_of_batch_4()
    {
        var (exit1, log1) = Run(0, PretrainArgs("one", 4, 8));
        Assert.True(exit1 == 0, log1);
        var (exit2, log2) = Run(2, PretrainArgs("two", 2, 8));
        Assert.True(exit2 == 0, log2);
        AssertSameLosses(Losses(Path.Combine(_dir, "one")), Losses(Path.Combine(_dir, "two")));

        // Rank 0 alone reports and writes: one result block, one metrics line per step, a checkpoint that records 2 ranks.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(log2, "done: 8 steps"));
        Assert.Contains("Open MPI, rank 0 of 2, global batch 4", log2);
        Assert.Equal(2, DataParallel.RanksOf(Path.Combine(_dir, "two", "checkpoint")));
        using var model = PretrainedModel.Load(Path.Combine(_dir, "two", "final"));
    }

    [MpiFact]
    public void Two_ranks_of_batch_2_instruct_with_the_losses_of_one_process_of_batch_4()
    {
        var tokenizer = TextTokenizer.Load(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small"));
        tokenizer.ChatTemplate = null;
        var config = LlamaConfig.Preset("tiny", tokenizer.VocabSize);
        config.EosTokenId = [tokenizer.EosId!.Value];
        config.PadTokenId = tokenizer.PadId;
        string baseModel = Path.Combine(_dir, "base");
        using (var model = LlamaForCausalLM.FromConfig(config, seed: 3)) ModelFolder.Save(baseModel, model, tokenizer, ScalarType.Float32);
        string[] Args(string output, string batch) =>
        [
            "instruct", "--model", baseModel, "--output", Path.Combine(_dir, output),
            "--task-data", Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), "--templates", InstructionFixtures.TemplatesFolder,
            "--examples", "96", "--sequence", "192", "--batch", batch, "--max-steps", "5", "--warmup-steps", "2", "--learning-rate", "3e-3",
            "--min-learning-rate", "3e-4", "--log-interval", "1", "--eval-interval", "100", "--checkpoint-interval", "100", "--dev-examples", "4",
            "--precision", "fp32", "--threads", "1",
        ];
        var (exit1, log1) = Run(0, Args("one", "4"));
        Assert.True(exit1 == 0, log1);
        var (exit2, log2) = Run(2, Args("two", "2"));
        Assert.True(exit2 == 0, log2);
        AssertSameLosses(Losses(Path.Combine(_dir, "one")), Losses(Path.Combine(_dir, "two")));
        var marker = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "two", "final", "tailor.json")))!;
        var single = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "one", "final", "tailor.json")))!;
        Assert.Equal(single["tokens_seen"]!.GetValue<long>(), marker["tokens_seen"]!.GetValue<long>());   // counted over the global batch
    }

    [MpiFact]
    public void Killing_one_rank_stops_the_job_with_a_clear_error_and_the_last_checkpoint_resumes()
    {
        string output = Path.Combine(_dir, "killed");
        string state = Path.Combine(output, "checkpoint", "trainer_state.json");
        string log;
        using (var mpirun = Process.Start(Command(2, PretrainArgs("killed", 2, 100000, checkpointInterval: 5)))!)
        {
            var stderr = mpirun.StandardError.ReadToEndAsync();
            var stdout = mpirun.StandardOutput.ReadToEndAsync();
            try
            {
                var clock = Stopwatch.StartNew();
                while (!File.Exists(state) && !mpirun.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(50);
                if (!File.Exists(state))
                {
                    if (!mpirun.HasExited) mpirun.Kill(entireProcessTree: true);
                    Assert.Fail("the job never wrote a checkpoint: " + stdout.Result + stderr.Result);
                }
                int rank1 = RankProcess(mpirun.Id, 1);
                Process.GetProcessById(rank1).Kill();   // SIGKILL: no chance to clean up
                Assert.True(mpirun.WaitForExit(TimeSpan.FromMinutes(2)), "mpirun did not stop after a rank died");
                log = stdout.Result + stderr.Result;
                Assert.NotEqual(0, mpirun.ExitCode);
            }
            finally
            {
                if (!mpirun.HasExited) mpirun.Kill(entireProcessTree: true);
            }
        }
        Assert.Contains("rank 1", log);
        Assert.Contains("signal 9", log);

        // The checkpoint is whole: it loads, it refuses another rank count, and two ranks resume from it.
        long step = JsonNode.Parse(File.ReadAllText(state))!["step"]!.GetValue<long>();
        Assert.True(step >= 5 && step % 5 == 0, $"checkpoint step {step}");
        using (var model = PretrainedModel.Load(Path.Combine(output, "checkpoint"))) { }
        var (exitOne, logOne) = Run(0, [.. PretrainArgs("killed", 4, (int)step + 3), "--resume", "true"]);
        Assert.Equal(1, exitOne);
        Assert.Contains("was written by a run of 2 ranks, this one has 1", logOne);
        var (exit, resumed) = Run(2, [.. PretrainArgs("killed", 2, (int)step + 3), "--resume", "true"]);
        Assert.True(exit == 0, resumed);
        Assert.Contains($"resumed from {Path.Combine(output, "checkpoint")} at step {step}", resumed);
        Assert.True(File.Exists(Path.Combine(output, "final", "model.safetensors")));
    }

    [MpiFact]
    public void A_rank_that_fails_alone_stops_the_job_with_its_error_instead_of_leaving_the_others_waiting()
    {
        // MPMD launch: rank 0 starts afresh, rank 1 is told to resume a run that does not exist and fails while rank 0
        // waits for it in a collective. MPI_Finalize would wait too; MPI_Abort at exit stops both.
        string[] args = PretrainArgs("alone", 2, 4);
        var psi = Command(1, args);
        foreach (string a in new[] { ":", "-np", "1", "dotnet", Cli }.Concat(args).Concat(["--resume", "true"])) psi.ArgumentList.Add(a);
        using var mpirun = Process.Start(psi)!;
        var stderr = mpirun.StandardError.ReadToEndAsync();
        var stdout = mpirun.StandardOutput.ReadToEndAsync();
        bool stopped = mpirun.WaitForExit(TimeSpan.FromMinutes(3));
        if (!stopped) mpirun.Kill(entireProcessTree: true);
        Assert.True(stopped, "the job hung after one rank failed");
        string log = stdout.Result + stderr.Result;
        Assert.NotEqual(0, mpirun.ExitCode);
        Assert.Contains("rank 1: tailor pretrain: --resume: ", log);
    }

    /// <summary>The pid of the child of <paramref name="mpirun"/> whose environment says it is rank <paramref name="rank"/>.</summary>
    private static int RankProcess(int mpirun, int rank)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            foreach (string dir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
                try
                {
                    string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    int parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                    if (parent != mpirun) continue;
                    string environ = File.ReadAllText(Path.Combine(dir, "environ"));
                    if (environ.Split('\0').Contains($"OMPI_COMM_WORLD_RANK={rank}")) return pid;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"no rank {rank} under mpirun {mpirun}");
    }
}
