using System.Diagnostics;
using Tailor.Data;
using Tailor.Distributed;
using Tailor.Formats;
using Tailor.Model;
using Tailor.Text;
using Tailor.Torch;
using Tailor.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Recipes;

/// <summary>What a pre-training run produced.</summary>
public sealed record PretrainResult(string Output, long Steps, long TokensSeen, double? ValidationLoss,
    IReadOnlyDictionary<string, double> ValidationLossBySource, bool Interrupted, IReadOnlyList<(long Step, double Loss)> Losses);

/// <summary>
/// Pre-training, top to bottom: tokenizer, token files, model, AdamW, then the loop (schedule, accumulation, clipping,
/// validation, checkpoints), then the final folder. Batch n's windows depend only on (seed, n), and a checkpoint holds
/// weights, optimizer moments and the step, so a resumed run repeats the uninterrupted run's losses exactly.
/// </summary>
public static class Pretrain
{
    /// <summary>Runs the recipe. Cancelling <paramref name="cancel"/> (Ctrl-C) saves a checkpoint and returns.</summary>
    public static PretrainResult Run(PretrainOptions o, Action<TrainProgress>? progress = null, CancellationToken cancel = default)
    {
        o.Validate();
        progress ??= _ => { };
        void Say(string message) => progress(new TrainProgress(0, o.MaxSteps, null, 0, 0, TimeSpan.Zero, TimeSpan.Zero, null, message));
        var device = TorchRuntime.SelectDevice(o.Runtime.Device);
        var group = ProcessGroups.For(device);   // under mpirun: --batch is per rank, rank 0 alone writes and reports
        if (group.Rank != 0) progress = _ => { };
        TorchRuntime.SetThreads(o.Runtime.Threads);
        Checkpoint.RefuseModelFolder(o.Output);
        using var trainingPath = CpuTuning.Choose(o.Speed, device, Say);   // disposed at the end: the malloc tuning ends with training
        bool bf16 = trainingPath.Bf16;
        Directory.CreateDirectory(o.Output);
        string checkpointDir = Path.Combine(o.Output, "checkpoint");
        // A crash between the two renames of a checkpoint save leaves the previous checkpoint under a hidden name: put it back.
        if (group.Rank == 0) foreach (string action in HfCheckpoint.RecoverInterruptedSave(checkpointDir)) Say(action);
        if (!o.Resume && Directory.Exists(checkpointDir))
            throw new TailorException($"{checkpointDir} exists: pass --resume to continue that run, or choose another --output.");
        if (group.Rank != 0) group.Barrier();   // the other ranks read the tokenizer and token files rank 0 writes

        // 1. Tokenizer: given, or trained once on the training split and kept in the run folder.
        string trainJsonl = Path.Combine(o.Data, "train.jsonl"), validJsonl = Path.Combine(o.Data, "valid.jsonl");
        string tokenizerPath = Path.Combine(o.Output, "tokenizer.json");
        TextTokenizer tokenizer;
        if (o.InitFrom is not null) tokenizer = TextTokenizer.Load(o.InitFrom);   // its ids are the model's
        else if (o.Tokenizer is not null) tokenizer = TextTokenizer.Load(o.Tokenizer);
        else if (File.Exists(tokenizerPath)) tokenizer = TextTokenizer.Load(o.Output);
        else
        {
            Say($"training a {o.VocabSize}-token byte-level BPE on {trainJsonl}");
            tokenizer = BpeTrainer.Train(Corpus.ReadTexts(trainJsonl), new BpeTrainerOptions(VocabSize: o.VocabSize));
        }
        if (group.Rank == 0) tokenizer.Save(o.Output);   // the run folder always holds the tokenizer its token files were made with
        int eos = tokenizer.EosId ?? throw new TailorException("the tokenizer has no end-of-text token; pre-training needs one between documents.");
        // A step holds its (batch, sequence, vocab) logits at least twice (the logits and their log-softmax): refuse a
        // shape that cannot fit in memory before tokenizing or building anything (it would end in a native abort).
        long logitBytes = 2L * o.Batch * o.Sequence * tokenizer.VocabSize * sizeof(float), memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (memory > 0 && logitBytes > memory)
            throw new TailorException($"--batch {o.Batch} x --sequence {o.Sequence}: a step's logits and their log-softmax ({o.Batch} x {o.Sequence} x {tokenizer.VocabSize} floats, twice) "
                + $"need {logitBytes / (double)(1L << 30):F1} GiB, more than this machine's {memory / (double)(1L << 30):F1} GiB. Lower --sequence or --batch (--grad-accum keeps the tokens per step).");

        // 2. Token files, tokenized once (reused while the corpus and tokenizer are unchanged).
        var (train, valid, validBySource) = TokenizeOnce(o, tokenizer, trainJsonl, validJsonl, eos, Say);
        using var trainFile = train;
        using var validFile = valid;
        if (group.Rank == 0) group.Barrier();
        if (trainFile.Count <= o.Sequence + 1) throw new TailorException($"{trainJsonl}: only {trainFile.Count} tokens; need more than sequence + 1 = {o.Sequence + 1}.");

        // 3. Model and optimizer: a fresh preset model or (continued pre-training) the init_from model, then the checkpoint on --resume.
        using var model = o.InitFrom is null ? FromPreset(o, tokenizer, eos) : FromModel(o.InitFrom, o.Sequence);
        model.to(device);
        model.train();
        var config = model.Config;
        using var optimizer = Optimizers.AdamW(model, o.Optimizer.LearningRate, o.Optimizer.WeightDecay, o.Optimizer.Beta1, o.Optimizer.Beta2);
        long startStep = 0;
        var metricsPath = Path.Combine(o.Output, "metrics.jsonl");
        if (o.Resume)
        {
            if (!Directory.Exists(checkpointDir)) throw new TailorException($"--resume: {checkpointDir} does not exist; nothing to resume.");
            DataParallel.RefuseOtherRankCount(group, checkpointDir);
            startStep = Checkpoint.Load(checkpointDir, model, optimizer);
            if (group.Rank == 0) MetricsLog.TruncateAfter(metricsPath, startStep);
            Say($"resumed from {checkpointDir} at step {startStep}");
        }
        else if (group.Rank == 0 && File.Exists(metricsPath)) File.Delete(metricsPath);
        DataParallel.BroadcastParameters(group, model);
        if (group.Rank == 0) File.WriteAllText(Path.Combine(o.Output, "recipe.json"), RecipeOptions.ToJson(o));
        Say($"model: {(o.InitFrom is null ? o.Preset : "continued from " + o.InitFrom)}, {config.ParameterCount() / 1e6:F2}M parameters; {trainFile.Count:N0} training tokens; " +
            $"{validFile.Count:N0} validation tokens; precision {(bf16 ? "bf16 autocast" : "fp32")}" + (group.Size > 1 ? $"; {group.Description}, global batch {o.Batch * group.Size}" : ""));

        using var metrics = group.Rank == 0 ? new MetricsLog(o.Output, append: o.Resume) : null;
        var losses = new List<(long, double)>();
        using var lossSum = zeros(1, device: device).DetachFromDisposeScope();
        long tokensPerStep = (long)o.Batch * o.Sequence * o.GradAccum * group.Size;
        var ids = new long[o.Batch * (o.Sequence + 1)];
        var clock = Stopwatch.StartNew();
        long windowTokens = 0, step = startStep, windowStart = startStep;   // a resumed run's first window may be short
        var windowClock = Stopwatch.StartNew();
        double? lastValidation = null;
        bool interrupted = false;

        // 4. The loop.
        for (; step < o.MaxSteps; step++)
        {
            if (DataParallel.Any(group, cancel.IsCancellationRequested))
            {
                interrupted = true;
                break;
            }
            double lr = o.LearningRateAt(step);
            Optimizers.SetLearningRate(optimizer, lr);
            using (var scope = NewDisposeScope())
            {
                for (int micro = 0; micro < o.GradAccum; micro++)
                {
                    // Rank r takes windows [r·B, r·B + B) of the global batch: N ranks of B read what one process of N·B would.
                    TokenWindows.FillRandom(trainFile, ids, o.Batch, o.Sequence, Seeds.BatchSeed(o.Seed, step, micro), skip: group.Rank * o.Batch);
                    var batch = tensor(ids, [o.Batch, o.Sequence + 1], device: device);             // (B, T+1)
                    var x = batch.narrow(1, 0, o.Sequence);                                         // (B, T)
                    var y = batch.narrow(1, 1, o.Sequence);                                         // (B, T)
                    Tensor logits;
                    using (Autocast.Bf16(bf16)) logits = model.call(x).flatten(0, 1);             // (B·T, V)
                    // The mean over every position of the global batch: this rank's micro-batches, all ranks.
                    var loss = FusedCrossEntropy.Loss(logits, y.reshape(-1), 1.0 / (logits.shape[0] * o.GradAccum * group.Size), out var gradient);
                    FusedCrossEntropy.Backward(logits, loss, gradient);
                    lossSum.add_(loss.detach(), Torch.Scalars.One);
                }
                DataParallel.AllReduceGradients(group, model.parameters());   // each rank's share summed: the global batch's gradient
                if (o.Optimizer.GradClip > 0) nn.utils.clip_grad_norm_(model.parameters(), o.Optimizer.GradClip);
                optimizer.step();
                model.zero_grad();
            }
            windowTokens += tokensPerStep;
            long done = step + 1;

            if (done % o.LogInterval == 0 || done == o.MaxSteps)
            {
                int stepsInWindow = (int)(done - windowStart);
                windowStart = done;
                DataParallel.SumInPlace(group, lossSum);
                double loss = lossSum.item<float>() / stepsInWindow;                                 // the one host sync
                lossSum.zero_();
                losses.Add((done, loss));
                double tps = windowTokens / windowClock.Elapsed.TotalSeconds;
                windowTokens = 0;
                windowClock.Restart();
                var eta = TimeSpan.FromSeconds((o.MaxSteps - done) * tokensPerStep / Math.Max(tps, 1e-9));
                metrics?.Write(done, new() { ["loss"] = loss, ["lr"] = lr, ["tokens_per_s"] = tps });
                progress(new TrainProgress(done, o.MaxSteps, loss, lr, tps, clock.Elapsed, eta, lastValidation, null));
            }
            if (group.Rank == 0 && (done % o.EvalInterval == 0 || done == o.MaxSteps))
            {
                lastValidation = TokenWindows.MeanLoss(model, validFile, o.Sequence, o.EvalWindows, o.Batch, device);
                var values = new Dictionary<string, double> { ["val_loss"] = lastValidation.Value, ["val_ppl"] = Math.Exp(lastValidation.Value) };
                if (o.EvalBySource)
                    foreach (var (source, file) in validBySource)
                        values["val_loss." + source] = TokenWindows.MeanLoss(model, file, o.Sequence, o.EvalWindows, o.Batch, device);
                metrics?.Write(done, values);
                progress(new TrainProgress(done, o.MaxSteps, null, lr, 0, clock.Elapsed, TimeSpan.Zero, lastValidation,
                    $"step {done}: validation loss {lastValidation:F4}, perplexity {Math.Exp(lastValidation.Value):F2}"));
            }
            if (group.Rank == 0 && done % o.CheckpointInterval == 0 && done < o.MaxSteps)
                Checkpoint.Save(checkpointDir, model, optimizer, tokenizer, done, RecipeOptions.ToJson(o), group.Size);
        }

        // 5. Checkpoint (always, so --resume works after Ctrl-C), then the final folder with per-source validation.
        if (group.Rank == 0) Checkpoint.Save(checkpointDir, model, optimizer, tokenizer, step, RecipeOptions.ToJson(o), group.Size);
        var bySource = new Dictionary<string, double>();
        if (!interrupted && group.Rank == 0)
        {
            foreach (var (source, file) in validBySource)
            {
                using (file) bySource[source] = TokenWindows.MeanLoss(model, file, o.Sequence, o.EvalWindows, o.Batch, device);
            }
            ModelFolder.Save(Path.Combine(o.Output, "final"), model, tokenizer, ScalarType.Float32);
            File.WriteAllText(Path.Combine(o.Output, "final", "recipe.json"), RecipeOptions.ToJson(o));
        }
        else
        {
            foreach (var (_, file) in validBySource) file.Dispose();
        }
        return new PretrainResult(o.Output, step, step * tokensPerStep, lastValidation, bySource, interrupted, losses);
    }

