using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Data.Instructions;
using Tailor.Evaluation;
using Tailor.Model;
using Tailor.Text;
using Tailor.Torch;
using Tailor.Training;
using static TorchSharp.torch;

using Tailor.Evaluation.Report;
using CompareOptions = Tailor.Evaluation.Report.CompareOptions;
using Tailor.Recipes;
using static Tailor.Pipeline.Stages;

namespace Tailor.Pipeline;

/// <summary>
/// The main job (<c>tailor run</c>): the seed's experiment end to end. From each base model: a task fine-tune without
/// instructions, an instruction tune on the templated mixture (and, where the profile runs the ablation, on the first
/// base one with vague instructions only); then every model, the bases (k-shot where shots > 0) and the classic
/// baselines on every test set; then the
/// comparison report with paired statistics and the claims table. Stages whose inputs (options, data, upstream models,
/// code) did not change are skipped; an interrupted tuning resumes from its checkpoint.
/// </summary>
public static class MainJob
{
    /// <summary>Runs (or resumes) the job; the report's charts are <paramref name="charts"/>'s (none when it is null).</summary>
    public static RunResult Run(RunOptions options, RunEvents? events = null, IReportCharts? charts = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var o = options.Resolve();
        events ??= new RunEvents();
        charts ??= NoReportCharts.Instance;
        var clock = Stopwatch.StartNew();
        string folder = ChooseFolder(o);
        Directory.CreateDirectory(folder);
        // Everything said, and every stage boundary, also goes to run.log in the run folder (appended across resumes).
        using var log = new StreamWriter(Path.Combine(folder, "run.log"), append: true) { AutoFlush = true };
        void Log(string line)
        {
            lock (log) log.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm:ss}Z {line}");
        }
        var outer = events;
        events = new RunEvents
        {
            StageStarted = (i, n, name, description) => { Log($"[{i}/{n}] {name}: {description}"); outer.StageStarted?.Invoke(i, n, name, description); },
            StageFinished = (name, elapsed, skipped) => { Log($"{name}: {(skipped ? "unchanged, skipped" : $"done in {elapsed.TotalSeconds:F1} s")}"); outer.StageFinished?.Invoke(name, elapsed, skipped); },
            Train = p =>
            {
                if (p.Message is not null) Log(p.Message);
                else if (p.Loss is double loss && (p.Step == p.TotalSteps || p.Step % 10 == 0)) Log($"step {p.Step}/{p.TotalSteps} loss {loss:F4} lr {p.LearningRate:E2} {p.TokensPerSecond:F0} tok/s");
                outer.Train?.Invoke(p);
            },
            Items = outer.Items,
            Say = line => { Log(line); outer.Say?.Invoke(line); },
        };
        var say = events.Say;
        var profile = RunProfile.Of(o.Profile);
        say($"run folder {folder} (profile {RecipeOptions.Name(o.Profile)}: {(o.Limit == 0 ? "whole test sets" : $"{o.Limit} items per task")}, {o.Steps}/{o.StepsLarge} tuning steps, " +
            $"inputs {(o.MaxInputWords == 0 ? "whole" : $"cut at {o.MaxInputWords} words")}, answer caps x{o.MaxNewTokensScale})");
        TorchRuntime.SetThreads(o.Runtime.Threads);
        string code = CodeVersion();
        var folderHashes = new FolderHashes();
        string dataHash = folderHashes.Of([o.TaskData, o.Templates]);
        var bases = o.Bases();
        string first = bases[0].Name;
        var evalTasks = o.TaskList().SelectMany(t => t == "sentiment" ? new[] { "sentiment", "sentiment-imdb" } : [t]).ToList();

