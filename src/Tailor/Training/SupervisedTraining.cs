using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Distributed;
using Tailor.Formats;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Text;
using Tailor.Torch;
using static TorchSharp.torch;
using Tailor.Data.Instructions;

namespace Tailor.Training;

/// <summary>What a tuning run produced.</summary>
/// <param name="Output">The run folder.</param>
/// <param name="Steps">Optimizer steps done (the checkpoint's step when interrupted).</param>
/// <param name="TokensSeen">Tokens in the rows trained on, padding excluded.</param>
/// <param name="TrainedTokens">Tokens the loss was taken on (responses and their end-of-turn tokens).</param>
/// <param name="DevLoss">Mean per-token dev loss over all tasks at the end (null without dev data).</param>
/// <param name="DevLossByTask">Per-task dev loss at the end.</param>
/// <param name="Interrupted">Stopped by cancellation; a checkpoint was saved.</param>
/// <param name="Losses">Training loss per logged step.</param>
/// <param name="FinalModel">final/: the full model (full tuning, or LoRA merged); null when not written.</param>
/// <param name="Adapter">adapter/: the LoRA adapter alone (PEFT layout); null for full tuning.</param>
/// <param name="Elapsed">Wall time of the run.</param>
public sealed record TuneResult(string Output, long Steps, long TokensSeen, long TrainedTokens, double? DevLoss,
    IReadOnlyDictionary<string, double> DevLossByTask, bool Interrupted, IReadOnlyList<(long Step, double Loss)> Losses,
    string? FinalModel, string? Adapter, TimeSpan Elapsed);

/// <summary>The examples a tuning recipe trains on, encoded, with what it needs to describe them.</summary>
/// <param name="Stage">"finetune" or "instruct", written to tailor.json.</param>
/// <param name="Format">The prompt layout of every example.</param>
/// <param name="Train">Training examples, in draw order.</param>
/// <param name="Dev">Dev examples per task (the same every measurement).</param>
/// <param name="Stats">Truncation counts for the training examples.</param>
/// <param name="Tasks">Task names, for tailor.json.</param>
/// <param name="TaskPrefix">Whether each input is followed by its task's name (a multi-task fine-tune), for tailor.json's <c>task_prefix</c>.</param>
public sealed record TuneData(string Stage, PromptFormat Format, IReadOnlyList<EncodedExample> Train,
    IReadOnlyDictionary<string, IReadOnlyList<EncodedExample>> Dev, EncodingStats Stats, IReadOnlyList<string> Tasks, bool TaskPrefix = false);

/// <summary>
/// The supervised loop both tuning recipes share: base model → optional LoRA → AdamW with warm-up + cosine → packed,
/// loss-masked batches (block-diagonal attention, restarted positions) → dev loss per task → atomic checkpoints with
/// exact resume → final model and/or adapter with <c>tailor.json</c> (stage, prompt format) beside it.
/// </summary>
/// <remarks>
/// Batch n depends only on (seed, n): the rows are laid out once, each epoch's order is a seeded permutation, and the
/// torch RNG (LoRA dropout) is reseeded from (seed, step) every step, so a resumed run repeats the uninterrupted one.
/// </remarks>
public static class SupervisedTraining
{
    /// <summary>
    /// Runs the loop. <paramref name="build"/> makes the data from the base model's tokenizer (it may install a chat
    /// template on it); the options must be valid. With <paramref name="chatTokens"/> (ChatML data) a base whose tokenizer
    /// lacks &lt;|im_start|&gt;/&lt;|im_end|&gt; gets them, and its embeddings grow (<see cref="ChatVocabulary"/>).
    /// </summary>
    public static TuneResult Run(TuneOptions o, Func<TextTokenizer, Action<string>, TuneData> build, Action<TrainProgress>? progress,
        CancellationToken cancel, bool chatTokens = false)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(build);
        o.Validate();
        progress ??= _ => { };
        void Say(string message) => progress(new TrainProgress(0, o.MaxSteps, null, 0, 0, TimeSpan.Zero, TimeSpan.Zero, null, message));
        var clock = Stopwatch.StartNew();
        var device = TorchRuntime.SelectDevice(o.Runtime.Device);
        var group = ProcessGroups.For(device);   // under mpirun: --batch is per rank, rank 0 alone writes and reports
        if (group.Rank != 0) progress = _ => { };
        TorchRuntime.SetThreads(o.Runtime.Threads);
        Checkpoint.RefuseModelFolder(o.Output);
        using var trainingPath = CpuTuning.Choose(o.Speed, device, Say);   // disposed at the end: the malloc tuning ends with training
        bool bf16 = trainingPath.Bf16;
        string checkpointDir = Path.Combine(o.Output, "checkpoint");
        // A crash between the two renames of a checkpoint save leaves the previous checkpoint under a hidden name: put it back.
        if (group.Rank == 0) foreach (string action in HfCheckpoint.RecoverInterruptedSave(checkpointDir)) Say(action);
        if (!o.Resume && Directory.Exists(checkpointDir))
            throw new TailorException($"{checkpointDir} exists: pass --resume to continue that run, or choose another --output.");
        if (o.Resume && !Directory.Exists(checkpointDir))
            throw new TailorException($"--resume: {checkpointDir} does not exist; nothing to resume.");
        if (o.Resume) Checkpoint.RefuseChangedAdapter(checkpointDir, o.Lora ? o.Adapter.ToConfig(o.Model) : null);

