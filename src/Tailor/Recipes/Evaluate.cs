using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Data;
using Tailor.Evaluation;
using Tailor.Evaluation.Baselines;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Text;
using Tailor.Torch;
using static TorchSharp.torch;

namespace Tailor.Recipes;

/// <summary>Progress of an evaluation: items answered of a task.</summary>
public sealed record EvalProgress(string Task, int Done, int Total, TimeSpan Elapsed);

/// <summary>
/// <c>tailor eval</c>: asks a model (a folder, an OpenAI-compatible endpoint, or a classic baseline) every test item of
/// each task, scores the answers with the exact metrics, flags off-task answers, and writes results.json and
/// predictions.jsonl. Straight-line: choose items → phrase them → answer (batched greedy generation, stop at end of turn
/// or newline; log-likelihood ranking for label tasks) → score → save.
/// </summary>
public static partial class Evaluate
{
    /// <summary>Runs an evaluation and saves it into <see cref="EvalOptions.Output"/>.</summary>
    public static (EvalRun Run, IReadOnlyList<EvalItem> Items) Run(EvalOptions o, Action<EvalProgress>? progress = null,
        Action<string>? say = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.Validate();
        say ??= _ => { };
        var tasks = new List<(EvalTask Task, IReadOnlyList<EvalRecord> Records)>();
        foreach (string name in o.TaskList())
        {
            var task = EvalTask.Get(name, o.TaskData, o.Split);
            tasks.Add((task, Cut(Subset(task.ReadTest(), o.Limit, o.Seed), o.MaxInputWords)));
        }
        foreach (string file in o.DataFiles())
        {
            var (task, records) = EvalTask.FromUserFile(file);
            if (tasks.Any(t => t.Task.Name == task.Name)) throw new TailorException($"{file}: a task named '{task.Name}' is already evaluated; rename the file.");
            tasks.Add((task, Cut(Subset(records, o.Limit, o.Seed), o.MaxInputWords)));
        }

        using var answerer = Answerer.Create(o, say);
        var items = new List<EvalItem>();
        var results = new List<TaskResult>();
        foreach (var (task, records) in tasks)
        {
            cancel.ThrowIfCancellationRequested();
            var questions = Phrase(o, task, records, answerer.Format);
            say($"{task.Name}: {questions.Count:N0} questions ({records.Count:N0} items{(questions.Count != records.Count ? ", every held-out template" : "")}), {answerer.Format} prompts{(o.Shots > 0 ? $", {o.Shots}-shot" : "")}");
            var clock = Stopwatch.StartNew();
            var answers = answerer.Answer(task, questions, done => progress?.Invoke(new EvalProgress(task.Name, done, questions.Count, clock.Elapsed)), cancel);
            IReadOnlyList<(double Best, double BestNorm, string Choice)>? ranks = null;
            if (task.IsClassification && o.Loglik && answerer.CanRank) ranks = answerer.Rank(task, questions, cancel);
            var taskItems = new List<EvalItem>(questions.Count);
            for (int i = 0; i < questions.Count; i++)
            {
                var q = questions[i];
                var a = answers[i];
                var scores = TaskScoring.ItemScores(task, a.Text, q.Record.References);
                if (ranks is not null)
                {
                    scores["loglik_correct"] = ranks[i].Best;
                    scores["loglik_norm_correct"] = ranks[i].BestNorm;
                }
                string? reason = OffTask.Reason(task, q.Record.Input, a.Text);
                taskItems.Add(new EvalItem(task.Name, q.Record.Id, q.Template, a.Prompt, a.Text, q.Record.References, reason is not null, reason, a.Tokens, scores,
                    q.Record.Input));
            }
            var result = TaskScoring.Summarize(task, taskItems, answerer.Mode ?? (ranks is null ? "generation" : "generation+loglik"), clock.Elapsed.TotalSeconds);
            results.Add(result);
            items.AddRange(taskItems);
            say($"{task.Name}: " + string.Join(", ", result.Metrics.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:0.####}"))) +
                string.Create(CultureInfo.InvariantCulture, $"; off-task {result.OffTaskRate:P1}; {result.TokensPerItem:0.#} tokens/item; {result.ItemsPerSecond:0.#} items/s"));
        }

        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in Training.RecipeOptions.Keys<EvalOptions>())
        {
            var p = typeof(EvalOptions).GetProperty(string.Concat(key.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..])))!;
            if (key == "api_key") continue;
            config[key] = Convert.ToString(p.GetValue(o), CultureInfo.InvariantCulture) ?? "null";
        }
        config["format_used"] = answerer.Format;
        var run = new EvalRun(answerer.Name, answerer.Source, answerer.Hash, answerer.Kind, o.Shots, DataHash(items), config, results,
            DateTime.UtcNow, "tailor " + typeof(Evaluate).Assembly.GetName().Version);
        run.Save(o.Output, items);
        return (run, items);
    }

    /// <summary>A seeded subset of <paramref name="limit"/> records (all when 0 or more than there are), in file order.</summary>
    public static IReadOnlyList<EvalRecord> Subset(IReadOnlyList<EvalRecord> records, int limit, long seed)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (limit <= 0 || limit >= records.Count) return records;
        var keep = records.Select((r, i) => (Key: StableHash.Mix(StableHash.Of(r.Id) ^ (ulong)seed), Index: i))
            .OrderBy(x => x.Key).Take(limit).Select(x => x.Index).Order().ToList();
        return [.. keep.Select(i => records[i])];
    }

    private static IReadOnlyList<EvalRecord> Cut(IReadOnlyList<EvalRecord> records, int words) =>
        words <= 0 ? records : [.. records.Select(r => r with { Input = Clip(r.Input, words) })];

    /// <summary>One question: a test record asked one way.</summary>
    /// <param name="Record">The test record.</param>
    /// <param name="Template">Template id, or "plain".</param>
    /// <param name="Render">Renders the prompt for an input and a number of shots (prompts that do not fit re-render shorter).</param>
    public sealed record Question(EvalRecord Record, string Template, Func<string, int, Prompt> Render)
    {
        /// <summary>Solved examples the prompt starts with, at most.</summary>
        public int Shots { get; init; }
    }

    /// <summary>A rendered prompt: chat messages (chat format) or text (base and plain formats).</summary>
    public sealed record Prompt(IReadOnlyList<ChatMessage>? Messages, string? Text);

    /// <summary>What a model answered.</summary>
    public sealed record Answer(string Prompt, string Text, int Tokens);

    /// <summary>Phrases every record of a task for the given prompt format (base, plain, chatml, baseline).</summary>
    public static IReadOnlyList<Question> Phrase(EvalOptions o, EvalTask task, IReadOnlyList<EvalRecord> records, string format)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(records);
        IReadOnlyList<EvalRecord> train = o.Shots > 0 && task.TrainFile is not null && format is "base" or "chatml" ? task.Read(task.TrainFile!) : [];
        IReadOnlyList<EvalRecord> Shots(EvalRecord r) => train.Count == 0 ? [] :
            [.. Subset(train, o.Shots, o.Seed ^ (long)StableHash.Of(r.Id)).Select(s => s with { Input = Clip(s.Input, 48) })];

        var questions = new List<Question>();
        switch (format)
        {
            case "baseline":
                questions.AddRange(records.Select(r => new Question(r, "plain", (input, _) => new Prompt(null, input))));
                break;
            case "plain":
                questions.AddRange(records.Select(r => new Question(r, "plain", (input, _) => new Prompt(null, input))));
                break;
            case "base":
                foreach (var r in records)
                {
                    var shots = Shots(r);
                    string Prefix(int k) => string.Concat(shots.Take(k).Select(s => task.BasePrompt.Replace("{input}", s.Input, StringComparison.Ordinal) + " " + s.References[0] + "\n\n"));
                    questions.Add(new Question(r, "plain", (input, k) => new Prompt(null, Prefix(k) + task.BasePrompt.Replace("{input}", input, StringComparison.Ordinal))) { Shots = shots.Count });
                }
                break;
            case "chatml":
            {
                TaskTemplateSet? set = null;
                IReadOnlyList<TaskTemplate> pool = [];
                if (File.Exists(Path.Combine(o.Templates, task.TemplateTask + ".json")))
                {
                    set = TaskTemplates.Load(Path.Combine(o.Templates, task.TemplateTask + ".json"));
                    pool = set.Pool(o.Pool switch { "train" => TemplatePool.Train, "vague" => TemplatePool.Vague, _ => TemplatePool.Eval });
                }
                for (int i = 0; i < records.Count; i++)
                {
                    var r = records[i];
                    var shots = Shots(r);
                    if (set is null || pool.Count == 0)
                    {
                        // A user task: its own instruction (or none) before the input.
                        string Ask(string input) => r.Instruction is null ? input : r.Instruction + "\n\n" + input;
                        questions.Add(new Question(r, "user", (input, k) => new Prompt(
                            [.. shots.Take(k).SelectMany(s => new[] { new ChatMessage(ChatRole.User, Ask(s.Input)), new ChatMessage(ChatRole.Assistant, s.References[0]) }),
                             new ChatMessage(ChatRole.User, Ask(input))], null)) { Shots = shots.Count });
                        continue;
                    }
                    var chosen = o.TemplateMode == "all" ? pool : [pool[(int)((StableHash.Of(r.Id) ^ (ulong)o.Seed) % (ulong)pool.Count)]];
                    foreach (var template in chosen)
                    {
                        ChatMessage[] ShotTurns(int k) => [.. shots.Take(k).SelectMany(s => new[]
                        {
                            new ChatMessage(ChatRole.User, set.Apply(ToTaskRecord(task, s), template).Prompt),
                            new ChatMessage(ChatRole.Assistant, s.References[0]),
                        })];
                        questions.Add(new Question(r, template.Id, (input, k) => new Prompt(
                            [.. ShotTurns(k), new ChatMessage(ChatRole.User, set.Apply(ToTaskRecord(task, r with { Input = input }), template).Prompt)], null)) { Shots = shots.Count });
                    }
                }
                break;
            }
            default:
                throw new TailorException($"unknown prompt format '{format}'.");
        }
        return questions;
    }

    private static TaskRecord ToTaskRecord(EvalTask task, EvalRecord r)
    {
        var fields = new Dictionary<string, string>(r.Fields ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [task.InputField] = r.Input,
            [task.AnswerField] = r.References[0],
        };
        return new TaskRecord(r.Id, fields, null, 0);
    }

    /// <summary>The first <paramref name="words"/> words of a text (all of it when shorter).</summary>
    public static string Clip(string text, int words)
    {
        ArgumentNullException.ThrowIfNull(text);
        var w = text.Split(' ');
        return w.Length <= words ? text : string.Join(' ', w.Take(words)) + " …";
    }

    /// <summary>
    /// The summed log-probability of each continuation given its prompt, log p(c | prompt) = Σ_j log softmax(logits at
    /// the position before c_j)[c_j], computed in right-padded batches (causal attention never sees the padding).
    /// </summary>
    public static double[] ContinuationLogProbs(CausalLM model, IReadOnlyList<(int[] Prompt, int[] Continuation)> pairs,
        int batchSize, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        var sums = new double[pairs.Count];
        var order = Enumerable.Range(0, pairs.Count).OrderByDescending(i => pairs[i].Prompt.Length + pairs[i].Continuation.Length).ToArray();
        using var inference = inference_mode();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = order.Skip(start).Take(batchSize).ToArray();
            int t = batch.Max(i => pairs[i].Prompt.Length + pairs[i].Continuation.Length);
            var ids = new long[batch.Length * t];
            var rows = new List<long>();
            var cols = new List<long>();
            var toks = new List<long>();
            var owner = new List<int>();
            for (int r = 0; r < batch.Length; r++)
            {
                var (prompt, cont) = pairs[batch[r]];
                if (prompt.Length == 0 || cont.Length == 0) throw new ArgumentException("prompts and continuations need at least one token.", nameof(pairs));
                for (int j = 0; j < prompt.Length; j++) ids[r * t + j] = prompt[j];
                for (int j = 0; j < cont.Length; j++)
                {
                    ids[r * t + prompt.Length + j] = cont[j];
                    rows.Add(r); cols.Add(prompt.Length + j - 1); toks.Add(cont[j]); owner.Add(batch[r]);   // position p predicts token p+1
                }
            }
            using var scope = NewDisposeScope();
            var input = tensor(ids, [batch.Length, t], device: model.Device);                  // (B, T)
            var logprobs = model.Forward(input).to(ScalarType.Float32).log_softmax(-1);        // (B, T, V)
            var picked = logprobs.index([tensor(rows.ToArray(), device: logprobs.device), tensor(cols.ToArray(), device: logprobs.device),
                tensor(toks.ToArray(), device: logprobs.device)]).cpu().data<float>().ToArray();   // (N)
            for (int n = 0; n < picked.Length; n++) sums[owner[n]] += picked[n];
        }
        return sums;
    }

    private static string DataHash(IEnumerable<EvalItem> items)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var i in items)
            sha.AppendData(Encoding.UTF8.GetBytes(i.Task + "\t" + i.Id + "\t" + i.Template + "\t" + string.Join("\t", i.References) + "\n"));
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>sha256 of a file, first 16 hex digits.</summary>
    public static string FileHash(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f))[..16];
    }

    /// <summary>Something that answers questions: a model, an endpoint, or a baseline.</summary>
    private abstract class Answerer : IDisposable
    {
        public abstract string Name { get; }
        public abstract string Source { get; }
        public abstract string Hash { get; }
        public abstract string Kind { get; }
        public abstract string Format { get; }
        public virtual bool CanRank => false;
        public virtual string? Mode => null;

        public abstract IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel);

        public virtual IReadOnlyList<(double, double, string)> Rank(EvalTask task, IReadOnlyList<Question> questions, CancellationToken cancel) =>
            throw new NotSupportedException();

        public virtual void Dispose() { }

        public static Answerer Create(EvalOptions o, Action<string> say)
        {
            if (o.Baseline is not null) return new BaselineAnswerer(o);
            if (o.Endpoint is not null) return new EndpointAnswerer(o, say);
            if (BertConfig.IsEncoderFolder(o.Model!)) return new EncoderAnswerer(o, say);
            return new ModelAnswerer(o, say);
        }

        protected static string DefaultName(string folder)
        {
            string full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
            string leaf = Path.GetFileName(full);
            return leaf is "final" or "adapter" or "checkpoint" ? Path.GetFileName(Path.GetDirectoryName(full)!) : leaf;
        }
    }

    private sealed class BaselineAnswerer(EvalOptions o) : Answerer
    {
        private AfinnClassifier? _afinn;

        public override string Name => o.Name ?? (o.Baseline == "classic" ? "classic-baselines" : o.Baseline!);
        public override string Source => "baseline:" + o.Baseline;
        public override string Hash => o.Baseline is "classic" or "afinn" && File.Exists(o.Afinn) ? FileHash(o.Afinn) : "builtin";
        public override string Kind => "baseline";
        public override string Format => "baseline";

        public override IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel)
        {
            string method = o.Baseline == "classic"
                ? task.IsClassification ? "afinn" : task.Name.StartsWith("translation", StringComparison.Ordinal) ? "copy" : "lead1"
                : o.Baseline!;
            if (method == "afinn" && !task.IsClassification) throw new TailorException($"baseline afinn scores sentiment only; task {task.Name} is not a label task.");
            if (method == "afinn" && !task.Options.Contains("positive")) throw new TailorException($"baseline afinn needs positive/negative labels; task {task.Name} has {string.Join(", ", task.Options)}.");
            string tie = "positive";
            if (method == "afinn")
            {
                _afinn ??= AfinnClassifier.Load(o.Afinn);
                // A zero score says nothing; it takes the training split's majority label.
                if (task.TrainFile is not null && File.Exists(task.TrainFile))
                    tie = task.Read(task.TrainFile).GroupBy(r => r.References[0]).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;
            }
            var answers = questions.Select(q => new Answer(q.Record.Input, method switch
            {
                "afinn" => _afinn!.Classify(q.Record.Input, tie),
                "lead1" => TextBaselines.Lead1(q.Record.Input),
                _ => TextBaselines.Copy(q.Record.Input),
            }, 0)).ToList();
            done(answers.Count);
            return answers;
        }
    }

    private sealed class ModelAnswerer : Answerer
    {
        private readonly EvalOptions _o;
        private readonly PretrainedModel _model;
        private readonly ExampleEncoder? _encoder;
        private readonly TextGenerator _generator;

        public ModelAnswerer(EvalOptions o, Action<string> say)
        {
            _o = o;
            TorchRuntime.SetThreads(o.Threads);
            var device = TorchRuntime.SelectDevice(o.Device);
            _model = PretrainedModel.Load(o.Model!, device);
            string folder = o.Model!;
            Name = o.Name ?? DefaultName(folder);
            Source = folder;
            Hash = File.Exists(Path.Combine(folder, Formats.HfCheckpoint.WeightsFile)) ? FileHash(Path.Combine(folder, Formats.HfCheckpoint.WeightsFile)) : "sharded";
            string? marker = SupervisedTraining.PromptFormatOf(folder);
            Format = o.Format != "auto" ? o.Format
                : marker == "chatml" ? "chatml" : marker == "plain" ? "plain"
                : _model.Tokenizer.ChatTemplate is not null ? "chatml" : "base";
            Kind = Format switch { "chatml" => "chat", "plain" => "finetuned", _ => "base" };
            if (Format == "chatml")
            {
                if (_model.Tokenizer.ChatTemplate is null) ChatTemplate.Install(_model.Tokenizer);
                _encoder = new ExampleEncoder(_model.Tokenizer, PromptFormat.ChatMl, folder);
            }
            else if (Format == "plain") _encoder = new ExampleEncoder(_model.Tokenizer, PromptFormat.Plain, folder);
            _generator = _model.CreateGenerator();
            say($"model {Name}: {folder}, {_model.Config.NumHiddenLayers} layers, prompt format {Format} ({(marker is null ? "no tailor.json" : "tailor.json: " + marker)})");
        }

        public override string Name { get; }
        public override string Source { get; }
        public override string Hash { get; }
        public override string Kind { get; }
        public override string Format { get; }
        public override bool CanRank => true;

        private int Context => _model.Config.MaxPositionEmbeddings;

        private int[] Encode(Prompt p) => p.Messages is not null
            ? _encoder!.EncodePrompt(p.Messages)
            : _encoder is not null ? _encoder.EncodePrompt([new ChatMessage(ChatRole.User, p.Text!)]) : [.. _model.Tokenizer.Encode(p.Text!)];

        private string Show(int[] ids) => _model.Tokenizer.Decode(ids);

        /// <summary>
        /// The question's prompt ids, made to fit the context with room for the answer: the input is shortened word by
        /// word, down to 64 words while solved examples remain, then examples are dropped one by one, then the input is
        /// shortened further.
        /// </summary>
        private int[] Fit(Question q, int maxNew)
        {
            int budget = Context - maxNew - 1;
            string input = q.Record.Input;
            int shots = q.Shots;
            int[] ids = Encode(q.Render(input, shots));
            var words = input.Split(' ');
            int keep = words.Length;
            while (ids.Length > budget && (keep > 1 || shots > 0))
            {
                if (shots > 0 && keep <= 64) shots--;
                else keep = Math.Max(shots > 0 ? 64 : 1, Math.Min(keep - 1, (int)(keep * Math.Min(0.9, (double)budget / ids.Length))));
                ids = Encode(q.Render(keep < words.Length ? string.Join(' ', words.Take(keep)) + " …" : input, shots));
            }
            if (ids.Length > budget) throw new TailorException($"item {q.Record.Id}: the prompt alone needs {ids.Length} tokens; the model's context is {Context}. Use fewer --shots.");
            return ids;
        }

        public override IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel)
        {
            int maxNew = Math.Max(1, (int)Math.Round(task.MaxNewTokens * _o.MaxNewTokensScale));
            var prompts = questions.Select(q => Fit(q, maxNew)).ToArray();
            var sampling = new SamplingOptions { MaxNewTokens = maxNew, Temperature = 0, Stop = ["\n"], StopAtEos = true };
            var answers = new Answer[questions.Count];
            // Longest first, so a slow batch shows early in the ETA and rows of a batch have similar lengths.
            var order = Enumerable.Range(0, prompts.Length).OrderByDescending(i => prompts[i].Length).ToArray();
            int finished = 0;
            for (int start = 0; start < order.Length; start += _o.BatchSize)
            {
                cancel.ThrowIfCancellationRequested();
                var batch = order.Skip(start).Take(_o.BatchSize).ToArray();
                var results = _generator.GenerateBatch([.. batch.Select(i => (IReadOnlyList<int>)prompts[i])], sampling, cancel);
                for (int j = 0; j < batch.Length; j++)
                    answers[batch[j]] = new Answer(Show(prompts[batch[j]]), results[j].Text.Trim(), results[j].Ids.Count);
                finished += batch.Length;
                done(finished);
            }
            return answers;
        }

        /// <summary>
        /// Log-likelihood ranking (lm-evaluation-harness's multiple choice): for each option, the summed log-probability
        /// of its tokens after the prompt; acc takes the best sum, acc_norm the best sum per character of the option.
        /// The option follows the prompt as the model's answer would: after a space for base prompts ("Sentiment:
        /// positive"), directly for plain and chat prompts (which end in a newline).
        /// </summary>
        public override IReadOnlyList<(double, double, string)> Rank(EvalTask task, IReadOnlyList<Question> questions, CancellationToken cancel)
        {
            string lead = Format == "base" ? " " : "";
            var optionIds = task.Options.Select(opt => _model.Tokenizer.Encode(lead + opt).ToArray()).ToArray();
            int longestOption = optionIds.Max(x => x.Length);
            var prompts = questions.Select(q => Fit(q, longestOption)).ToArray();
            var pairs = new List<(int[] Prompt, int[] Continuation)>();
            for (int i = 0; i < prompts.Length; i++)
                for (int k = 0; k < optionIds.Length; k++) pairs.Add((prompts[i], optionIds[k]));
            var sums = ContinuationLogProbs(_model.Model, pairs, _o.BatchSize, cancel);
            var logp = new double[prompts.Length, optionIds.Length];
            for (int n = 0; n < sums.Length; n++) logp[n / optionIds.Length, n % optionIds.Length] = sums[n];
            var result = new List<(double, double, string)>(questions.Count);
            for (int i = 0; i < questions.Count; i++)
            {
                int best = 0, bestNorm = 0;
                for (int k = 1; k < optionIds.Length; k++)
                {
                    if (logp[i, k] > logp[i, best]) best = k;
                    if (logp[i, k] / task.Options[k].Length > logp[i, bestNorm] / task.Options[bestNorm].Length) bestNorm = k;
                }
                string gold = questions[i].Record.References[0];
                result.Add((task.Options[best] == gold ? 1 : 0, task.Options[bestNorm] == gold ? 1 : 0, task.Options[best]));
            }
            return result;
        }

        public override void Dispose() => _model.Dispose();
    }

    /// <summary>
    /// A model behind an OpenAI-compatible server: chat completions for chat models (the server applies its own chat
    /// template), completions with the base prompt otherwise (--format base). Greedy (temperature 0), the task's
    /// answer cap as max_tokens, stop at a newline; four requests in flight.
    /// </summary>
    private sealed class EndpointAnswerer : Answerer
    {
        private readonly EvalOptions _o;
        private readonly HttpClient _http;
        private readonly string _model;

        public EndpointAnswerer(EvalOptions o, Action<string> say)
        {
            _o = o;
            if (!Uri.TryCreate(o.Endpoint!.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new TailorException($"endpoint = {o.Endpoint}: give an http(s) base URL such as http://127.0.0.1:8080/v1.");
            _http = new HttpClient { BaseAddress = uri, Timeout = TimeSpan.FromMinutes(5) };
            string? key = o.ApiKey ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY");
            if (!string.IsNullOrEmpty(key)) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            _model = o.EndpointModel ?? FirstModel();
            Format = o.Format is "auto" or "chatml" ? "chatml" : "base";
            Kind = Format == "chatml" ? "chat" : "base";
            Name = o.Name ?? _model;
            say($"endpoint {uri}: model {_model}, {(Format == "chatml" ? "chat completions" : "completions")}");
        }

        public override string Name { get; }
        public override string Source => _o.Endpoint! + "#" + _model;
        public override string Hash => "endpoint";
        public override string Kind { get; }
        public override string Format { get; }

        private string FirstModel()
        {
            JsonNode? models;
            try
            {
                models = JsonNode.Parse(_http.GetStringAsync("models").GetAwaiter().GetResult());
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException)
            {
                throw new TailorException($"endpoint {_http.BaseAddress}: GET models failed ({e.Message}); check the URL (it should end in /v1) or give --endpoint-model.");
            }
            return models?["data"]?[0]?["id"]?.GetValue<string>()
                ?? throw new TailorException($"endpoint {_http.BaseAddress}: /models lists no model; give --endpoint-model.");
        }

        public override IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel)
        {
            int maxNew = Math.Max(1, (int)Math.Round(task.MaxNewTokens * _o.MaxNewTokensScale));
            var answers = new Answer[questions.Count];
            int finished = 0;
            Parallel.For(0, questions.Count, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancel }, i =>
            {
                var p = questions[i].Render(questions[i].Record.Input, questions[i].Shots);
                JsonObject body;
                string path, shown;
                if (Format == "chatml")
                {
                    var messages = new JsonArray([.. p.Messages!.Select(m => (JsonNode)new JsonObject { ["role"] = m.RoleName, ["content"] = m.Content })]);
                    body = new JsonObject { ["model"] = _model, ["messages"] = messages };
                    path = "chat/completions";
                    shown = string.Join("\n", p.Messages!.Select(m => m.RoleName + ": " + m.Content));
                }
                else
                {
                    body = new JsonObject { ["model"] = _model, ["prompt"] = p.Text };
                    path = "completions";
                    shown = p.Text!;
                }
                body["temperature"] = 0;
                body["max_tokens"] = maxNew;
                body["stop"] = new JsonArray("\n");
                body["seed"] = 0;
                using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
                using var response = _http.PostAsync(path, content, cancel).GetAwaiter().GetResult();
                string text = response.Content.ReadAsStringAsync(cancel).GetAwaiter().GetResult();
                if (!response.IsSuccessStatusCode)
                    throw new TailorException($"endpoint {_http.BaseAddress}{path}: HTTP {(int)response.StatusCode} for item {questions[i].Record.Id}: {text[..Math.Min(300, text.Length)]}");
                var json = JsonNode.Parse(text);
                var choice = json?["choices"]?[0];
                string answer = (Format == "chatml" ? choice?["message"]?["content"] : choice?["text"])?.GetValue<string>() ?? "";
                int tokens = json?["usage"]?["completion_tokens"]?.GetValue<int>() ?? 0;
                answers[i] = new Answer(shown, answer.Split('\n')[0].Trim(), tokens);
                done(Interlocked.Increment(ref finished));
            });
            return answers;
        }

        public override void Dispose() => _http.Dispose();
    }
}
