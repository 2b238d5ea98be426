using System.ComponentModel;

namespace Tailor.Pipeline;

/// <summary>
/// Options of the main job (<see cref="MainJob"/>, <c>tailor run</c>). The profile fills in what is left unset, so that
/// the defaults fit a 2-core laptop CPU in about fifteen minutes; every value can still be overridden.
/// </summary>
public sealed record RunOptions
{
    /// <summary>Profile.</summary>
    [Description("default (both shipped bases, 300-item test subsets, short tunings: ~15 min on 2 cores), full (whole test sets, longer tunings, fine-tunes for both bases), smoke (tiny random bases, a few steps, 12 items: CI)")]
    public string Profile { get; set; } = "default";

    /// <summary>Run folder.</summary>
    [Description("run folder; null = resume the newest unfinished runs/run-* of the same profile, else a new runs/run-<timestamp>")]
    public string? Output { get; set; }

    /// <summary>Start fresh.</summary>
    [Description("start a new run folder even when an unfinished one exists")]
    public bool New { get; set; }

    /// <summary>Redo every stage.</summary>
    [Description("redo every stage even when its inputs (data, options, code) did not change")]
    public bool Force { get; set; }

    /// <summary>Base models.</summary>
    [Description("comma-separated NAME=DIR base models (Hugging Face Llama/Qwen2 folders); the first is the small one whose ablations run")]
    public string BaseModels { get; set; } = "small=models/tailor-base-small,base=models/tailor-base";

    /// <summary>Tasks.</summary>
    [Description("the tasks tuned and evaluated (sentiment-imdb, the out-of-domain set, is evaluated whenever sentiment is)")]
    public string Tasks { get; set; } = "sentiment,summarization,translation-en-de,translation-en-fr";

    /// <summary>Task data folder.</summary>
    [Description("folder of TASK.{train,dev,test}.jsonl")]
    public string TaskData { get; set; } = "data/tasks";

    /// <summary>Templates folder.</summary>
    [Description("folder of the instruction templates TASK.json")]
    public string Templates { get; set; } = "data/templates";

    /// <summary>AFINN lexicon of the sentiment baseline.</summary>
    [Description("AFINN-165 lexicon of the classic sentiment baseline (data/baselines, built from npm sentiment)")]
    public string Afinn { get; set; } = "data/baselines/afinn-165.json";

    /// <summary>Items per task.</summary>
    [Description("test items per task (seeded subset; 0 = whole test sets); null = the profile's (default 300, full 0, smoke 12)")]
    public int? Limit { get; set; }

    /// <summary>k for the bases' k-shot evaluation.</summary>
    [Description("k of the bases' k-shot evaluation (0 = skip it); null = the profile's (default 1, full 3, smoke 1)")]
    public int? Shots { get; set; }

    /// <summary>Instruction-tuning steps on the small base.</summary>
    [Description("optimizer steps of each tuning on the first (small) base; null = the profile's (default 32, full 400, smoke 3)")]
    public long? Steps { get; set; }

    /// <summary>Instruction-tuning steps on the other bases.</summary>
    [Description("optimizer steps of each tuning on the other bases; null = the profile's (default 32, full 400, smoke 3): the same budget, so the base-model comparison is fair")]
    public long? StepsLarge { get; set; }

    /// <summary>Rows per batch.</summary>
    [Description("rows per micro-batch of the tunings (x 512 tokens); null = the profile's (8, smoke 2)")]
    public int? Batch { get; set; }

    /// <summary>Evaluation batch.</summary>
    [Description("prompts generated together in the evaluations (larger batches amortise the per-step cost of small models)")]
    public int EvalBatch { get; set; } = 48;

    /// <summary>k-shot evaluation of the larger bases too.</summary>
    [Description("also evaluate the other bases k-shot (default profile: only the first base, to fit 15 minutes; no claim needs it)")]
    public bool? KshotAllBases { get; set; }