    private static LlamaForCausalLM FromPreset(PretrainOptions o, TextTokenizer tokenizer, int eos)
    {
        var config = LlamaConfig.Preset(o.Preset, tokenizer.VocabSize);
        config.MaxPositionEmbeddings = Math.Max(config.MaxPositionEmbeddings, o.Sequence);
        config.BosTokenId = tokenizer.BosId;
        config.EosTokenId = [eos];
        config.PadTokenId = tokenizer.PadId;
        return LlamaForCausalLM.FromConfig(config, o.Seed);
    }

    // The weights of a model folder, in float32 (the master weights AdamW updates), on the CPU until moved.
    private static LlamaForCausalLM FromModel(string folder, int sequence)
    {
        var loaded = PretrainedModel.Load(folder);
        if (loaded.Model is not LlamaForCausalLM llama)
        {
            loaded.Dispose();
            throw new TailorException($"init_from = {folder}: a {loaded.Config.Architectures.FirstOrDefault()} model; continued pre-training takes Llama/Qwen2 models.");
        }
        if (sequence > llama.Config.MaxPositionEmbeddings)
        {
            loaded.Dispose();
            throw new TailorException($"--sequence {sequence}: longer than {folder}'s max_position_embeddings {llama.Config.MaxPositionEmbeddings}; use --sequence {llama.Config.MaxPositionEmbeddings} or less.");
        }
        return llama;   // the model outlives its loader, which owns nothing else
    }

