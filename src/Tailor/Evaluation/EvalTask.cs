using System.Text.Json;
using Tailor.Data.Instructions;

namespace Tailor.Evaluation;

/// <summary>
/// An evaluation task: where its test items come from, which templates phrase it for chat models, how a base model is
/// prompted, how long answers may be, and how answers are scored.
/// </summary>
/// <param name="Name">Task name as reported (sentiment, sentiment-imdb, summarization, translation-en-de, ...).</param>
/// <param name="TemplateTask">The data/templates file that phrases it (sentiment-imdb uses sentiment's).</param>
/// <param name="TestFile">JSONL of test records.</param>
/// <param name="TrainFile">JSONL the k-shot examples are drawn from (null: no shots).</param>
/// <param name="Kind">classification (closed label set) or generation.</param>
/// <param name="InputField">The record field holding the input (text, source).</param>
/// <param name="AnswerField">The record field holding the reference (label, summary, target).</param>
/// <param name="Options">The closed set of answers (classification), else empty.</param>
/// <param name="BasePrompt">How a base model is prompted: a plain-text frame with <c>{input}</c>; the answer follows it.</param>
/// <param name="MaxNewTokens">Longest answer generated.</param>
/// <param name="TargetLanguage">ISO code of the expected answer language (de, fr for translations, en for summaries), else null.</param>
/// <param name="Metrics">Corpus metrics reported, in order.</param>
/// <param name="Beams">Beams of the task's generated answers unless --num-beams says otherwise (1 = greedy); see <see cref="SummaryBeams"/>.</param>
public sealed record EvalTask(
    string Name,
    string TemplateTask,
    string TestFile,
    string? TrainFile,
    string Kind,
    string InputField,
    string AnswerField,
    IReadOnlyList<string> Options,
    string BasePrompt,
    int MaxNewTokens,
    string? TargetLanguage,
    IReadOnlyList<string> Metrics,
    int Beams = 1)
{
    /// <summary>
    /// Summaries are searched with 4 beams, translations and labels greedily: chosen on the dev split (150 items per
    /// task, a default run's tuned models, n-gram ban 3; docs/evaluation.md). Four beams raised ROUGE-L from 0.2165 to
    /// 0.2522 (instruct) and 0.2224 to 0.2399 (finetune), but lowered chrF by 0.4-2.3 in each translation direction,
    /// where the shorter answers beam search prefers lose recall. BART's and PEGASUS's published summarisation
    /// settings search with 4 and 8 beams too.
    /// </summary>
    public const int SummaryBeams = 4;

    /// <summary>Tasks with a closed label set: scored by accuracy and macro-F1, and by log-likelihood ranking.</summary>
    public bool IsClassification => Kind == "classification";

    /// <summary>The labels of the shipped sentiment tasks (sentiment, sentiment-imdb).</summary>
    public static readonly IReadOnlyList<string> SentimentLabels = ["positive", "negative"];

    /// <summary>The shipped tasks, in report order.</summary>
    public static readonly IReadOnlyList<string> Shipped =
        ["sentiment", "sentiment-imdb", "summarization", "translation-en-de", "translation-en-fr"];

    /// <summary>
    /// The definition of a shipped task over <paramref name="taskData"/> (data/tasks). Base prompts follow the
    /// lm-evaluation-harness habit of a short frame that ends where the answer starts ("Sentiment:", "Deutsch:").
    /// The translation frames name both languages in the target language ("Englisch: …\nDeutsch:", "Anglais : …\nFrançais :"),
    /// so the frame itself is a cue to write that language: on the dev split, 3-shot, tailor-multi-small answered in
    /// the wrong language or in a loop for 70% / 68% of en→de / en→fr items with "English: …\nGerman:" and 58% / 55% with these.
    /// <paramref name="split"/> picks the scored file: test (default) or dev.
    /// </summary>
    public static EvalTask Get(string name, string taskData, string split = "test")
    {
        string F(string file) => Path.Combine(taskData, file.Replace(".test.", "." + split + ".", StringComparison.Ordinal));
        return name switch
        {
            "sentiment" => new(name, "sentiment", F("sentiment.test.jsonl"), F("sentiment.train.jsonl"), "classification", "text", "label",
                SentimentLabels, "Review: {input}\nSentiment:", 4, null, ["accuracy", "macro_f1"]),
            "sentiment-imdb" => new(name, "sentiment", F("sentiment-imdb.test.jsonl"), F("sentiment.train.jsonl"), "classification", "text", "label",
                SentimentLabels, "Review: {input}\nSentiment:", 4, null, ["accuracy", "macro_f1"]),
            "summarization" => new(name, "summarization", F("summarization.test.jsonl"), F("summarization.train.jsonl"), "generation", "text", "summary",
                [], "{input}\n\nIn one line:", 32, "en", ["rouge1", "rouge2", "rougeL"], Beams: SummaryBeams),
            "translation-en-de" => new(name, "translation-en-de", F("translation-en-de.test.jsonl"), F("translation-en-de.train.jsonl"), "generation", "source", "target",
                [], "Englisch: {input}\nDeutsch:", 96, "de", ["bleu", "chrf"]),
            "translation-en-fr" => new(name, "translation-en-fr", F("translation-en-fr.test.jsonl"), F("translation-en-fr.train.jsonl"), "generation", "source", "target",
                [], "Anglais : {input}\nFrançais :", 96, "fr", ["bleu", "chrf"]),
            _ => throw new TailorException($"unknown task '{name}'; shipped tasks are {string.Join(", ", Shipped)} (or bring a JSONL file with --data)."),
        };
    }

    /// <summary>
    /// A task from the user's JSONL file. Each line: <c>input</c> (string, required), <c>output</c> (string) or
    /// <c>references</c> (array of strings), optional <c>id</c>, optional <c>instruction</c> (used as the prompt for chat
    /// models: the input is appended after a blank line), optional <c>options</c> (array: makes it a classification task).
    /// The file is checked line by line; errors name file:line and field.
    /// </summary>
    public static (EvalTask Task, IReadOnlyList<EvalRecord> Records) FromUserFile(string path)
    {
        if (!File.Exists(path)) throw new TailorException($"{path}: not found.");
        var records = new List<EvalRecord>();
        IReadOnlyList<string>? options = null;
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement e;
            try
            {
                using var doc = JsonDocument.Parse(text);
                e = doc.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new TailorException($"{path}:{line}: not valid JSON ({ex.Message.Split('\n')[0]}).");
            }
            if (e.ValueKind != JsonValueKind.Object) throw new TailorException($"{path}:{line}: expected a JSON object.");
            string input = Str(e, "input", path, line, required: true)!;
            List<string> refs = [];
            if (e.TryGetProperty("references", out var rs))
            {
                if (rs.ValueKind != JsonValueKind.Array || rs.GetArrayLength() == 0 || rs.EnumerateArray().Any(r => r.ValueKind != JsonValueKind.String))
                    throw new TailorException($"{path}:{line}: field \"references\" must be a non-empty array of strings.");
                refs.AddRange(rs.EnumerateArray().Select(r => r.GetString()!));
            }
            else refs.Add(Str(e, "output", path, line, required: true)!);
            string id = e.TryGetProperty("id", out var idEl) ? (idEl.ValueKind == JsonValueKind.String ? idEl.GetString()! : idEl.GetRawText()) : $"line-{line}";
            string? instruction = Str(e, "instruction", path, line, required: false);
            if (e.TryGetProperty("options", out var os))
            {
                if (os.ValueKind != JsonValueKind.Array || os.GetArrayLength() < 2 || os.EnumerateArray().Any(o => o.ValueKind != JsonValueKind.String))
                    throw new TailorException($"{path}:{line}: field \"options\" must be an array of at least two strings.");
                var these = os.EnumerateArray().Select(o => o.GetString()!).ToList();
                if (options is not null && !options.SequenceEqual(these))
                    throw new TailorException($"{path}:{line}: \"options\" differ from earlier lines; a classification file has one label set.");
                options = these;
                if (!these.Contains(refs[0])) throw new TailorException($"{path}:{line}: the answer \"{refs[0]}\" is not among \"options\".");
            }
            records.Add(new EvalRecord(id, input, refs, instruction));
        }
        if (records.Count == 0) throw new TailorException($"{path}: no records.");
        string name = Path.GetFileNameWithoutExtension(path);
        bool cls = options is not null;
        var task = new EvalTask(name, name, path, null, cls ? "classification" : "generation", "input", "output", options ?? [],
            cls ? "{input}\nAnswer:" : "{input}\n\nAnswer:", cls ? 8 : 96, null,
            cls ? ["accuracy", "macro_f1"] : ["rougeL", "bleu", "chrf"]);
        return (task, records);
    }

    private static string? Str(JsonElement e, string field, string path, int line, bool required)
    {
        if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw new TailorException($"{path}:{line}: missing field \"{field}\".") : null;
        if (v.ValueKind != JsonValueKind.String) throw new TailorException($"{path}:{line}: field \"{field}\" must be a string.");
        return v.GetString();
    }

    /// <summary>Reads the test records of a shipped task.</summary>
    public IReadOnlyList<EvalRecord> ReadTest() => Read(TestFile);

    /// <summary>Reads records of a shipped-task file as (id, input, reference).</summary>
    public IReadOnlyList<EvalRecord> Read(string file)
    {
        if (!File.Exists(file)) throw new TailorException($"{file}: not found (task data is rebuilt by scripts/data/build-all.sh).");
        return [.. TaskTemplates.ReadRecords(file).Select(r =>
        {
            if (!r.Fields.TryGetValue(InputField, out var input)) throw new TailorException($"{file}:{r.Line}: missing field \"{InputField}\".");
            if (!r.Fields.TryGetValue(AnswerField, out var answer)) throw new TailorException($"{file}:{r.Line}: missing field \"{AnswerField}\".");
            return new EvalRecord(r.Id, input, [answer], null) { Fields = r.Fields };
        })];
    }
}

/// <summary>One test item.</summary>
/// <param name="Id">Record id.</param>
/// <param name="Input">The input text.</param>
/// <param name="References">Reference answers.</param>
/// <param name="Instruction">A user file's own instruction (chat models), else null.</param>
public sealed record EvalRecord(string Id, string Input, IReadOnlyList<string> References, string? Instruction)
{
    /// <summary>All string fields of the record (for template placeholders).</summary>
    public IReadOnlyDictionary<string, string>? Fields { get; init; }
}