        // The plan: (name, kind, description, fingerprint inputs, action). Actions return nothing; outputs live in the stage folder.
        var stages = new List<(string Name, string Kind, string Description, Func<string> Fingerprint, Action<string> Act)>();
        var modelFolders = new Dictionary<string, string>(StringComparer.Ordinal);   // model name → folder to evaluate
        var modelPrints = new Dictionary<string, Func<string>>(StringComparer.Ordinal);
        var roles = new Dictionary<string, (string Role, string Base)>(StringComparer.Ordinal);

        foreach (var (name, baseFolder) in bases)
        {
            string baseName = "base-" + name;
            if (o.Profile == RunProfileName.Smoke)
            {
                // CI: tiny random bases (the shipped tokenizer), so every stage runs in seconds.
                string target = Path.Combine(folder, "models", baseName);
                int seed = stages.Count + 1;
                string tokenizerFolder = Directory.Exists(baseFolder) ? baseFolder : bases[0].Folder;
                stages.Add((baseName, "bases", $"tiny random base '{name}' with {tokenizerFolder}'s tokenizer", () => Hash("tiny", seed.ToString(CultureInfo.InvariantCulture), folderHashes.Of([tokenizerFolder]), code),
                    _ => MakeTinyBase(tokenizerFolder, target, seed)));
                string stageName = baseName;
                modelPrints[baseName] = () => StagePrint(folder, stageName);
                modelFolders[baseName] = target;
            }
            else
            {
                if (!Directory.Exists(baseFolder))
                    throw new TailorException($"base model {name}: {baseFolder} not found. The shipped bases are in models/; give others with --base-models NAME=DIR,...");
                modelFolders[baseName] = baseFolder;
                string bf = baseFolder;
                modelPrints[baseName] = () => folderHashes.Of([bf]);
            }
            roles[baseName] = ("base", name);
        }

        foreach (var (name, _) in bases)
        {
            string baseName = "base-" + name;
            bool isFirst = name == first;
            long steps = isFirst ? o.Steps!.Value : o.StepsLarge!.Value;
            var tunings = new List<(string Model, string Recipe, string Pool, string Role)>();
            if (isFirst || o.FinetuneAllBases == true) tunings.Add(("finetune-" + name, "finetune", "train", "finetuned"));
            tunings.Add(("instruct-" + name, "instruct", "train", "instruct"));
            if (isFirst && profile.VagueAblation) tunings.Add(("instruct-vague-" + name, "instruct", "vague", "instruct-vague"));
            foreach (var (model, recipe, pool, role) in tunings)
            {
                string output = Path.Combine(folder, "models", model);
                var tune = new TuneOptions
                {
                    Model = modelFolders[baseName], Output = output, Task = recipe == "finetune" ? string.Join(',', o.TaskList()) : null,
                    Tasks = string.Join(',', o.TaskList()), TaskData = o.TaskData, Templates = o.Templates, Pool = pool == "vague" ? TemplatePool.Vague : TemplatePool.Train,
                    MaxSteps = steps, WarmupSteps = Math.Max(1, steps / 10), Batch = o.Batch!.Value, Seed = o.Seed,
                    // Enough drawn examples that a step sees new ones: ~50 mixture examples fill 8 rows of 512 tokens.
                    Examples = (int)Math.Min(20000, Math.Max(64, steps * o.Batch!.Value * 8)),
                    Optimizer = new TuneOptions().Optimizer with { LearningRate = profile.Tuning.LearningRate }, MinLearningRate = profile.Tuning.LearningRate / 10,
                    MixtureCap = profile.Tuning.MixtureCap, LossNormalization = profile.Tuning.LossNormalization,
                    EvalInterval = (int)Math.Max(1, steps / 2), CheckpointInterval = (int)Math.Max(1, steps / 4), LogInterval = (int)Math.Clamp(steps / 20, 1, 10),
                    DevExamples = profile.DevExamples, Runtime = o.Runtime, Sequence = profile.Sequence,
                };
                var upstream = modelPrints[baseName];
                string desc = $"{recipe} {(pool == "vague" ? "with vague instructions " : "")}from {baseName}: {steps} steps x {tune.Batch} rows";
                stages.Add((model, "train", desc, () => Hash(model, RecipeOptions.ToJson(tune with { Output = "", Model = "", Runtime = tune.Runtime with { Threads = null } }), upstream(), dataHash, code),
                    fp => TrainStage(recipe, tune, fp, events, cancel)));
                string stageName = model;
                modelFolders[model] = Path.Combine(output, "final");
                modelPrints[model] = () => StagePrint(folder, stageName);
                roles[model] = (role, name);
            }
        }