    private static (TokenFile Train, TokenFile Valid, List<(string Source, TokenFile File)> BySource) TokenizeOnce(
        PretrainOptions o, TextTokenizer tokenizer, string trainJsonl, string validJsonl, int eos, Action<string> say)
    {
        string dir = Path.Combine(o.Output, "tokens");
        Directory.CreateDirectory(dir);
        string stampPath = Path.Combine(dir, "stamp.json");
        string stamp = $"{Sha256(trainJsonl)} {Sha256(validJsonl)} {Sha256(Path.Combine(o.Output, "tokenizer.json"))}";
        bool fresh = File.Exists(stampPath) && File.ReadAllText(stampPath) == stamp;
        string trainTok = Path.Combine(dir, "train.tok"), validTok = Path.Combine(dir, "valid.tok");
        var validDocs = Corpus.Read(validJsonl).ToList();
        var sources = validDocs.Select(d => d.Source).Distinct().Order(StringComparer.Ordinal).ToList();
        if (!fresh)
        {
            say($"tokenizing {trainJsonl} and {validJsonl}");
            File.Delete(stampPath);
            TokenFile.Write(trainTok, Corpus.Read(trainJsonl).Select(d => tokenizer.Encode(d.Text)), tokenizer.VocabSize, eos);
            TokenFile.Write(validTok, validDocs.Select(d => tokenizer.Encode(d.Text)), tokenizer.VocabSize, eos);
            foreach (string source in sources)
                TokenFile.Write(Path.Combine(dir, $"valid.{FileSafe(source)}.tok"),
                    validDocs.Where(d => d.Source == source).Select(d => tokenizer.Encode(d.Text)), tokenizer.VocabSize, eos);
            File.WriteAllText(stampPath, stamp);
        }
        var bySource = sources.Select(s => (s, TokenFile.Open(Path.Combine(dir, $"valid.{FileSafe(s)}.tok"))))
            .Where(p => p.Item2.Count > 2).ToList();
        return (TokenFile.Open(trainTok), TokenFile.Open(validTok), bySource);
    }

    private static string FileSafe(string s) => string.Concat(s.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));

    private static string Sha256(string path)
    {
        if (!File.Exists(path)) throw new TailorException($"{path}: not found. Build the corpus first (scripts/data/build-all.sh) or point --data at a folder with train.jsonl and valid.jsonl.");
        return StableHash.Sha256File(path);
    }

}