        // The rows are --sequence tokens long: refuse one the model has no positions for before anything is allocated.
        var modelConfig = CausalLMs.ReadConfig(o.Model);
        if (o.Sequence > modelConfig.MaxPositionEmbeddings)
            throw new TailorException($"--sequence {o.Sequence} is longer than the model's context ({modelConfig.MaxPositionEmbeddings} positions, "
                + $"max_position_embeddings in {Path.Combine(o.Model, HfCheckpoint.ConfigFile)}); give --sequence {modelConfig.MaxPositionEmbeddings} or less.");

        // 1. Base model and data.
        using var loaded = PretrainedModel.Load(o.Model, device);
        var model = loaded.Model;
        var tokenizer = loaded.Tokenizer;
        // ChatML needs <|im_start|> and <|im_end|>: a base without them (GPT-2) gets them and grows, as with TRL's setup_chat_format.
        using var chat = chatTokens ? ChatVocabulary.Setup(model, tokenizer, o.Seed, o.Model, Say) : null;
        if (chat is not null) (model, tokenizer) = (chat.Model, chat.Tokenizer);
        var data = build(tokenizer, Say);
        if (data.Train.Count == 0) throw new TailorException("no training examples are left after encoding; see the preflight report above.");
        var report = Preflight.Run(data.Train, tokenizer, data.Format, data.Stats);
        Say(report.Text.TrimEnd());
        foreach (string warning in report.Warnings) Say("warning: " + warning);

        // 2. LoRA (or every weight), optimizer, and the checkpoint to resume from.
        LoraConfig? lora = null;
        IReadOnlyList<TorchSharp.Modules.Parameter>? noDecay = null;
        if (o.Lora)
        {
            lora = o.Adapter.ToConfig(o.Model);
            if (o.Resume) LoraAdapter.Load(model, checkpointDir);
            else
            {
                manual_seed(o.Seed);   // LoRA's A is random: seeded, so the same options give the same run
                LoraAdapter.Apply(model, lora);
            }
            if (chat is not null)
            {
                noDecay = chat.TrainNewRows();   // the added tokens' rows train, the base's rows stay frozen (MaskOldRows)
                Say($"the {chat.Added.Count} new rows of the embedding{(noDecay.Count > 1 ? " and the head" : "")} train too ({chat.NewRowParameters():N0} parameters); the base's rows stay frozen");
            }
            Say("LoRA " + LoraAdapter.Report(model));
        }
        else
        {
            foreach (var p in model.parameters()) p.requires_grad = true;
            Say($"full tuning: {model.parameters().Sum(p => p.numel()):N0} trainable parameters");
        }
        model.train();
        using var optimizer = Optimizers.AdamW(model, o.Optimizer.LearningRate, o.Optimizer.WeightDecay, o.Optimizer.Beta1, o.Optimizer.Beta2, noDecay: noDecay);
        long startStep = 0;
        string metricsPath = Path.Combine(o.Output, "metrics.jsonl");
        Directory.CreateDirectory(o.Output);
        if (o.Resume)
        {
            DataParallel.RefuseOtherRankCount(group, checkpointDir);
            startStep = lora is null ? Checkpoint.Load(checkpointDir, model, optimizer) : Checkpoint.LoadOptimizer(checkpointDir, optimizer);
            if (group.Rank == 0) MetricsLog.TruncateAfter(metricsPath, startStep);
            Say($"resumed from {checkpointDir} at step {startStep}");
        }
        else if (group.Rank == 0 && File.Exists(metricsPath)) File.Delete(metricsPath);
        DataParallel.BroadcastParameters(group, model);
        string recipeJson = RecipeOptions.ToJson(o);
        if (group.Rank == 0) File.WriteAllText(Path.Combine(o.Output, "recipe.json"), recipeJson);

