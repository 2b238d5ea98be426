namespace Tailor.Evaluation.Report;

/// <summary>
/// Claim 9: the instruction-tuned decoder against the seed's fine-tuned BERT, a real pretrained encoder
/// (all-MiniLM-L6-v2 in the main job) task-fine-tuned into a sentiment classifier. One piece of evidence per
/// instruction-tuned model (each base) and sentiment test set (in domain and IMDB): accuracy of the decoder minus
/// accuracy of the classifier on the items both answered, with the paired test, Holm adjustment and floor/degeneracy
/// rules every claim uses (<see cref="Claims"/>).
/// </summary>
internal static class EncoderClaim
{
    /// <summary>The role of a task-fine-tuned encoder classifier in a roles file.</summary>
    public const string Role = "encoder-finetuned";

    public const string Text = "Instruction-tuned is more accurate on sentiment than a task fine-tuned real pretrained encoder (BERT-family classifier)";

    public const string Measure = "accuracy difference (instruct − encoder-finetuned), per sentiment test set";

    public const string Missing = "needs an instruct model and an encoder-finetuned classifier evaluated on sentiment";

    public static List<ClaimEvidence> Evidence(IReadOnlyList<string> bases, Func<string, string, IEnumerable<ModelEntry>> with,
        IReadOnlyList<ModelEntry> models, IReadOnlyList<TaskReport> tasks, IPairedStatistics stats)
    {
        var evidence = new List<ClaimEvidence>();
        var encoders = models.Where(m => m.Role == Role).ToList();
        foreach (string b in bases)
            foreach (var instruct in with("instruct", b))
                foreach (var encoder in encoders)
                    foreach (var t in tasks.Where(t => t.Task.StartsWith("sentiment", StringComparison.Ordinal)))
                    {
                        if (stats.Compare(encoder.Name, instruct.Name, t.Task, t.PrimaryMetric) is not { } c) continue;
                        string? caveat = Claims.Caveat(t, encoder.Name, c.ReferenceScore, instruct.Name, c.ModelScore, higherIsBetter: true, floorApplies: true);
                        evidence.Add(new ClaimEvidence($"{b}: {t.Task} {t.PrimaryMetric}, {instruct.Name} − {encoder.Name}", c.Delta, c.Low, c.High, c.PValue, false,
                            Caveat: caveat, Task: t.Task, Metric: t.PrimaryMetric, Model: instruct.Name, Versus: encoder.Name));
                    }
        return evidence;
    }
}