        // The seed's fine-tuned BERT: a real pretrained encoder tuned into a sentiment classifier (smoke: a tiny random BERT).
        if (o.Encoder.Length > 0 && o.TaskList().Contains(EncoderStage.Task))
        {
            string shortName = EncoderStage.ShortName(o.Encoder), model = "finetune-" + shortName, output = Path.Combine(folder, "models", model);
            string source = o.Encoder;
            Func<string> encoderPrint = () => EncoderStage.Print(o.Encoder, folderHashes);
            if (o.Profile == RunProfileName.Smoke)
            {
                string tiny = "encoder-" + shortName, target = Path.Combine(folder, "models", tiny);
                var vocabularyPrint = encoderPrint;
                stages.Add((tiny, "bases", $"tiny random BERT with {o.Encoder}'s vocabulary", () => Hash("tiny-bert", vocabularyPrint(), code), _ => EncoderStage.MakeTinyBert(o.Encoder, target, 1)));
                (source, encoderPrint) = (target, () => StagePrint(folder, tiny));
            }
            var tune = EncoderStage.Options(source, output, o, profile);
            var upstream = encoderPrint;
            stages.Add((model, "train", $"finetune {(o.Profile == RunProfileName.Smoke ? "a tiny random BERT" : o.Encoder)} on {EncoderStage.Task}: {(tune.Examples > 0 ? $"{tune.Examples} seeded" : "all")} train examples, {tune.Epochs} epoch(s) of {tune.Batch}",
                () => Hash(model, RecipeOptions.ToJson(tune with { Output = "", Model = "", Runtime = tune.Runtime with { Threads = null } }), upstream(), dataHash, code),
                fp => EncoderStage.Train(tune, fp, events, cancel)));
            modelFolders[model] = Path.Combine(output, "final");
            modelPrints[model] = () => StagePrint(folder, model);
            roles[model] = (EncoderClaim.Role, "-");
        }