        // 3. Rows: packed (several examples per row, block-diagonal mask) or one example per row.
        int padId = Packing.FillerIdOf(tokenizer);   // GPT-2 has no pad token: padding is inert, see FillerIdOf
        var rows = RowSource.Create(data.Train, o, padId, o.Batch * group.Size);   // global batches; each rank trains on its share
        if (group.Size > 1 && rows.UnitCount < o.Batch * group.Size)
            throw new TailorException($"{rows.UnitCount} training rows are fewer than one global batch (--batch {o.Batch} x {group.Size} ranks); lower --batch or run fewer ranks.");
        Say($"{data.Train.Count:N0} examples in {rows.UnitCount:N0} {(o.Packing ? "packed rows" : "rows")}, {rows.BatchesPerEpoch:N0} batches per epoch; " +
            $"{o.MaxSteps * o.GradAccum / (double)rows.BatchesPerEpoch:F2} epochs in {o.MaxSteps} steps");
        var devBatches = data.Dev.ToDictionary(kv => kv.Key, kv => Batches(kv.Value, o.Batch, padId));

        void SaveCheckpoint(long at)
        {
            void Extra(string staging)
            {
                optimizer.save_state_dict(Path.Combine(staging, Checkpoint.OptimizerFile));
                File.WriteAllText(Path.Combine(staging, Checkpoint.StateFile), new JsonObject { ["step"] = at, ["ranks"] = group.Size }.ToJsonString());
                File.WriteAllText(Path.Combine(staging, "recipe.json"), recipeJson);
            }
            if (group.Rank != 0) return;
            if (lora is null) Checkpoint.Save(checkpointDir, model, optimizer, tokenizer, at, recipeJson, group.Size);
            else LoraAdapter.Save(model, checkpointDir, lora, Extra, saveEmbeddingLayers: chat is not null ? true : null);
        }

        using var metrics = group.Rank == 0 ? new MetricsLog(o.Output, append: o.Resume) : null;
        var losses = new List<(long, double)>();
        using var lossSum = zeros(1, device: device).DetachFromDisposeScope();
        var windowClock = Stopwatch.StartNew();
        long windowTokens = 0, tokensSeen = 0, trainedTokens = 0, step = startStep, windowStart = startStep;   // a resumed run's first window may be short
        for (long s = 0; s < startStep; s++)
            for (int micro = 0; micro < o.GradAccum; micro++)
            {
                var counted = rows.Batch(s * o.GradAccum + micro, o.Seed);
                tokensSeen += counted.Sum(r => r.Used);
                trainedTokens += counted.Sum(Targets);
            }
        double? lastDev = null;
        var devByTask = new Dictionary<string, double>();
        bool interrupted = false;

