using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Evaluation;
using Tailor.Formats;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Torch;
using Tailor.Training;
using TorchSharp;
using static TorchSharp.torch;
using Tailor.Evaluation.Metrics;

namespace Tailor.Recipes;

/// <summary>What an encoder fine-tuning run produced.</summary>
/// <param name="Output">The run folder.</param>
/// <param name="Steps">Optimizer steps done (the checkpoint's step when interrupted).</param>
/// <param name="TotalSteps">Steps the run was planned for (epochs × batches per epoch).</param>
/// <param name="Interrupted">Stopped by cancellation; a checkpoint was saved.</param>
/// <param name="Labels">Class names in class-index order (id2label).</param>
/// <param name="Losses">Training loss per logged step.</param>
/// <param name="BestDevAccuracy">Highest dev accuracy measured, and the step it was reached at (null without a dev split).</param>
/// <param name="BestStep">The step of <paramref name="BestDevAccuracy"/>.</param>
/// <param name="Kept">"best" or "last": which weights final/ holds.</param>
/// <param name="Dev">Accuracy and macro-F1 of final/ on the dev split (null without one or when interrupted).</param>
/// <param name="Test">Accuracy and macro-F1 of final/ on the test split (null without one or when interrupted).</param>
/// <param name="FinalModel">final/: the HF *ForSequenceClassification folder; null when interrupted.</param>
/// <param name="Elapsed">Wall time of the run.</param>
/// <param name="Adapter">adapter/: with LoRA, the kept weights' adapter in PEFT's SEQ_CLS layout (<see cref="EncoderAdapter"/>); else null.</param>
public sealed record EncoderTuneResult(string Output, long Steps, long TotalSteps, bool Interrupted, IReadOnlyList<string> Labels,
    IReadOnlyList<(long Step, double Loss)> Losses, double? BestDevAccuracy, long? BestStep, string Kept,
    (double Accuracy, double MacroF1)? Dev, (double Accuracy, double MacroF1)? Test, string? FinalModel, TimeSpan Elapsed, string? Adapter = null);

/// <summary>
/// <c>tailor finetune --model ENCODER --task sentiment</c>: a BERT/RoBERTa encoder (a folder, or all-MiniLM-L6-v2 /
/// snowflake-arctic-embed-xs) becomes an HF <c>BertForSequenceClassification</c> / <c>RobertaForSequenceClassification</c>,
/// trained in full or with LoRA on the encoder and the head in full. Straight-line: data and labels → model (fresh
/// head) → LoRA or all weights → AdamW (two groups) with warm-up and linear/cosine decay → one cross-entropy step per
/// batch, dev accuracy each epoch or N steps, the best weights kept in best/ → checkpoint → final/ (merged, HF names,
/// tokenizer, model card with dev and test scores), and with LoRA adapter/ (the same weights as a PEFT SEQ_CLS adapter).
/// </summary>
/// <remarks>
/// Deterministic: the head and LoRA's A are drawn from the seed, epoch e's order is the permutation seeded by (seed, e),
/// and torch's RNG is reseeded from (seed, step) before every step (dropout), so step n depends on the seed and n only
/// and a resumed run repeats the uninterrupted one. Weights, optimizer and loss stay in float32.
/// </remarks>
public static class FinetuneEncoder
{
    /// <summary>The file in final/ that says how the classifier was made (stage, task, labels, scores).</summary>
    public const string MarkerFile = TunedModelMarker.FileName;