        // Evaluations: baselines, bases zero- and k-shot, every tuned model.
        var evaluations = new Dictionary<string, string>(StringComparer.Ordinal);
        var evalPlan = new List<(string Name, EvalOptions Options, Func<string> Upstream)>
        {
            ("classic-baselines", new EvalOptions { Baseline = "classic", Name = "classic-baselines", Afinn = o.Afinn }, () => folderHashes.Of([Path.GetDirectoryName(Path.GetFullPath(o.Afinn))!])),
        };
        roles["classic-baselines"] = ("baseline", "-");
        foreach (var (model, modelFolder) in modelFolders)
        {
            // A base is evaluated once, the way it can answer: k-shot where shots > 0 (FLAN's reference is the few-shot
            // base; a 9M base asked zero-shot rarely writes an answer at all), zero-shot otherwise. Its label tasks are
            // answered by rank classification either way (EvalOptions.LabelAnswers, auto).
            bool isBase = model.StartsWith("base-", StringComparison.Ordinal);
            if (isBase && o.Shots > 0 && (o.KshotAllBases == true || model == "base-" + first))
            {
                string k = $"{model}-{o.Shots}shot";
                evalPlan.Add((k, new EvalOptions { Model = modelFolder, Name = k, Format = EvalFormat.Base, Shots = o.Shots!.Value }, modelPrints[model]));
                roles[k] = roles[model];
                roles.Remove(model);
            }
            else evalPlan.Add((model, new EvalOptions { Model = modelFolder, Name = model, Format = isBase ? EvalFormat.Base : EvalFormat.Auto }, modelPrints[model]));
        }
        foreach (var (name, eo, upstream) in evalPlan)
        {
            string output = Path.Combine(folder, "eval", name);
            var full = eo with
            {
                Tasks = roles.TryGetValue(name, out var r) && r.Role == EncoderClaim.Role ? EncoderStage.Tasks : string.Join(',', evalTasks), TaskData = o.TaskData, Templates = o.Templates, Output = output, Limit = o.Limit!.Value,
                Seed = o.Seed, Runtime = o.Runtime, BatchSize = o.EvalBatch,
                MaxInputWords = o.MaxInputWords!.Value, MaxNewTokensScale = o.MaxNewTokensScale!.Value,
            };
            evaluations[name] = output;
            string desc = eo.Baseline is not null ? "classic baselines (AFINN, Lead-1, copy)" : $"evaluate {name}{(eo.Shots > 0 ? $" ({eo.Shots}-shot)" : "")}";
            stages.Add(("eval-" + name, "eval", desc, () => Hash("eval", RecipeOptions.ToJson(full with { Output = "", Model = "", Runtime = full.Runtime with { Threads = null } }), upstream(), dataHash, code),
                _ => Evaluate.Run(full, p => events.Items?.Invoke(p.Task, p.Done, p.Total, p.Elapsed), say, cancel)));
        }

        string reportFolder = Path.Combine(folder, "report");
        string mainTable = "";
        stages.Add(("report", "report", "main table, paired statistics, claims, report.md/html",
            () => Hash("report", o.Resamples.ToString(CultureInfo.InvariantCulture), o.Seed.ToString(CultureInfo.InvariantCulture),
                string.Join(",", evaluations.Keys.Select(k => StagePrint(folder, "eval-" + k))), code, charts.GetType().FullName!),
            _ => mainTable = WriteReport(folder, reportFolder, evaluations, roles, o, say, charts)));

