using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tailor.Evaluation;

/// <summary>
/// One scored item of an evaluation: what the model was asked, what it answered, and the per-item numbers that paired
/// statistics need. One JSON object per line of <c>predictions.jsonl</c>. Items of two evaluations pair up by
/// <see cref="Key"/> (task, id, template): the same test item asked the same way.
/// </summary>
/// <param name="Task">Evaluation task: sentiment, sentiment-imdb, summarization, translation-en-de, translation-en-fr, or a user task.</param>
/// <param name="Id">The test record's id.</param>
/// <param name="Template">Instruction template id (chat models), or <c>plain</c> (base / fine-tuned models, baselines).</param>
/// <param name="Prompt">The exact prompt text the model saw (after the chat template, if any).</param>
/// <param name="Prediction">The generated answer, trimmed (generation mode), or the best option (log-likelihood mode).</param>
/// <param name="References">Reference answers (one for the shipped tasks).</param>
/// <param name="OffTask">Whether the answer is off-task (see <see cref="OffTaskReason"/>).</param>
/// <param name="OffTaskReason">not_a_label, empty, another_tasks_label, longer_than_input, wrong_language, repetition; null when on task.</param>
/// <param name="GeneratedTokens">Tokens the model generated for this item (0 for log-likelihood scoring and baselines).</param>
/// <param name="Scores">Per-item metric values: <c>correct</c> (0/1) for classification; <c>rouge1</c>, <c>rouge2</c>,
/// <c>rougeL</c> F-measures (0-1) for summaries; <c>chrf</c> sentence chrF (0-100) for translations; <c>loglik_correct</c>,
/// <c>loglik_norm_correct</c> for log-likelihood ranking.</param>
/// <param name="Input">The test input as the model was given it (after <c>--max-input-words</c>), without prompt or
/// template; <c>tailor compare</c> builds the no-model floors from it. Null in folders written before it was recorded.</param>
/// <param name="FinishReason">Why generation ended: stop (end of turn or newline), length (the task's token cap) or
/// repetition (the answer fell into a loop and was cut, <c>--stop-repetition</c>), or rank (the likeliest label: rank
/// classification, <c>--label-answers</c>, nothing generated); null for
/// baselines, endpoints and folders written before it was recorded.</param>
public sealed record EvalItem(
    string Task,
    string Id,
    string Template,
    string Prompt,
    string Prediction,
    IReadOnlyList<string> References,
    bool OffTask,
    string? OffTaskReason,
    int GeneratedTokens,
    IReadOnlyDictionary<string, double> Scores,
    string? Input = null,
    string? FinishReason = null)
{
    /// <summary>The pairing key: task, id and template.</summary>
    [JsonIgnore]
    public string Key => Task + "\u0001" + Id + "\u0001" + Template;
}

/// <summary>The scores of one task for one model: corpus metrics, off-task rate, efficiency, per-template breakdown.</summary>
/// <param name="Task">Evaluation task name.</param>
/// <param name="Items">Test items scored (per template).</param>
/// <param name="Mode">generation, generation+loglik, rank (labels answered by rank classification) or classifier.</param>
/// <param name="Metrics">Corpus metrics by name: accuracy, macro_f1 (0-1); rouge1, rouge2, rougeL (mean F, 0-1);
/// bleu, chrf (0-100, as sacreBLEU); acc, acc_norm for log-likelihood ranking (0-1).</param>
/// <param name="Signatures">Metric signatures (sacreBLEU/rouge-score style) by metric name.</param>
/// <param name="OffTaskRate">Share of off-task answers (0-1).</param>
/// <param name="OffTaskReasons">Share by reason.</param>
/// <param name="TokensPerItem">Mean generated tokens per item.</param>
/// <param name="ItemsPerSecond">Items scored per second of wall time.</param>
/// <param name="ByTemplate">Metrics per instruction template (held-out templates for chat models).</param>
/// <param name="TrainFile">Full path of the task's train split (k-shot examples; <c>tailor compare</c>'s majority-label
/// floor), or null when the task has none (user tasks) or the folder was written before it was recorded.</param>
/// <param name="Labels">The closed label set of a classification task, else null.</param>
/// <param name="TargetLanguage">ISO code of the expected answer language, else null.</param>
public sealed record TaskResult(
    string Task,
    int Items,
    string Mode,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, string> Signatures,
    double OffTaskRate,
    IReadOnlyDictionary<string, double> OffTaskReasons,
    double TokensPerItem,
    double ItemsPerSecond,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> ByTemplate,
    string? TrainFile = null,
    IReadOnlyList<string>? Labels = null,
    string? TargetLanguage = null);