    /// <summary>Runs the recipe. Cancelling <paramref name="cancel"/> (Ctrl-C) saves a checkpoint and returns.</summary>
    public static EncoderTuneResult Run(EncoderTuneOptions o, Action<TrainProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.Validate();
        progress ??= _ => { };
        void Say(string message) => progress(new TrainProgress(0, 0, null, 0, 0, TimeSpan.Zero, TimeSpan.Zero, null, message));
        var clock = Stopwatch.StartNew();
        string folder = PretrainedEncoders.Resolve(o.Model, Say);
        if (!Directory.Exists(folder))
            throw new TailorException($"--model {o.Model}: no such folder. Give a BERT/RoBERTa folder or one of {string.Join(", ", PretrainedEncoders.Names)}.");
        if (!BertConfig.IsEncoderFolder(folder))
            throw new TailorException($"--model {folder}: config.json does not name a BERT or RoBERTa encoder (model_type bert/roberta); the encoder recipe trains those only.");
        var task = EvalTask.Get(o.Task, o.TaskData);
        if (!task.IsClassification)
            throw new TailorException($"--task {o.Task} is a {task.Kind} task; an encoder classifier trains on label tasks (sentiment). Generation tasks need a decoder (Llama/Qwen2/GPT-2).");
        var device = TorchRuntime.SelectDevice(o.Runtime.Device);
        TorchRuntime.SetThreads(o.Runtime.Threads);
        Checkpoint.RefuseModelFolder(o.Output);
        string checkpointDir = Path.Combine(o.Output, "checkpoint");
        string bestDir = Path.Combine(o.Output, "best");
        string bestAdapterDir = Path.Combine(o.Output, "best-adapter");   // with LoRA: best/'s weights as an adapter
        foreach (string action in HfCheckpoint.RecoverInterruptedSave(checkpointDir)) Say(action);
        if (!o.Resume && Directory.Exists(checkpointDir))
            throw new TailorException($"{checkpointDir} exists: pass --resume true to continue that run, or choose another --output.");
        if (o.Resume && !Directory.Exists(checkpointDir))
            throw new TailorException($"--resume: {checkpointDir} does not exist; nothing to resume.");
        if (o.Resume) Checkpoint.RefuseChangedOptions(checkpointDir, RecipeOptions.ToJson(o), ["lora", "lora_rank", "lora_alpha", "lora_dropout", "lora_targets", "task"]);

        // 1. Data: the label set is the sorted distinct answers of the train split; dev and test must use no other.
        var train = task.Read(task.TrainFile!);
        string devFile = task.TestFile.Replace(".test.", ".dev.", StringComparison.Ordinal);
        var dev = File.Exists(devFile) ? task.Read(devFile) : [];
        var test = File.Exists(task.TestFile) ? task.ReadTest() : [];
        var labels = train.Select(r => r.References[0]).Distinct().Order(StringComparer.Ordinal).ToList();
        if (labels.Count < 2)
            throw new TailorException($"{task.TrainFile}: field \"{task.AnswerField}\" has {labels.Count} distinct value(s); a classifier needs at least two labels.");
        foreach (var (file, records) in new[] { (devFile, dev), (task.TestFile, test) })
            if (records.FirstOrDefault(r => !labels.Contains(r.References[0])) is { } odd)
                throw new TailorException($"{file}: item {odd.Id} has label \"{odd.References[0]}\", which the train split never uses ({string.Join(", ", labels)}).");
        if (o.Examples > 0 && o.Examples < train.Count)
        {
            // A seeded subset, kept in file order: the same seed and cap give the same examples.
            int[] pick = Seeds.Permutation(train.Count, o.Seed, -1)[..o.Examples];
            Array.Sort(pick);
            Say($"training on a seeded subset of {o.Examples:N0} of the {train.Count:N0} train examples (examples = {o.Examples})");
            train = [.. pick.Select(i => train[i])];
        }
        Say($"task {task.Name}: {train.Count:N0} train, {dev.Count:N0} dev, {test.Count:N0} test; labels {string.Join(", ", labels.Select((l, i) => $"{i}={l}"))}");

        // 2. Model: the encoder with a fresh head for these labels (seeded), unless the folder is already a classifier for them.
        var sourceConfig = BertConfig.FromPretrained(folder);
        bool keepHead = sourceConfig.IsClassifier && sourceConfig.Labels.SequenceEqual(labels);
        manual_seed(o.Seed);
        using var encoder = PretrainedEncoder.Load(folder, keepHead ? null : labels);
        var classifier = encoder.Classifier!;
        var model = encoder.Module;
        if (device.type != DeviceType.CPU) model.to(device);
        var config = encoder.Config;
        Say($"model {folder}: {config.Architectures[0]}, {config.NumHiddenLayers} layers, width {config.HiddenSize}, {(keepHead ? "its own head" : "a fresh head")}");
        var trainInputs = train.Select(r => encoder.Tokenizer.Encode(r.Input, o.MaxLength)).ToList();
        var trainLabels = train.Select(r => labels.IndexOf(r.References[0])).ToArray();
        int cut = train.Count(r => encoder.Tokenizer.Encode(r.Input, int.MaxValue).Ids.Length > o.MaxLength);
        if (cut > 0) Say($"{cut:N0} of {train.Count:N0} training texts are longer than max_length {o.MaxLength} tokens and were cut at the end");

        // 3. What trains: every weight, or LoRA adapters plus the parameters the checkpoint did not have (head, pooler).
        var names = model.named_parameters().Select(p => p.name).ToList();
        bool freshPooler = !config.IsRoberta && !EncoderWeights.HasPooler(folder, sourceConfig);
        var trainInFull = names.Where(n => n.StartsWith("classifier.", StringComparison.Ordinal)
            || (freshPooler && n.Contains(".pooler.", StringComparison.Ordinal))).ToHashSet(StringComparer.Ordinal);
        if (o.Lora)
        {
            manual_seed(o.Seed + 1);   // LoRA's A is random: seeded, so the same options give the same run
            var adapted = EncoderLora.Apply(classifier, EncoderLora.ParseTargets(o.Adapter.Targets, "lora_targets"), o.Adapter.Rank, o.Adapter.Alpha, o.Adapter.Dropout, trainInFull);
            Say($"LoRA r={o.Adapter.Rank} alpha={o.Adapter.Alpha} on {adapted.Count} layers ({o.Adapter.Targets}); trained in full: {string.Join(", ", trainInFull.Order(StringComparer.Ordinal))}");
        }
        else
        {
            foreach (var p in model.parameters()) p.requires_grad = true;
        }
        // The adapter names its base as PEFT would: a pretrained encoder's hub id (also when --model was its converted
        // folder, as the CLI passes it), which Tailor resolves like --model and PEFT from the hub; else the folder's full path.
        string adapterBase = (PretrainedEncoders.Find(o.Model) ?? PretrainedEncoders.Find(PretrainedEncoders.NameOf(folder) ?? ""))?.HubId ?? Path.GetFullPath(folder);
        long trainable = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        Say($"{(o.Lora ? "LoRA" : "full")} tuning: {trainable:N0} of {model.parameters().Sum(p => p.numel()):N0} parameters train; peak learning rate {o.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}");
        if (o.Lora && o.Optimizer.LearningRate < 1e-4)
            Say($"note: LoRA at a full-tuning learning rate ({o.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}) learns slowly: adapters start at zero and want more: --learning-rate 2e-3 was best on the dev split for all-MiniLM-L6-v2 (docs/encoders.md)");
        model.train();
        double lr0 = o.Optimizer.LearningRate;
        using var optimizer = Optimizers.AdamW(model, lr0, o.Optimizer.WeightDecay, beta1: 0.9, beta2: o.Optimizer.Beta2);
        int perEpoch = (trainInputs.Count + o.Batch - 1) / o.Batch;   // the last, smaller batch is kept (drop_last = false)
        long total = (long)perEpoch * o.Epochs;
        long warmup = (long)Math.Ceiling(total * o.WarmupRatio);
        int evalEvery = o.EvalInterval > 0 ? o.EvalInterval : perEpoch;
        Say($"{perEpoch} batches of {o.Batch} per epoch, {o.Epochs} epoch(s): {total} steps, {warmup} warm-up, {RecipeOptions.Name(o.Schedule)} decay; dev accuracy every {evalEvery} steps, final/ keeps the {RecipeOptions.Name(o.Keep)} weights");

        long startStep = 0;
        double? bestAccuracy = null;
        long? bestStep = null;
        string metricsPath = Path.Combine(o.Output, "metrics.jsonl");
        Directory.CreateDirectory(o.Output);
        if (o.Resume)
        {
            HfCheckpoint.LoadInto(model, checkpointDir);
            startStep = Checkpoint.LoadOptimizer(checkpointDir, optimizer);
            var state = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpointDir, Checkpoint.StateFile)));
            bestAccuracy = state?["best_dev_accuracy"]?.GetValue<double?>();
            bestStep = state?["best_step"]?.GetValue<long?>();
            MetricsLog.TruncateAfter(metricsPath, startStep);
            Say($"resumed from {checkpointDir} at step {startStep}" + (bestStep is null ? "" : $" (best dev accuracy {bestAccuracy:F4} at step {bestStep})"));
        }
        else if (File.Exists(metricsPath)) File.Delete(metricsPath);
        string recipeJson = RecipeOptions.ToJson(o);
        File.WriteAllText(Path.Combine(o.Output, "recipe.json"), recipeJson);

        void SaveCheckpoint(long at) =>
            HfCheckpoint.Save(checkpointDir, model.state_dict(), config.ToJson(), new HfSaveOptions
            {
                WriteExtraFiles = staging =>
                {
                    optimizer.save_state_dict(Path.Combine(staging, Checkpoint.OptimizerFile));
                    File.WriteAllText(Path.Combine(staging, Checkpoint.StateFile),
                        new JsonObject { ["step"] = at, ["best_dev_accuracy"] = bestAccuracy, ["best_step"] = bestStep }.ToJsonString());
                    File.WriteAllText(Path.Combine(staging, "recipe.json"), recipeJson);
                },
            });

        // 4. The loop: one batch per step, cross-entropy over the labels, the loss read back every log_interval steps.
        using var metrics = new MetricsLog(o.Output, append: o.Resume);
        var losses = new List<(long, double)>();
        using var lossSum = zeros(1, device: device).DetachFromDisposeScope();
        var windowClock = Stopwatch.StartNew();
        long windowTokens = 0, step = startStep, windowStart = startStep;   // a resumed run's first window may be short
        bool interrupted = false;
        int[]? order = null;
        long orderEpoch = -1;
        for (; step < total; step++)
        {
            if (cancel.IsCancellationRequested)
            {
                interrupted = true;
                break;
            }
            long epoch = step / perEpoch;
            if (epoch != orderEpoch)
            {
                order = Seeds.Permutation(trainInputs.Count, o.Seed, epoch);
                orderEpoch = epoch;
            }
            var members = order!.Skip((int)(step % perEpoch) * o.Batch).Take(o.Batch).ToArray();
            double lr = o.Schedule == LrSchedule.Cosine
                ? Optimizers.CosineWithWarmup(step, warmup, total, lr0, 0)
                : Optimizers.WarmupStableDecay(step, warmup, total, total - warmup, lr0, 0);   // decay over every step after warm-up: linear
            Optimizers.SetLearningRate(optimizer, lr);
            manual_seed(Seeds.BatchSeed(o.Seed, step, -1));   // dropout masks depend on (seed, step) only
            using (var scope = NewDisposeScope())
            {
                var (ids, mask, types) = EncoderClassifier.ToBatch([.. members.Select(i => trainInputs[i])], encoder.Tokenizer.PadId, device);
                var target = tensor(members.Select(i => (long)trainLabels[i]).ToArray(), device: device);   // (B)
                var logits = classifier.Logits(ids, mask, types);                                             // (B, L)
                var loss = nn.functional.cross_entropy(logits, target);
                loss.backward();
                lossSum.add_(loss.detach(), Scalars.One);
                windowTokens += members.Sum(i => trainInputs[i].Ids.Length);
                if (o.Optimizer.GradClip > 0) nn.utils.clip_grad_norm_(model.parameters().Where(p => p.requires_grad), o.Optimizer.GradClip);
                optimizer.step();
                optimizer.zero_grad();
            }
            long done = step + 1;
            if (done % o.LogInterval == 0 || done == total)
            {
                int window = (int)(done - windowStart);
                windowStart = done;
                double loss = lossSum.item<float>() / window;
                lossSum.zero_();
                losses.Add((done, loss));
                double tps = windowTokens / windowClock.Elapsed.TotalSeconds;
                var eta = TimeSpan.FromSeconds((total - done) * windowClock.Elapsed.TotalSeconds / window);
                windowTokens = 0;
                windowClock.Restart();
                metrics.Write(done, new() { ["loss"] = loss, ["lr"] = lr, ["tokens_per_s"] = tps });
                progress(new TrainProgress(done, total, loss, lr, tps, clock.Elapsed, eta, null, null));
            }
            if (dev.Count > 0 && (done % evalEvery == 0 || done == total))
            {
                var (accuracy, f1) = Score(classifier, encoder, dev, labels, o.MaxLength, device);
                model.train();
                metrics.Write(done, new() { ["dev_accuracy"] = accuracy, ["dev_macro_f1"] = f1 });
                string note = "";
                if (bestAccuracy is null || accuracy > bestAccuracy)
                {
                    bestAccuracy = accuracy;
                    bestStep = done;
                    if (o.Keep == KeepWeights.Best)
                    {
                        using var scope = NewDisposeScope();
                        EncoderClassifier.Save(bestDir, EncoderLora.MergedStateDict(classifier), config, encoder, folder, null, null);
                        if (o.Lora) EncoderAdapter.Save(classifier, bestAdapterDir, adapterBase, o.Adapter.Dropout, trainInFull);
                        note = " (best so far, saved to best/)";
                    }
                }
                progress(new TrainProgress(done, total, null, lr, 0, clock.Elapsed, TimeSpan.Zero, null,
                    string.Create(CultureInfo.InvariantCulture, $"step {done} (epoch {(double)done / perEpoch:0.##}): dev accuracy {accuracy:0.0000}, macro-F1 {f1:0.0000}{note}")));
            }
            if (done % o.CheckpointInterval == 0 && done < total) SaveCheckpoint(done);
        }

        // 5. Checkpoint (always, so --resume works after Ctrl-C), then final/: the kept weights, merged, scored, with a card.
        SaveCheckpoint(step);
        if (interrupted)
            return new EncoderTuneResult(o.Output, step, total, true, labels, losses, bestAccuracy, bestStep, RecipeOptions.Name(o.Keep), null, null, null, clock.Elapsed);
        model.eval();
        string kept = o.Keep == KeepWeights.Best && bestStep is not null ? "best" : "last";
        string? adapter = o.Lora ? Path.Combine(o.Output, "adapter") : null;
        if (adapter is not null)
        {
            // adapter/ holds the weights final/ holds: the last step's adapter, or best-adapter/ written beside best/.
            if (kept == "last") EncoderAdapter.Save(classifier, adapter, adapterBase, o.Adapter.Dropout, trainInFull);
            else if (Directory.Exists(bestAdapterDir))
            {
                if (Directory.Exists(adapter)) HfCheckpoint.TryDeleteFolder(adapter);   // an earlier run's, of this --output
                Directory.Move(bestAdapterDir, adapter);
            }
            else
            {
                Say($"note: {bestAdapterDir} is missing (its checkpoint predates adapters), so no adapter/ of the best weights is written; final/ has them merged");
                adapter = null;
            }
            EncoderLora.Merge(classifier);
        }
        if (kept == "best") HfCheckpoint.LoadInto(model, bestDir);
        (double, double)? devScore = dev.Count > 0 ? Score(classifier, encoder, dev, labels, o.MaxLength, device) : null;
        (double, double)? testScore = test.Count > 0 ? Score(classifier, encoder, test, labels, o.MaxLength, device) : null;
        string final = Path.Combine(o.Output, "final");
        var marker = new JsonObject
        {
            ["stage"] = "finetune",
            ["kind"] = "encoder-classifier",
            ["base_model"] = o.Model,
            ["tasks"] = new JsonArray(JsonValue.Create(task.Name)),
            ["labels"] = new JsonArray([.. labels.Select(l => JsonValue.Create(l))]),
            ["lora"] = o.Lora,
            ["merged"] = o.Lora,
            ["steps"] = step,
            ["kept"] = kept,
            ["kept_step"] = kept == "best" ? bestStep : step,
            ["examples"] = train.Count,
            ["max_length"] = o.MaxLength,
            ["dev_accuracy"] = devScore?.Item1,
            ["dev_macro_f1"] = devScore?.Item2,
            ["test_accuracy"] = testScore?.Item1,
            ["test_macro_f1"] = testScore?.Item2,
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        string card = Card(o, task, folder, config, labels, train.Count, dev.Count, test.Count, step, kept, kept == "best" ? bestStep!.Value : step,
            devScore, testScore, clock.Elapsed);
        EncoderClassifier.Save(final, model.state_dict(), config, encoder, folder, marker, card, recipeJson);
        if (adapter is not null) File.WriteAllText(Path.Combine(adapter, MarkerFile), marker);   // the labels, which PEFT's files do not keep
        if (kept == "best") HfCheckpoint.TryDeleteFolder(bestDir);   // final/ now holds those weights
        return new EncoderTuneResult(o.Output, step, total, false, labels, losses, bestAccuracy, bestStep, kept, devScore, testScore, final, clock.Elapsed, adapter);
    }

    /// <summary>Accuracy and macro-F1 (over the label set) of <paramref name="records"/>, in eval mode without gradients.</summary>
    private static (double Accuracy, double MacroF1) Score(ISequenceClassifier classifier, PretrainedEncoder encoder, IReadOnlyList<EvalRecord> records,
        IReadOnlyList<string> labels, int maxLength, Device device)
    {
        var predicted = EncoderClassifier.Predict(classifier, encoder.Tokenizer, [.. records.Select(r => r.Input)], maxLength, device);
        var names = predicted.Select(p => labels[p]).ToList();
        var gold = records.Select(r => r.References[0]).ToList();
        return (Classification.Accuracy(gold, names), Classification.MacroF1(gold, names, labels));
    }

    /// <summary>A Hugging Face model card: what was trained, on what, how, and the scores.</summary>
    private static string Card(EncoderTuneOptions o, EvalTask task, string folder, BertConfig config, IReadOnlyList<string> labels, int trainCount,
        int devCount, int testCount, long steps, string kept, long keptStep, (double, double)? dev, (double, double)? test, TimeSpan elapsed)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("---");
        sb.AppendLine("library_name: transformers");
        sb.AppendLine("pipeline_tag: text-classification");
        sb.AppendLine(inv, $"base_model: {o.Model}");
        sb.AppendLine("tags: [tailor, text-classification]");
        sb.AppendLine("---");
        sb.AppendLine(inv, $"# {config.Architectures[0]} fine-tuned on {task.Name}");
        sb.AppendLine();
        sb.AppendLine(inv, $"Made by Tailor's `finetune` encoder recipe from `{o.Model}` (`{folder}`): {config.NumHiddenLayers} layers, width {config.HiddenSize}, "
            + $"{(o.Lora ? $"LoRA (r={o.Adapter.Rank}, alpha={o.Adapter.Alpha}, targets {o.Adapter.Targets}; merged into the weights, head trained in full)" : "full fine-tuning")}.");
        sb.AppendLine();
        sb.AppendLine(inv, $"Labels (id2label): {string.Join(", ", labels.Select((l, i) => $"{i} = {l}"))}.");
        sb.AppendLine();
        sb.AppendLine(inv, $"Trained on `{task.TrainFile}` ({trainCount:N0} examples, field `{task.InputField}` → `{task.AnswerField}`) for {o.Epochs} epoch(s), {steps} steps of {o.Batch}, "
            + $"peak learning rate {o.Optimizer.LearningRate.ToString(inv)} ({RecipeOptions.Name(o.Schedule)} decay after {o.WarmupRatio.ToString(inv)} warm-up), max length {o.MaxLength}, seed {o.Seed}, in {elapsed:m\\:ss}. "
            + $"These are the {(kept == "best" ? $"weights of the best dev accuracy (step {keptStep})" : "weights after the last step")}.");
        sb.AppendLine();
        sb.AppendLine("| split | items | accuracy | macro-F1 |");
        sb.AppendLine("|---|---|---|---|");
        if (dev is var (da, df)) sb.AppendLine(inv, $"| dev (model selection) | {devCount} | {da:0.0000} | {df:0.0000} |");
        if (test is var (ta, tf)) sb.AppendLine(inv, $"| test | {testCount} | {ta:0.0000} | {tf:0.0000} |");
        sb.AppendLine();
        sb.AppendLine("Score it on more tasks with `tailor eval --model THIS_FOLDER --tasks sentiment,sentiment-imdb`.");
        return sb.ToString();
    }
}
