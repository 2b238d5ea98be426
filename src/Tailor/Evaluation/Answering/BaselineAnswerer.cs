using Tailor.Evaluation.Baselines;

namespace Tailor.Evaluation.Answering;

internal sealed class BaselineAnswerer(EvalOptions o) : Answerer
{
    private AfinnClassifier? _afinn;

    public override string Name => o.Name ?? (o.Baseline == "classic" ? "classic-baselines" : o.Baseline!);
    public override string Source => "baseline:" + o.Baseline;
    public override string Hash => o.Baseline is "classic" or "afinn" && File.Exists(o.Afinn) ? StableHash.Sha256File(o.Afinn)[..16] : "builtin";
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