        // 4. The loop.
        for (; step < o.MaxSteps; step++)
        {
            if (DataParallel.Any(group, cancel.IsCancellationRequested))
            {
                interrupted = true;
                break;
            }
            double lr = Optimizers.CosineWithWarmup(step, o.WarmupSteps, o.MaxSteps, o.Optimizer.LearningRate, o.MinLearningRate);
            Optimizers.SetLearningRate(optimizer, lr);
            manual_seed(Seeds.BatchSeed(o.Seed, step, -1));   // dropout masks depend on (seed, step) only
            var micros = Enumerable.Range(0, o.GradAccum).Select(m => rows.Batch(step * o.GradAccum + m, o.Seed)).ToList();
            // The loss's denominator: the step's trained tokens, or its examples that have any (LossNormalization).
            int stepTargets = Math.Max(1, o.LossNormalization == LossNormalization.Example ? micros.Sum(b => b.Sum(TrainedExamples)) : micros.Sum(b => b.Sum(Targets)));
            using (var scope = NewDisposeScope())
            {
                foreach (var micro in micros)
                {
                    using var batch = Packing.ToBatch(DataParallel.Share(group, micro), device);
                    Tensor loss;
                    using (Autocast.Bf16(bf16))
                    {
                        // Logits only where a label is trained (the responses): the same loss as over every
                        // position with ignore_index, without projecting and soft-maxing the prompts.
                        var logits = model.Forward(batch.Ids, batch.Positions, batch.Mask, keep: batch.TrainedAt); // (N, V)
                        // Sum over the step's trained tokens / their count: every response token weighs the same,
                        // whatever micro-batch or row it falls in.
                        loss = o.LossNormalization == LossNormalization.Example
                            ? nn.functional.cross_entropy(logits.to_type(ScalarType.Float32), batch.TrainedLabels, reduction: nn.Reduction.None).mul(batch.ExampleWeights).sum() / stepTargets
                            : nn.functional.cross_entropy(logits.to_type(ScalarType.Float32), batch.TrainedLabels, reduction: nn.Reduction.Sum) / stepTargets;
                    }
                    loss.backward();
                    lossSum.add_(loss.detach(), Torch.Scalars.One);
                    long used = micro.Sum(r => (long)r.Used);   // the global batch's counts, whichever rank this is
                    windowTokens += used;
                    tokensSeen += used;
                    trainedTokens += micro.Sum(Targets);
                }
                DataParallel.AllReduceGradients(group, model.parameters());   // each rank's share summed: the global batch's gradient
                if (lora is not null) chat?.MaskOldRows();
                if (o.Optimizer.GradClip > 0) nn.utils.clip_grad_norm_(model.parameters().Where(p => p.requires_grad), o.Optimizer.GradClip);
                optimizer.step();
                optimizer.zero_grad();
            }
            long done = step + 1;

            if (done % o.LogInterval == 0 || done == o.MaxSteps)
            {
                int stepsInWindow = (int)(done - windowStart);
                windowStart = done;
                DataParallel.SumInPlace(group, lossSum);
                double loss = lossSum.item<float>() / stepsInWindow;
                lossSum.zero_();
                losses.Add((done, loss));
                double tps = windowTokens / windowClock.Elapsed.TotalSeconds;
                double perStep = windowClock.Elapsed.TotalSeconds / stepsInWindow;
                windowTokens = 0;
                windowClock.Restart();
                var eta = TimeSpan.FromSeconds((o.MaxSteps - done) * perStep);
                metrics?.Write(done, new() { ["loss"] = loss, ["lr"] = lr, ["tokens_per_s"] = tps });
                progress(new TrainProgress(done, o.MaxSteps, loss, lr, tps, clock.Elapsed, eta, lastDev, null));
            }
            if (group.Rank == 0 && devBatches.Count > 0 && (done % o.EvalInterval == 0 || done == o.MaxSteps))
            {
                devByTask = DevLoss(model, devBatches, device);
                lastDev = Pooled(devByTask, devBatches);
                var values = new Dictionary<string, double> { ["dev_loss"] = lastDev.Value };
                foreach (var (task, value) in devByTask) values[$"dev_loss/{task}"] = value;
                metrics?.Write(done, values);
                progress(new TrainProgress(done, o.MaxSteps, null, lr, 0, clock.Elapsed, TimeSpan.Zero, lastDev,
                    $"step {done}: dev loss {lastDev:F4} (" + string.Join(", ", devByTask.Select(kv => $"{kv.Key} {kv.Value:F3}")) + ")"));
            }
            if (done % o.CheckpointInterval == 0 && done < o.MaxSteps) SaveCheckpoint(done);
        }