/// <summary>
/// What <c>tailor eval</c> writes as <c>results.json</c> beside <c>predictions.jsonl</c>: the model, how it was asked,
/// the data, and per-task results.
/// </summary>
/// <param name="Name">Display name of the model (folder name, or the baseline's name).</param>
/// <param name="Model">Model folder, endpoint URL, or <c>baseline:NAME</c>.</param>
/// <param name="ModelHash">sha256 of the weights (first 16 hex digits), or of the baseline's definition.</param>
/// <param name="Kind">base (plain prompts), finetuned (plain task format), chat (ChatML + instructions), baseline.</param>
/// <param name="Shots">k of k-shot prompting (0 = zero-shot).</param>
/// <param name="DataHash">sha256 over the scored items' ids and references (first 16 hex digits).</param>
/// <param name="Config">The evaluation options, as given.</param>
/// <param name="Tasks">Per-task results, in task order.</param>
/// <param name="Created">UTC time the evaluation finished.</param>
/// <param name="Tool">Tailor's version string.</param>
public sealed record EvalRun(
    string Name,
    string Model,
    string ModelHash,
    string Kind,
    int Shots,
    string DataHash,
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyList<TaskResult> Tasks,
    DateTime Created,
    string Tool)
{
    /// <summary>File name of the results in an evaluation folder.</summary>
    public const string ResultsFile = "results.json";

    /// <summary>File name of the per-item predictions in an evaluation folder.</summary>
    public const string PredictionsFile = "predictions.jsonl";

    /// <summary>The JSON options every results and predictions file is written with (snake_case names).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Same, one object per line.</summary>
    public static readonly JsonSerializerOptions JsonLine = new(Json) { WriteIndented = false };

    /// <summary>Writes <c>results.json</c> and <c>predictions.jsonl</c> into <paramref name="folder"/> (created).</summary>
    public void Save(string folder, IEnumerable<EvalItem> items)
    {
        Directory.CreateDirectory(folder);
        string tmp = Path.Combine(folder, PredictionsFile + ".tmp");
        using (var w = new StreamWriter(tmp))
            foreach (var item in items) w.WriteLine(JsonSerializer.Serialize(item, JsonLine));
        File.Move(tmp, Path.Combine(folder, PredictionsFile), overwrite: true);
        string res = Path.Combine(folder, ResultsFile + ".tmp");
        File.WriteAllText(res, JsonSerializer.Serialize(this, Json) + "\n");
        File.Move(res, Path.Combine(folder, ResultsFile), overwrite: true);
    }

    /// <summary>Reads an evaluation folder (or a results.json path); errors name the file and what is wrong.</summary>
    public static (EvalRun Run, IReadOnlyList<EvalItem> Items) Load(string path)
    {
        string folder = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        string results = Path.Combine(folder, ResultsFile);
        if (!File.Exists(results))
            throw new TailorException($"{path}: no {ResultsFile} here; give a folder written by `tailor eval`.");
        EvalRun run;
        try
        {
            run = JsonSerializer.Deserialize<EvalRun>(File.ReadAllText(results), Json)
                ?? throw new TailorException($"{results}: empty.");
        }
        catch (JsonException e)
        {
            throw new TailorException($"{results}: not a Tailor results file ({e.Message}).");
        }
        var items = new List<EvalItem>();
        string predictions = Path.Combine(folder, PredictionsFile);
        if (File.Exists(predictions))
        {
            int line = 0;
            foreach (string text in File.ReadLines(predictions))
            {
                line++;
                if (text.Length == 0) continue;
                try
                {
                    items.Add(JsonSerializer.Deserialize<EvalItem>(text, JsonLine)
                        ?? throw new TailorException($"{predictions}:{line}: null record."));
                }
                catch (JsonException e)
                {
                    throw new TailorException($"{predictions}:{line}: not a prediction record ({e.Message}).");
                }
            }
        }
        return (run, items);
    }
}