        // Run the plan.
        var records = new List<StageRecord>();
        for (int i = 0; i < stages.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var (name, kind, description, fingerprint, act) = stages[i];
            events.StageStarted?.Invoke(i + 1, stages.Count, name, description);
            string fp = fingerprint();
            string stageDir = Path.Combine(folder, "stages", name);
            var previous = ReadStage(stageDir);
            var stageClock = Stopwatch.StartNew();
            bool skip = !o.Force && previous is { Status: "done" } && previous.Fingerprint == fp;
            if (!skip)
            {
                Directory.CreateDirectory(stageDir);
                WriteStage(stageDir, fp, "running", 0);
                act(fp);
                WriteStage(stageDir, fp, "done", stageClock.Elapsed.TotalSeconds);
            }
            records.Add(new StageRecord(name, kind, fp, skip ? 0 : stageClock.Elapsed.TotalSeconds, skip));
            events.StageFinished?.Invoke(name, stageClock.Elapsed, skip);
            WriteManifest(folder, o, records, clock.Elapsed, finished: false);
        }
        if (mainTable.Length == 0 && File.Exists(Path.Combine(reportFolder, "main-table.md")))
            mainTable = File.ReadAllText(Path.Combine(reportFolder, "main-table.md"));
        WriteManifest(folder, o, records, clock.Elapsed, finished: true);
        return new RunResult(folder, records, evaluations, roles, mainTable, reportFolder, clock.Elapsed);
    }

    private static void TrainStage(string recipe, TuneOptions tune, string fingerprint, RunEvents events, CancellationToken cancel)
    {
        // A checkpoint left by an interrupted attempt with the same fingerprint is resumed; anything else starts over.
        string marker = Path.Combine(tune.Output, "run-fingerprint.txt");
        bool resume = File.Exists(marker) && File.ReadAllText(marker).Trim() == fingerprint && Directory.Exists(Path.Combine(tune.Output, "checkpoint"));
        if (!resume && Directory.Exists(tune.Output)) Directory.Delete(tune.Output, recursive: true);
        Directory.CreateDirectory(tune.Output);
        File.WriteAllText(marker, fingerprint + "\n");
        if (resume) events.Say?.Invoke($"resuming {tune.Output} from its checkpoint");
        var o = tune with { Resume = resume };
        var result = recipe == "finetune" ? Finetune.Run(o, events.Train, cancel) : Instruct.Run(o, events.Train, cancel);
        if (result.Interrupted) throw new OperationCanceledException("interrupted; run `tailor run` again to resume.");
    }

    private static void MakeTinyBase(string tokenizerFolder, string target, int seed)
    {
        var tokenizer = TextTokenizer.Load(tokenizerFolder);
        tokenizer.ChatTemplate = null;
        var config = LlamaConfig.Preset("tiny", tokenizer.VocabSize);
        config.EosTokenId = [tokenizer.EosId ?? throw new TailorException($"{tokenizerFolder}: the tokenizer has no EOS token.")];
        config.PadTokenId = tokenizer.PadId;
        using var model = LlamaForCausalLM.FromConfig(config, seed);
        ModelFolder.Save(target, model, tokenizer, ScalarType.Float32);
        File.WriteAllText(Path.Combine(target, "README.md"), Provenance.RandomCard(Path.GetFileName(target), $"A tiny random base for the smoke profile of `tailor run`, with {tokenizerFolder}'s tokenizer.", seed));
    }

    private static string WriteReport(string folder, string reportFolder, IReadOnlyDictionary<string, string> evaluations,
        IReadOnlyDictionary<string, (string Role, string Base)> roles, RunOptions o, Action<string> say, IReportCharts charts)
    {
        Directory.CreateDirectory(reportFolder);
        var runs = evaluations.Values.Select(e => EvalRun.Load(e).Run).ToList();
        string table = MainTable.Markdown(runs, o.Limit!.Value) +
            (o.MaxInputWords > 0 || o.MaxNewTokensScale != 1.0
                ? string.Create(CultureInfo.InvariantCulture, $"Profile `{RecipeOptions.Name(o.Profile)}`: inputs cut at {o.MaxInputWords} words, answer caps ×{o.MaxNewTokensScale} (summaries {(int)Math.Round(32 * o.MaxNewTokensScale!.Value)}, translations {(int)Math.Round(96 * o.MaxNewTokensScale!.Value)} tokens), {o.Steps} tuning steps per model.\n")
                : "");
        File.WriteAllText(Path.Combine(reportFolder, "main-table.md"), table);
        var rolesJson = new JsonObject();
        foreach (var (name, (role, b)) in roles.Where(r => evaluations.ContainsKey(r.Key)))
            rolesJson[name] = new JsonObject { ["role"] = role, ["base"] = b };
        string rolesPath = Path.Combine(reportFolder, "roles.json");
        File.WriteAllText(rolesPath, rolesJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        var report = Compare.Run(new CompareOptions
        {
            Inputs = [.. evaluations.Values], Output = reportFolder, Roles = rolesPath, Resamples = o.Resamples, Seed = (ulong)o.Seed,
            Data = o.TaskData,
            Logs = Directory.Exists(Path.Combine(folder, "models"))
                ? [.. Directory.GetDirectories(Path.Combine(folder, "models")).Where(d => File.Exists(Path.Combine(d, "metrics.jsonl"))).Order(StringComparer.Ordinal)]
                : [], Baseline = evaluations.Keys.First(k => roles[k].Role == "base"),
            NoContamination = false,
        }, say, charts);
        File.WriteAllText(Path.Combine(reportFolder, "claims.md"), MainTable.ClaimsMarkdown(report.Claims, o.Limit!.Value));
        return table;
    }
}