        // 5. Checkpoint (always, so --resume works after Ctrl-C), then the outputs.
        SaveCheckpoint(step);
        string? final = null, adapter = null;
        if (!interrupted && group.Rank == 0)
        {
            model.eval();
            var marker = Marker(o, data, step, tokensSeen, trainedTokens, lastDev, devByTask);
            void Extra(string staging)
            {
                File.WriteAllText(Path.Combine(staging, TunedModelMarker.FileName), marker);
                File.WriteAllText(Path.Combine(staging, "recipe.json"), recipeJson);
            }
            if (lora is not null)
            {
                adapter = Path.Combine(o.Output, "adapter");
                LoraAdapter.Save(model, adapter, lora, staging =>
                {
                    tokenizer.Save(staging);   // the chat template travels with the adapter
                    Extra(staging);
                }, saveEmbeddingLayers: chat is not null ? true : null);   // the added tokens' trained rows travel with it too
                if (o.Merge)
                {
                    LoraAdapter.Merge(model);
                    final = Path.Combine(o.Output, "final");
                    ModelFolder.Save(final, model, tokenizer, ScalarType.Float32, Extra);
                }
            }
            else
            {
                final = Path.Combine(o.Output, "final");
                ModelFolder.Save(final, model, tokenizer, ScalarType.Float32, Extra);
            }
        }
        return new TuneResult(o.Output, step, tokensSeen, trainedTokens, lastDev, devByTask, interrupted, losses, final, adapter, clock.Elapsed);
    }

    /// <summary>Examples of a row with at least one loss-bearing position.</summary>
    internal static int TrainedExamples(PackedSequence row) => row.Spans.Count(span => Packing.Targets(row, span) > 0);

    /// <summary>Targets (loss-bearing positions) in a row.</summary>
    internal static int Targets(PackedSequence row)
    {
        int n = 0;
        foreach (int label in row.Labels) if (label != Packing.IgnoreIndex) n++;
        return n;
    }

    private static string Marker(TuneOptions o, TuneData data, long steps, long tokensSeen, long trainedTokens, double? dev,
        Dictionary<string, double> devByTask)
    {
        var marker = new JsonObject
        {
            ["stage"] = data.Stage,
            ["prompt_format"] = data.Format == PromptFormat.ChatMl ? "chatml" : "plain",
            ["base_model"] = o.Model,
            ["tasks"] = new JsonArray([.. data.Tasks.Select(t => JsonValue.Create(t))]),
            ["task_prefix"] = data.TaskPrefix,
            ["template_pool"] = data.Stage == "instruct" ? RecipeOptions.Name(o.Pool) : null,
            ["lora"] = o.Lora,
            ["merged"] = o.Lora && o.Merge,
            ["steps"] = steps,
            ["examples"] = data.Train.Count,
            ["tokens_seen"] = tokensSeen,
            ["trained_tokens"] = trainedTokens,
            ["dev_loss"] = dev,
            ["dev_loss_by_task"] = new JsonObject(devByTask.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        };
        return marker.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static List<IReadOnlyList<PackedSequence>> Batches(IReadOnlyList<EncodedExample> examples, int batch, int padId)
    {
        var batches = new List<IReadOnlyList<PackedSequence>>();
        for (int i = 0; i < examples.Count; i += batch)
            batches.Add(Packing.PadBatch([.. examples.Skip(i).Take(batch)], padId));
        return batches;
    }

    /// <summary>Mean per-token loss of each task's dev examples, in eval mode without gradients.</summary>
    private static Dictionary<string, double> DevLoss(CausalLM model, Dictionary<string, List<IReadOnlyList<PackedSequence>>> dev, Device device)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        model.eval();
        using (no_grad())
        {
            foreach (var (task, batches) in dev)
            {
                double sum = 0;
                long targets = 0;
                foreach (var rows in batches)
                {
                    using var scope = NewDisposeScope();
                    using var batch = Packing.ToBatch(rows, device);
                    var logits = model.Forward(batch.Ids, batch.Positions, batch.Mask, keep: batch.TrainedAt);   // (N, V)
                    sum += nn.functional.cross_entropy(logits.to_type(ScalarType.Float32), batch.TrainedLabels, reduction: nn.Reduction.Sum).item<float>();
                    targets += batch.Targets;
                }
                if (targets > 0) result[task] = sum / targets;
            }
        }
        model.train();
        return result;
    }

    private static double Pooled(Dictionary<string, double> byTask, Dictionary<string, List<IReadOnlyList<PackedSequence>>> dev)
    {
        double sum = 0;
        long n = 0;
        foreach (var (task, loss) in byTask)
        {
            long t = dev[task].Sum(b => b.Sum(Targets));
            sum += loss * t;
            n += t;
        }
        return n == 0 ? double.NaN : sum / n;
    }
}
