using Tailor.Model;

namespace Tailor.Evaluation.Answering;

/// <summary>
/// Something that answers evaluation questions: a model folder (<see cref="ModelAnswerer"/>), an OpenAI-compatible
/// endpoint (<see cref="EndpointAnswerer"/>), a fine-tuned encoder classifier (<see cref="EncoderAnswerer"/>) or a classic baseline (<see cref="BaselineAnswerer"/>). It also names
/// itself for the results file: display name, source, content hash, kind and the prompt format it answers in.
/// </summary>
public abstract class Answerer : IDisposable
{
    /// <summary>Display name in reports.</summary>
    public abstract string Name { get; }

    /// <summary>Where the answers come from: a folder, an endpoint URL#model, or baseline:NAME.</summary>
    public abstract string Source { get; }

    /// <summary>First 16 hex digits of the weights' (or lexicon's) sha256; "endpoint"/"builtin"/"sharded" where none applies.</summary>
    public abstract string Hash { get; }

    /// <summary>base, finetuned, chat or baseline.</summary>
    public abstract string Kind { get; }

    /// <summary>The prompt format the questions are phrased in: base, plain, chatml or baseline.</summary>
    public abstract string Format { get; }

    /// <summary>Whether <see cref="Rank"/> is available (log-likelihood needs the model's logits).</summary>
    public virtual bool CanRank => false;

    /// <summary>Whether plain prompts end with the task's name (a multi-task fine-tune's <c>task_prefix</c>).</summary>
    public virtual bool TaskPrefix => false;

    /// <summary>How the task's scores were made, when not by generation (an encoder classifier says "classifier").</summary>
    public virtual string? Mode => null;

    /// <summary>Beams the task's answers are searched with (1 = greedy); only local models search with beams.</summary>
    public virtual int Beams(EvalTask task) => 1;

    /// <summary>Answers every question (greedy or beam search), in order; <paramref name="done"/> gets the count answered so far.</summary>
    public abstract IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel);

    /// <summary>Log-likelihood ranking of a label task's options: per question, (acc, acc_norm, the best option, the prompt as the model read it).</summary>
    public virtual IReadOnlyList<(double, double, string, string)> Rank(EvalTask task, IReadOnlyList<Question> questions, CancellationToken cancel) =>
        throw new NotSupportedException();

    /// <summary>Frees the model or connection.</summary>
    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <summary>The answerer the options name: a baseline, an endpoint, or (by default) a model folder.</summary>
    public static Answerer Create(EvalOptions o, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(say);
        if (o.Baseline is not null) return new BaselineAnswerer(o);
        if (o.Endpoint is not null) return new EndpointAnswerer(o, say);
        if (BertConfig.IsEncoderFolder(o.Model!) || Lora.EncoderAdapter.IsAdapterFolder(o.Model!)) return new EncoderAnswerer(o, say);
        return new ModelAnswerer(o, say);
    }

    /// <summary>A model folder's display name: its own name, or its parent's when it is final/, adapter/ or checkpoint/.</summary>
    protected static string DefaultName(string folder)
    {
        string full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        string leaf = Path.GetFileName(full);
        return leaf is "final" or "adapter" or "checkpoint" ? Path.GetFileName(Path.GetDirectoryName(full)!) : leaf;
    }
}