    /// <summary>Input cap of the evaluations.</summary>
    [Description("evaluations read only the first N words of each input (0 = all); null = the profile's (default 128, full 0, smoke 64)")]
    public int? MaxInputWords { get; set; }

    /// <summary>Answer-length scale of the evaluations.</summary>
    [Description("multiplies the answer caps (summary 32, translation 96 tokens); null = the profile's (default 0.75, full 1, smoke 0.25)")]
    public double? MaxNewTokensScale { get; set; }

    /// <summary>Fine-tune the larger bases too.</summary>
    [Description("also task-fine-tune the other bases (default profile: no, to fit 15 minutes; full: yes)")]
    public bool? FinetuneAllBases { get; set; }

    /// <summary>Bootstrap resamples.</summary>
    [Description("paired-bootstrap resamples of the comparison")]
    public int Resamples { get; set; } = 1000;

    /// <summary>Seed.</summary>
    [Description("seed of the tunings, subsets, shots and bootstrap")]
    public long Seed { get; set; } = 1337;

    /// <summary>Device.</summary>
    [Description("cpu, or cuda where TorchSharp's CUDA package is installed")]
    public string Device { get; set; } = "cpu";

    /// <summary>Threads.</summary>
    [Description("intra-op threads, at most 4 per core; null = libtorch's default (all cores)")]
    public int? Threads { get; set; }

    /// <summary>The (name, folder) base models.</summary>
    public IReadOnlyList<(string Name, string Folder)> Bases()
    {
        var list = new List<(string, string)>();
        foreach (string part in Training.RecipeOptions.List(BaseModels))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string name = eq > 0 ? part[..eq] : Path.GetFileName(part.TrimEnd('/'));
            string folder = eq > 0 ? part[(eq + 1)..] : part;
            if (name.Length == 0 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
                throw new TailorException($"base_models: '{part}': names are letters, digits, - and _ (NAME=DIR).");
            if (list.Any(b => b.Item1 == name)) throw new TailorException($"base_models: the name '{name}' is given twice.");
            list.Add((name, folder));
        }
        if (list.Count == 0) throw new TailorException("base_models is empty: give NAME=DIR,...");
        return list;
    }

    /// <summary>The tuned tasks.</summary>
    public IReadOnlyList<string> TaskList() => Training.RecipeOptions.List(Tasks);

    /// <summary>Fills the profile's values into unset options and checks them.</summary>
    public RunOptions Resolve()
    {
        var r = this with { };
        (int limit, int shots, long steps, long stepsLarge, int batch, bool ftAll, int words, double scale) = Profile switch
        {
            "default" => (300, 1, 32L, 32L, 8, false, 128, 0.75),
            "full" => (0, 3, 400L, 400L, 8, true, 0, 1.0),
            "smoke" => (12, 1, 3L, 3L, 2, true, 64, 0.25),
            _ => throw new TailorException($"profile = {Profile}: use default, full or smoke."),
        };
        r.Limit ??= limit;
        r.Shots ??= shots;
        r.Steps ??= steps;
        r.StepsLarge ??= stepsLarge;
        r.Batch ??= batch;
        r.FinetuneAllBases ??= ftAll;
        r.KshotAllBases ??= ftAll;
        r.MaxInputWords ??= words;
        r.MaxNewTokensScale ??= scale;
        if (r.Limit < 0) throw new TailorException($"limit = {r.Limit}: must be 0 (all) or positive.");
        if (r.Steps < 1 || r.StepsLarge < 1) throw new TailorException("steps and steps_large must be positive.");
        if (r.Batch < 1) throw new TailorException($"batch = {r.Batch}: must be positive.");
        Evaluation.Statistics.BootstrapOptions.CheckResamples(r.Resamples, "resamples");
        foreach (string t in r.TaskList())
            if (!Evaluation.EvalTask.Shipped.Contains(t) || t == "sentiment-imdb")
                throw new TailorException($"unknown task '{t}' in tasks; use sentiment, summarization, translation-en-de, translation-en-fr.");
        _ = r.Bases();
        return r;
    }
}
