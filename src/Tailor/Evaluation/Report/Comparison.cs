using System.Text.Json;
using Tailor.Evaluation.Statistics;

namespace Tailor.Evaluation.Report;

/// <summary>
/// The parts of a comparison report (<c>tailor compare</c>): evaluation folders loaded and given roles, the reference
/// picked, each task's shape, no-model floor and section (scores, paired statistics, degeneracy, off-task, efficiency,
/// templates, examples), contamination and training curves, and the cache of paired statistics the claims read.
/// </summary>
public static class Comparison
{
    /// <summary>The roles a roles file may give.</summary>
    public static readonly IReadOnlyList<string> KnownRoles = ["base", "base-kshot", "finetuned", "instruct", "instruct-vague", "baseline", EncoderClaim.Role];

    /// <summary>The primary metric of a task for the claims: accuracy for sentiment, rougeL for summaries, chrF for translation.</summary>
    public static string PrimaryMetric(string task, IReadOnlyCollection<string> available)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(available);
        string[] wanted = task.StartsWith("sentiment", StringComparison.Ordinal) ? ["accuracy", "acc"]
            : task.StartsWith("summarization", StringComparison.Ordinal) ? ["rougeL"]
            : task.StartsWith("translation", StringComparison.Ordinal) ? ["chrf", "bleu"]
            : [];
        return wanted.FirstOrDefault(available.Contains) ?? available.FirstOrDefault() ?? "";
    }

    /// <summary>A loaded evaluation folder.</summary>
    internal sealed class LoadedModel(string name, string folder, EvalRun run, IReadOnlyList<EvalItem> items)
    {
        public string Name { get; } = name;
        public string Folder { get; } = folder;
        public EvalRun Run { get; } = run;
        public string? Role { get; set; }
        public string? Base { get; set; }
        public double? BaseSize { get; set; }

        /// <summary>Task → units (test id → its items, in file order), ids in first-seen order.</summary>
        public Dictionary<string, (List<string> Ids, Dictionary<string, List<EvalItem>> Units)> ByTask { get; } = Group(items);

        public ModelEntry Entry => new(Name, Folder, Run.Kind, Role, Base, Run.Model, Run.ModelHash, Run.DataHash);

        public TaskResult? Result(string task) => Run.Tasks.FirstOrDefault(t => t.Task == task);

        private static Dictionary<string, (List<string>, Dictionary<string, List<EvalItem>>)> Group(IReadOnlyList<EvalItem> items)
        {
            var d = new Dictionary<string, (List<string>, Dictionary<string, List<EvalItem>>)>(StringComparer.Ordinal);
            foreach (var item in items)
            {
                if (!d.TryGetValue(item.Task, out var t)) d[item.Task] = t = ([], new(StringComparer.Ordinal));
                if (!t.Item2.TryGetValue(item.Id, out var unit))
                {
                    t.Item2[item.Id] = unit = [];
                    t.Item1.Add(item.Id);
                }
                unit.Add(item);
            }
            return d;
        }
    }

    internal static List<LoadedModel> LoadModels(IReadOnlyList<string> inputs, Action<string> say)
    {
        var models = new List<LoadedModel>();
        foreach (string input in inputs)
        {
            var (run, items) = EvalRun.Load(input);
            string folder = Directory.Exists(input) ? input : Path.GetDirectoryName(Path.GetFullPath(input))!;
            string predictions = Path.Combine(folder, EvalRun.PredictionsFile);
            if (items.Count == 0)
                throw new TailorException($"{predictions}: missing or empty; compare needs the per-item predictions `tailor eval` writes beside results.json (rerun the evaluation).");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in items)
                if (!seen.Add(item.Key))
                    throw new TailorException($"{predictions}: item task={item.Task} id={item.Id} template={item.Template} appears twice; each (task, id, template) must be scored once (rerun tailor eval into an empty folder).");
            var tasksInItems = items.Select(i => i.Task).ToHashSet(StringComparer.Ordinal);
            foreach (var t in run.Tasks)
                if (!tasksInItems.Contains(t.Task))
                    throw new TailorException($"{predictions}: results.json lists task {t.Task} but no prediction has it; the folder is incomplete (rerun tailor eval).");
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
            if (models.Any(m => m.Name == name)) name = run.Name;
            if (models.Any(m => m.Name == name))
                throw new TailorException($"{folder}: two evaluation folders are both called {name}; give each model its own folder name.");
            models.Add(new LoadedModel(name, folder, run, items));
            say($"{name}: {run.Kind}, {items.Count:N0} predictions over {run.Tasks.Count} task(s)");
        }
        return models;
    }

    internal static void AssignRoles(List<LoadedModel> models, string? rolesPath)
    {
        if (rolesPath is null)
        {
            foreach (var m in models)
            {
                m.Role = m.Run.Kind switch { "chat" => "instruct", "base" => "base", "finetuned" => "finetuned", "baseline" => "baseline", _ => null };
                m.Base = "default";
            }
            return;
        }
        if (!File.Exists(rolesPath)) throw new TailorException($"{rolesPath}: no such roles file.");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(rolesPath)); }
        catch (JsonException e) { throw new TailorException($"{rolesPath}: not JSON ({e.Message}); expected {{\"folder\": {{\"role\": \"instruct\", \"base\": \"small\"}}}}."); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new TailorException($"{rolesPath}: expected an object mapping folder names to {{\"role\": ..., \"base\": ...}}.");
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                var m = models.FirstOrDefault(x => x.Name == p.Name) ?? models.FirstOrDefault(x => x.Run.Name == p.Name)
                    ?? throw new TailorException($"{rolesPath}: names '{p.Name}', but no evaluation folder of that name was given (given: {string.Join(", ", models.Select(x => x.Name))}); fix the name or drop the entry.");
                if (p.Value.ValueKind != JsonValueKind.Object || !p.Value.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                    throw new TailorException($"{rolesPath}: '{p.Name}' needs {{\"role\": \"{string.Join("|", Comparison.KnownRoles)}\", \"base\": \"NAME\"}}.");
                string r = role.GetString()!;
                if (!KnownRoles.Contains(r))
                    throw new TailorException($"{rolesPath}: '{p.Name}' has unknown role '{r}'; use one of {string.Join(", ", KnownRoles)}.");
                m.Role = r;
                m.Base = p.Value.TryGetProperty("base", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : "default";
                if (p.Value.TryGetProperty("base_size", out var s))
                {
                    if (s.ValueKind != JsonValueKind.Number)
                        throw new TailorException($"{rolesPath}: '{p.Name}'.base_size must be a number (parameters).");
                    m.BaseSize = s.GetDouble();
                }
            }
        }
    }

    internal static LoadedModel PickReference(List<LoadedModel> models, string? baseline)
    {
        if (baseline is not null)
            return models.FirstOrDefault(m => m.Name == baseline) ?? models.FirstOrDefault(m => m.Run.Name == baseline)
                ?? throw new TailorException($"--baseline {baseline}: no evaluation folder of that name (given: {string.Join(", ", models.Select(m => m.Name))}).");
        return models.FirstOrDefault(m => m.Role == "base") ?? models[0];
    }

    /// <summary>What compare needs to know about a task beyond the items: label set, expected language, where its data is.</summary>
    internal sealed record TaskShape(bool Classification, IReadOnlyList<string>? Labels, string? TargetLanguage, EvalTask? Shipped, string Split);

    internal static TaskShape Shape(string task, List<LoadedModel> models, LoadedModel reference, CompareOptions o)
    {
        var source = reference.ByTask.ContainsKey(task) ? reference : models.First(m => m.ByTask.ContainsKey(task));
        string split = source.Run.Config.TryGetValue("split", out var sp) && sp is "test" or "dev" ? sp : "test";
        EvalTask? shipped = EvalTask.Shipped.Contains(task) ? EvalTask.Get(task, o.Data, split) : null;
        var results = models.Select(m => m.Result(task)).OfType<TaskResult>().ToList();
        var labels = results.Select(r => r.Labels).FirstOrDefault(l => l is { Count: > 0 });
        bool classification = labels is not null || shipped?.IsClassification == true
            || source.ByTask[task].Units.Values.All(u => u.All(i => i.Scores.ContainsKey("correct")));
        if (classification && labels is null)
            labels = shipped?.IsClassification == true ? shipped.Options
                : [.. source.ByTask[task].Units.Values.Select(u => u[0].References[0]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        string? language = results.Select(r => r.TargetLanguage).FirstOrDefault(l => l is not null) ?? shipped?.TargetLanguage;
        return new TaskShape(classification, classification ? labels : null, language, shipped, split);
    }

    /// <summary>
    /// The task's floor as a pseudo-model with one answer per test item of the reference (else the first model having the
    /// task), scored with the same per-item metrics: see <see cref="Floors"/>. Null (with a warning) when the inputs it
    /// needs are not available.
    /// </summary>
    internal static (LoadedModel Model, string Method)? Floor(string task, TaskShape shape, List<LoadedModel> models, LoadedModel reference,
        CompareOptions o, List<string> warnings)
    {
        var source = reference.ByTask.ContainsKey(task) ? reference : models.First(m => m.ByTask.ContainsKey(task));
        var (ids, units) = source.ByTask[task];
        var items = new List<EvalItem>(ids.Count);
        string method;
        if (shape.Classification)
        {
            string? train = models.Select(m => m.Result(task)?.TrainFile).Append(shape.Shipped?.TrainFile)
                .FirstOrDefault(f => f is not null && File.Exists(f));
            string majority;
            if (train is not null && shape.Shipped is not null)
            {
                majority = Floors.MajorityLabel(shape.Shipped.Read(train).Select(r => r.References[0]));
                method = $"majority label of the train split (\"{majority}\", {Path.GetFileName(train)})";
            }
            else
            {
                majority = Floors.MajorityLabel(units.Values.Select(u => u[0].References[0]));
                method = $"most frequent gold label of the scored items (\"{majority}\"; no train split found)";
                warnings.Add($"{task}: no train split found (results.json records none and {shape.Shipped?.TrainFile ?? "--data has none for a user task"} is missing), so its floor is the most frequent gold label of the scored items, the best any constant answer can score.");
            }
            foreach (string id in ids)
            {
                var first = units[id][0];
                double correct = string.Equals(majority.Trim(), first.References[0].Trim(), StringComparison.OrdinalIgnoreCase) ? 1 : 0;
                items.Add(new EvalItem(task, id, "plain", "", majority, first.References, false, null, 0,
                    new Dictionary<string, double> { ["correct"] = correct, ["loglik_correct"] = correct, ["loglik_norm_correct"] = correct }, null));
            }
        }
        else
        {
            var inputs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var m in models.Where(m => m.ByTask.ContainsKey(task)))
                foreach (var item in m.ByTask[task].Units.Values.SelectMany(u => u))
                    if (item.Input is not null) inputs.TryAdd(item.Id, item.Input);
            if (ids.Any(id => !inputs.ContainsKey(id)) && shape.Shipped is { } def && File.Exists(def.TestFile))
            {
                // Folders written before predictions carried the input: the test file, cut as the evaluation cut it.
                int words = source.Run.Config.TryGetValue("max_input_words", out var w) && int.TryParse(w, out int k) ? k : 0;
                foreach (var r in def.ReadTest())
                    inputs.TryAdd(r.Id, words > 0 ? Evaluation.Answering.Questions.Clip(r.Input, words) : r.Input);
            }
            string? missing = ids.FirstOrDefault(id => !inputs.ContainsKey(id));
            if (missing is not null)
            {
                warnings.Add($"{task}: no floor: {Path.Combine(source.Folder, EvalRun.PredictionsFile)} has no input for item {missing} (written by an older tailor eval) and {shape.Shipped?.TestFile ?? "no task data file"} does not have it either; rerun tailor eval, or give --data DIR.");
                return null;
            }
            var metrics = models.SelectMany(m => m.Result(task)?.Metrics.Keys ?? []).Distinct(StringComparer.Ordinal).ToList();
            var scoring = new EvalTask(task, task, "", null, "generation", "input", "output", [], "", 0, shape.TargetLanguage, metrics);
            bool translation = task.StartsWith("translation", StringComparison.Ordinal);
            int lead = Floors.MeanReferenceWords(ids.Select(id => units[id][0].References));
            method = translation ? "the source copied unchanged" : $"the input's first {lead} words (the references' mean length)";
            foreach (string id in ids)
            {
                var first = units[id][0];
                string answer = translation ? inputs[id] : Floors.Lead(inputs[id], lead);
                items.Add(new EvalItem(task, id, "plain", "", answer, first.References, false, null, 0,
                    TaskScoring.ItemScores(scoring, answer, first.References), inputs[id]));
            }
        }
        string name = MetricReport.FloorName;
        var run = new EvalRun(name, "floor:" + method, "", "floor", 0, source.Run.DataHash, new Dictionary<string, string>(), [], DateTime.UnixEpoch, "");
        return (new LoadedModel(name, "", run, items), method);
    }

    internal static TaskReport TaskSection(string task, TaskShape shape, (LoadedModel Model, string Method)? floor, List<LoadedModel> models,
        LoadedModel reference, StatsCache stats, CompareOptions o, List<string> warnings)
    {
        var present = models.Where(m => m.ByTask.ContainsKey(task)).ToList();
        foreach (var m in present.Where(m => m != reference && reference.ByTask.ContainsKey(task)))
        {
            var ids = m.ByTask[task].Units.Keys;
            int shared = ids.Count(reference.ByTask[task].Units.ContainsKey);
            if (shared == 0)
                throw new TailorException($"{m.Folder}: no {task} item id is shared with {reference.Folder}; the models were evaluated on different test sets (check data_hash, rerun tailor eval on the same data).");
            string? mismatch = ids.FirstOrDefault(id => reference.ByTask[task].Units.TryGetValue(id, out var r)
                && !r[0].References.SequenceEqual(m.ByTask[task].Units[id][0].References));
            if (mismatch is not null)
                throw new TailorException($"{Path.Combine(m.Folder, EvalRun.PredictionsFile)}: {task} item {mismatch} has other references than in {Path.Combine(reference.Folder, EvalRun.PredictionsFile)}; the same id names different test items (evaluate both models on the same data).");
            if (shared < ids.Count || shared < reference.ByTask[task].Ids.Count)
                warnings.Add($"{task}: {m.Name} answered {ids.Count} items and {reference.Name} {reference.ByTask[task].Ids.Count}; {shared} shared items are paired.");
        }

        var metricNames = present.SelectMany(m => m.Result(task)?.Metrics.Keys ?? []).Distinct().ToList();
        var metricReports = new List<MetricReport>();
        foreach (string metric in metricNames)
        {
            var scores = new List<ScoreEntry>();
            var comparisons = new List<ComparisonEntry>();
            ItemMetric? def = null;
            foreach (var m in present)
            {
                var table = stats.Table(m, task, metric);
                if (table is null) continue;
                def = table.Value.Metric;
                var interval = stats.Score(m, task, metric)!.Value;
                double? reported = m.Result(task)?.Metrics.TryGetValue(metric, out double r) == true ? r : null;
                if (reported is double rep && Math.Abs(rep - interval.Value) > 1e-6 * Math.Max(1, Math.Abs(rep)))
                    warnings.Add($"{m.Name} {task} {metric}: results.json reports {rep:G6}, recomputed from the predictions (templates pooled) {interval.Value:G6}; the report uses the recomputed value.");
                scores.Add(new ScoreEntry(m.Name, interval.Value, interval.Low, interval.High,
                    m.ByTask[task].Units.Values.Sum(u => u.Count), reported));
                if (m != reference && stats.Compare(reference, m, task, metric) is { } c) comparisons.Add(c);
            }
            ScoreEntry? floorScore = null;
            List<ComparisonEntry>? vsFloor = null;
            if (def is not null && floor is { } f && stats.Score(f.Model, task, metric) is { } fs)
            {
                floorScore = new ScoreEntry(f.Model.Name, fs.Value, fs.Low, fs.High, f.Model.ByTask[task].Ids.Count, null);
                vsFloor = [.. present.Select(m => stats.Compare(f.Model, m, task, metric)).OfType<ComparisonEntry>()];
            }
            if (def is not null)
                metricReports.Add(new MetricReport(metric, def.HigherIsBetter, def.UnitScale, def.Recomputed, scores, comparisons, floorScore, vsFloor));
            else
                warnings.Add($"{task} {metric}: no model's predictions carry per-item values for it, so it is left out of the comparison.");
        }

        var offTask = new List<OffTaskEntry>();
        foreach (var m in present)
        {
            var rate = stats.Score(m, task, "off_task")!.Value;
            var reasons = m.Result(task)?.OffTaskReasons ?? new Dictionary<string, double>();
            offTask.Add(new OffTaskEntry(m.Name, rate.Value, reasons, m == reference ? null : stats.Compare(reference, m, task, "off_task")));
        }
        var efficiency = new List<EfficiencyEntry>();
        foreach (var m in present)
            if (m.Result(task) is { } r) efficiency.Add(new EfficiencyEntry(m.Name, r.TokensPerItem, r.ItemsPerSecond));

        string primary = PrimaryMetric(task, metricReports.Select(r => r.Metric).ToList());
        var templates = new List<TemplateEntry>();
        foreach (var m in present)
        {
            var byTemplate = stats.ByTemplate(m, task, primary);
            if (byTemplate is null || byTemplate.Count < 2) continue;
            double mean = byTemplate.Values.Average();
            double sd = Math.Sqrt(byTemplate.Values.Sum(v => (v - mean) * (v - mean)) / (byTemplate.Count - 1));
            templates.Add(new TemplateEntry(m.Name, primary, byTemplate, mean, sd));
        }

        var degeneracy = present.Select(m => Degeneracy.Measure(m.Name, [.. m.ByTask[task].Units.Values.SelectMany(u => u)], shape.Labels, shape.TargetLanguage)).ToList();
        return new TaskReport(task, primary, metricReports, offTask, efficiency, templates, Examples(task, present, o), floor?.Method, degeneracy);
    }

    internal static List<ExampleEntry> Examples(string task, List<LoadedModel> present, CompareOptions o)
    {
        var common = present[0].ByTask[task].Ids.Where(id => present.All(m => m.ByTask[task].Units.ContainsKey(id))).ToList();
        var rng = new SplitMix64(o.Seed ^ (ulong)StableHash.Of32(task));
        for (int i = common.Count - 1; i > 0; i--)   // Fisher-Yates, seeded: the same items every run
        {
            int j = rng.Next(i + 1);
            (common[i], common[j]) = (common[j], common[i]);
        }
        var examples = new List<ExampleEntry>();
        foreach (string id in common.Take(o.Examples))
        {
            var outputs = new List<ExampleOutput>();
            EvalItem? plain = null;
            foreach (var m in present)
            {
                var unit = m.ByTask[task].Units[id];
                var shown = unit.FirstOrDefault(i => i.Template == "plain") ?? unit.OrderBy(i => i.Template, StringComparer.Ordinal).First();
                plain ??= unit.FirstOrDefault(i => i.Template == "plain");
                outputs.Add(new ExampleOutput(m.Name, shown.Template, shown.Prediction, shown.OffTask));
            }
            var first = plain ?? present[0].ByTask[task].Units[id][0];
            examples.Add(new ExampleEntry(id, first.Prompt, first.References.Count > 0 ? first.References[0] : "", outputs));
        }
        return examples;
    }

    internal static List<ContaminationRow> ContaminationSection(List<string> tasks, IEnumerable<string> models, CompareOptions o, List<string> warnings, Action<string> say)
    {
        if (!Directory.Exists(o.Data))
        {
            warnings.Add($"contamination not checked: no task data folder {o.Data} (give --data DIR, or --no-contamination).");
            return [];
        }
        var testSets = new Dictionary<string, IReadOnlyList<TestText>>(StringComparer.Ordinal);
        foreach (string task in tasks)
        {
            string path = Path.Combine(o.Data, task + ".test.jsonl");
            if (File.Exists(path)) testSets[task] = Contamination.ReadTestSet(path);
            else warnings.Add($"contamination of {task} not checked: no {path}.");
        }
        if (testSets.Count == 0) return [];
        var corpora = new List<(string, IEnumerable<string>)>();
        string root = Path.GetDirectoryName(Path.GetFullPath(o.Data))!;   // data/tasks → data
        if (o.Pretrain is not null) corpora.Add(("pre-training (" + o.Pretrain + ")", Contamination.StreamTexts([o.Pretrain])));
        else
        {
            // The corpora the compared models' own weights were pre-trained on, from their bases' model cards.
            var found = new List<PretrainCorpus>();
            foreach (string model in models.Distinct(StringComparer.Ordinal))
            {
                if (Provenance.CorpusOf(model, root, out string? why) is { } corpus) found.Add(corpus);
                else if (why is not null && !warnings.Contains("contamination with the pre-training corpus not checked: " + why)) warnings.Add("contamination with the pre-training corpus not checked: " + why);
            }
            foreach (var group in found.GroupBy(c => c.Path, StringComparer.Ordinal))
            {
                var c = group.First();
                string names = string.Join(", ", group.Select(g => g.Model).Distinct(StringComparer.Ordinal));
                corpora.Add(($"pre-training of {names} ({c.Path}{(c.Subset ? ", the committed sample; scripts/data/build-all.sh rebuilds the whole corpus" : "")})", Contamination.StreamTexts([c.Path])));
            }
            if (found.Count == 0)
            {
                // No compared model names a corpus of ours: the English corpus of the first shipped bases, as before.
                string full = Path.Combine(root, "pretrain", "train.jsonl"), subset = Path.Combine(root, "pretrain", "subset");
                string? pretrain = File.Exists(full) ? full : Directory.Exists(subset) ? subset : null;
                if (pretrain is not null) corpora.Add(("pre-training (" + pretrain + ")", Contamination.StreamTexts([pretrain])));
                else warnings.Add("contamination with the pre-training corpus not checked: no compared model's card names a corpus under data/, and there is no data/pretrain/train.jsonl or data/pretrain/subset/ (give --pretrain).");
            }
        }
        var train = Directory.EnumerateFiles(o.Data, "*.train.jsonl").Order(StringComparer.Ordinal).ToList();
        if (train.Count > 0) corpora.Add(($"tuning ({Path.Combine(o.Data, "*.train.jsonl")}, {train.Count} files)", Contamination.StreamTexts(train)));
        if (corpora.Count == 0) return [];
        say($"contamination: 13-gram overlap of {testSets.Count} test set(s) with {corpora.Count} corpora");
        return [.. Contamination.Measure(testSets, corpora)];
    }

    internal static List<TrainingCurve> FindCurves(List<LoadedModel> models, IReadOnlyList<string> logs, List<string> warnings)
    {
        var found = new List<(string Label, string Path)>();
        foreach (string l in logs)
        {
            string path = Directory.Exists(l) ? Path.Combine(l, "metrics.jsonl") : l;
            if (!File.Exists(path)) throw new TailorException($"--logs {l}: no metrics.jsonl there; give a training output folder.");
            found.Add((Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(path))!))), path));
        }
        foreach (var m in models)
        {
            if (m.Run.Model.Length == 0 || m.Run.Model.Contains("://", StringComparison.Ordinal) || m.Run.Model.StartsWith("baseline:", StringComparison.Ordinal)) continue;
            string dir = m.Run.Model;
            foreach (string candidate in new[] { Path.Combine(dir, "metrics.jsonl"), Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dir)) ?? dir, "metrics.jsonl") })
                if (File.Exists(candidate) && !found.Any(f => Path.GetFullPath(f.Path) == Path.GetFullPath(candidate)))
                {
                    found.Add((m.Name, candidate));
                    break;
                }
        }
        var curves = new List<TrainingCurve>();
        foreach (var (label, path) in found)
        {
            var points = new List<CurvePoint>();
            int line = 0;
            foreach (string text in File.ReadLines(path))
            {
                line++;
                if (text.Length == 0) continue;
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    var r = doc.RootElement;
                    if (!r.TryGetProperty("step", out var step)) continue;
                    double? Get(string k) => r.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
                    double? loss = Get("loss"), dev = Get("dev_loss") ?? Get("val_loss");
                    if (loss is null && dev is null) continue;
                    points.Add(new CurvePoint(step.GetInt64(), loss, dev));
                }
                catch (JsonException)
                {
                    warnings.Add($"{path}:{line}: not JSON; line skipped.");
                }
            }
            if (points.Count > 0) curves.Add(new TrainingCurve(label, path, points));
        }
        return curves;
    }

    /// <summary>
    /// Per (model, task, metric) unit tables and intervals, and paired comparisons between any two models, computed once.
    /// </summary>
    internal sealed class StatsCache(List<LoadedModel> models, BootstrapOptions boot) : IPairedStatistics
    {
        private readonly Dictionary<(string, string, string), (ItemMetric Metric, UnitTable Table, Dictionary<string, int> Index)?> _tables = [];
        private readonly Dictionary<(string, string, string), Interval?> _scores = [];
        private readonly Dictionary<(string, string, string, string), ComparisonEntry?> _pairs = [];

        public BootstrapOptions Options => boot;

        public IReadOnlyList<LoadedModel> Models => models;

        public (ItemMetric Metric, UnitTable Table, Dictionary<string, int> Index)? Table(LoadedModel m, string task, string metric)
        {
            var key = (m.Name, task, metric);
            if (_tables.TryGetValue(key, out var cached)) return cached;
            (ItemMetric, UnitTable, Dictionary<string, int>)? result = null;
            if (m.ByTask.TryGetValue(task, out var t))
            {
                string? signature = null;
                foreach (var run in models.Select(x => x.Result(task)))
                    if (run?.Signatures.TryGetValue(metric, out var s) == true) { signature = s; break; }
                var def = metric == "off_task" ? ItemMetric.OffTask : ItemMetric.For(metric, signature);
                if (def is not null && t.Units.Values.All(u => u.All(def.HasData)))
                {
                    var units = t.Ids.Select(id => (IReadOnlyList<EvalItem>)t.Units[id]).ToList();
                    var index = t.Ids.Select((id, k) => (id, k)).ToDictionary(p => p.id, p => p.k, StringComparer.Ordinal);
                    result = (def, def.Build(units), index);
                }
            }
            _tables[key] = result;
            return result;
        }

        public Interval? Score(LoadedModel m, string task, string metric)
        {
            var key = (m.Name, task, metric);
            if (_scores.TryGetValue(key, out var cached)) return cached;
            var t = Table(m, task, metric);
            Interval? r = t is null ? null : Bootstrap.Score(t.Value.Table, boot);
            _scores[key] = r;
            return r;
        }

        public IReadOnlyDictionary<string, double>? ByTemplate(LoadedModel m, string task, string metric)
        {
            if (!m.ByTask.TryGetValue(task, out var t)) return null;
            var templates = t.Units.Values.SelectMany(u => u.Select(i => i.Template)).Distinct().Order(StringComparer.Ordinal).ToList();
            if (templates.Count < 2) return null;
            var def = ItemMetric.For(metric, models.Select(x => x.Result(task)).FirstOrDefault(r => r?.Signatures.ContainsKey(metric) == true)?.Signatures[metric]);
            if (def is null) return null;
            var result = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (string template in templates)
            {
                var units = t.Ids.Select(id => (IReadOnlyList<EvalItem>)t.Units[id].Where(i => i.Template == template).ToList()).Where(u => u.Count > 0).ToList();
                if (units.Count == 0 || !units.All(u => u.All(def.HasData))) continue;
                result[template] = def.Build(units).ScoreAll();
            }
            return result;
        }

        /// <summary>The shared units of several models on a task, in the first model's order, as index lists per model.</summary>
        public (UnitTable[] Tables, int Units)? Aligned(IReadOnlyList<LoadedModel> ms, string task, string metric)
        {
            var tables = ms.Select(m => Table(m, task, metric)).ToList();
            if (tables.Any(t => t is null)) return null;
            var ids = ms[0].ByTask[task].Ids.Where(id => tables.All(t => t!.Value.Index.ContainsKey(id))).ToList();
            if (ids.Count == 0) return null;
            return (tables.Select(t => t!.Value.Table.Select(ids.Select(id => t.Value.Index[id]).ToList())).ToArray(), ids.Count);
        }

        public ComparisonEntry? Compare(LoadedModel a, LoadedModel b, string task, string metric)
        {
            var key = (a.Name, b.Name, task, metric);
            if (_pairs.TryGetValue(key, out var cached)) return cached;
            ComparisonEntry? result = null;
            if (a.ByTask.ContainsKey(task) && b.ByTask.ContainsKey(task) && Aligned([a, b], task, metric) is { } al)
            {
                var def = Table(a, task, metric)!.Value.Metric;
                var paired = Bootstrap.Paired(al.Tables[0], al.Tables[1], boot);
                double p = paired.PValue;
                string test = paired.Test;
                if (McNemarPairs(a, b, task, metric) is { } mc)
                {
                    p = mc.PValue;
                    test = "McNemar exact";
                }
                bool better = p < 0.05 && (def.HigherIsBetter ? paired.Difference.Value > 0 : paired.Difference.Value < 0);
                result = new ComparisonEntry(b.Name, a.Name, paired.A, paired.B, paired.Difference.Value, paired.Difference.Low,
                    paired.Difference.High, p, test, Fmt.Mark(p), better, paired.Units);
            }
            _pairs[key] = result;
            return result;
        }

        /// <summary>McNemar's exact test when both models gave exactly one 0/1 answer per shared item on an accuracy metric.</summary>
        private static McNemarResult? McNemarPairs(LoadedModel a, LoadedModel b, string task, string metric)
        {
            string? score = metric switch { "accuracy" => "correct", "acc" => "loglik_correct", "acc_norm" => "loglik_norm_correct", _ => null };
            if (score is null) return null;
            var ua = a.ByTask[task].Units;
            var ub = b.ByTask[task].Units;
            var xa = new List<bool>();
            var xb = new List<bool>();
            foreach (string id in a.ByTask[task].Ids)
            {
                if (!ub.TryGetValue(id, out var ib)) continue;
                var ia = ua[id];
                if (ia.Count != 1 || ib.Count != 1) return null;
                double va = ia[0].Scores[score], vb = ib[0].Scores[score];
                if (va is not (0 or 1) || vb is not (0 or 1)) return null;
                xa.Add(va == 1);
                xb.Add(vb == 1);
            }
            return xa.Count == 0 ? null : McNemar.Test(xa, xb);
        }

        public ComparisonEntry? Compare(string a, string b, string task, string metric) =>
            Compare(models.First(m => m.Name == a), models.First(m => m.Name == b), task, metric);

        public (UnitTable[] Tables, int Units)? Aligned(IReadOnlyList<string> names, string task, string metric)
        {
            var ms = names.Select(n => models.First(m => m.Name == n)).ToList();
            return ms.All(m => m.ByTask.ContainsKey(task)) ? Aligned(ms, task, metric) : null;
        }

        public double? BaseSize(string baseName)
        {
            var m = models.FirstOrDefault(x => x.Base == baseName && x.BaseSize is not null);
            if (m is not null) return m.BaseSize;
            foreach (var x in models.Where(x => x.Base == baseName && x.Role is "base" or "instruct" or "finetuned"))
            {
                string config = Path.Combine(x.Run.Model, "config.json");
                if (!File.Exists(config)) continue;
                try { return Model.CausalLMs.ReadConfig(x.Run.Model) is Model.LlamaConfig l ? l.ParameterCount() : null; }
                catch (Exception e) when (e is TailorException or IOException or JsonException or InvalidDataException) { }
            }
            return null;
        }
    }
}
