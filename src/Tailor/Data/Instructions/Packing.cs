using Tailor.Text;
using static TorchSharp.torch;

namespace Tailor.Data.Instructions;

/// <summary>Where one example sits in a <see cref="PackedSequence"/>.</summary>
/// <param name="Example">Index of the example in the list given to <see cref="Packing.Pack"/> or <see cref="Packing.PadBatch"/>.</param>
/// <param name="Start">First position.</param>
/// <param name="Length">Number of positions.</param>
public sealed record PackedSpan(int Example, int Start, int Length);

/// <summary>
/// One row of a training batch: examples laid end to end, then padding. All arrays have the row's length.
/// </summary>
/// <param name="Ids">Token ids; padding is the pad id.</param>
/// <param name="Labels">Already shifted for a causal LM: <c>Labels[t]</c> is the target of the logits at position t,
/// i.e. <c>Ids[t + 1]</c> when that token is trained and belongs to the same example, else
/// <see cref="Packing.IgnoreIndex"/> (-100). The trainer must not shift again.</param>
/// <param name="Positions">RoPE positions, restarting at 0 for each example; 0 on padding.</param>
/// <param name="Segments">Segment per position: 0, 1, ... for the examples in order; every padding position has a
/// segment of its own (so it attends only to itself and no softmax row is empty).</param>
/// <param name="Spans">The examples in this row, in order.</param>
public sealed record PackedSequence(int[] Ids, int[] Labels, int[] Positions, int[] Segments, IReadOnlyList<PackedSpan> Spans)
{
    /// <summary>Number of positions.</summary>
    public int Length => Ids.Length;

    /// <summary>Positions holding example tokens (not padding).</summary>
    public int Used => Spans.Sum(s => s.Length);
}

/// <summary>
/// A batch as tensors on one device, made by <see cref="Packing.ToBatch"/>. The tensors are created in the caller's
/// current dispose scope (so a per-step scope frees them); <see cref="Dispose"/> frees them earlier.
/// </summary>
public sealed class SequenceBatch : IDisposable
{
    internal SequenceBatch(Tensor ids, Tensor labels, Tensor positions, Tensor segments, Tensor mask, Tensor trainedAt, Tensor trainedLabels, Tensor exampleWeights, int targets, int used)
    {
        Ids = ids;
        Labels = labels;
        TrainedAt = trainedAt;
        TrainedLabels = trainedLabels;
        ExampleWeights = exampleWeights;
        Positions = positions;
        Segments = segments;
        Mask = mask;
        Targets = targets;
        Used = used;
    }

    /// <summary>(B, T) int64 token ids.</summary>
    public Tensor Ids { get; }

    /// <summary>(B, T) int64 shifted labels, -100 where no loss is taken: <c>cross_entropy(logits.view(-1, V),
    /// Labels.view(-1), ignore_index: -100)</c> is the loss; no further shift.</summary>
    public Tensor Labels { get; }

    /// <summary>(N) int64 flat indices (b·T + t) of the N positions whose label is not -100: the <c>keep</c> argument of
    /// <see cref="Model.CausalLM.Forward"/>, so that only trained positions go through the output projection.</summary>
    public Tensor TrainedAt { get; }

    /// <summary>(N) int64 the labels at <see cref="TrainedAt"/>: <c>cross_entropy(Forward(..., keep: TrainedAt),
    /// TrainedLabels)</c> is the same loss as over all of <see cref="Labels"/> with ignore_index.</summary>
    public Tensor TrainedLabels { get; }

    /// <summary>(N) float32 per trained position, 1 / the trained positions of its example: Σ weight · loss over the
    /// batch is the sum of each example's mean token loss (per-example loss normalisation).</summary>
    public Tensor ExampleWeights { get; }

    /// <summary>(B, T) int64 RoPE positions, for <c>LlamaForCausalLM.Forward(ids, positions, mask)</c>.</summary>
    public Tensor Positions { get; }

    /// <summary>(B, T) int64 segment ids.</summary>
    public Tensor Segments { get; }

    /// <summary>(B, 1, T, T) bool attention mask from <see cref="Packing.BlockCausalMask"/>: true where a query may attend a key.</summary>
    public Tensor Mask { get; }

    /// <summary>Number of labels that are not -100 (the loss's denominator), counted on the host without a device sync.</summary>
    public int Targets { get; }

    /// <summary>Positions holding example tokens, out of B·T.</summary>
    public int Used { get; }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Ids.Dispose();
        Labels.Dispose();
        TrainedAt.Dispose();
        TrainedLabels.Dispose();
        ExampleWeights.Dispose();
        Positions.Dispose();
        Segments.Dispose();
        Mask.Dispose();
    }
}

/// <summary>
/// Lays encoded examples out as fixed-length training rows: packed (several examples per row, attention kept inside
/// each example by a block-diagonal causal mask and per-example positions) or one example per row, right-padded.
/// </summary>
/// <remarks>
/// Labels are shifted here, not in the trainer, because packing decides which neighbour is a target: the last token of
/// one example must not learn to predict the first token of the next.
/// </remarks>
public static class Packing
{
    /// <summary>The label of positions without a loss (PyTorch's cross_entropy default ignore_index).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>
    /// The padding id: the tokenizer's pad token (<c>&lt;|pad|&gt;</c> for tokenizers Tailor trains). Padding is never
    /// trained, but a pad id equal to EOS or <c>&lt;|im_end|&gt;</c> is refused: tools that mask labels by id would
    /// then also mask every end-of-turn, and the model would never learn to stop.
    /// </summary>
    /// <exception cref="TailorException">No pad token, or it is EOS / end-of-turn.</exception>
    public static int PadIdOf(TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        int pad = tokenizer.PadId
            ?? throw new TailorException("the tokenizer has no pad token (pad_token in tokenizer_config.json). Add <|pad|> as a special token; never pad with EOS.");
        if (pad == tokenizer.EosId || pad == tokenizer.TokenToId(ChatTemplate.EndToken))
            throw new TailorException($"the tokenizer's pad token '{tokenizer.IdToToken(pad)}' is also its end-of-sequence or end-of-turn token. Use a separate <|pad|> token.");
        return pad;
    }

    /// <summary>
    /// The id that fills padding positions in training rows: the tokenizer's pad token when it has one (checked by
    /// <see cref="PadIdOf"/>), otherwise its EOS (GPT-2 has no pad token). The value is inert: a padding position sits
    /// after every real token of its row, in a segment of its own, with label <see cref="IgnoreIndex"/>, so no real
    /// token attends to it and it never reaches the loss; and it is never written as a pad token, so no later tool can
    /// mask end-of-sequence labels by id.
    /// </summary>
    /// <exception cref="TailorException">The tokenizer has neither a pad nor an EOS token, or its pad token is EOS / end-of-turn.</exception>
    public static int FillerIdOf(TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.PadId is not null) return PadIdOf(tokenizer);
        return tokenizer.EosId
            ?? throw new TailorException("the tokenizer has neither a pad token nor an EOS token to fill padding with. Add <|pad|> as a special token (pad_token in tokenizer_config.json).");
    }

    /// <summary>
    /// Packs examples greedily into rows of <paramref name="sequenceLength"/> tokens: each example goes into the open row
    /// with the least room that still fits it (best fit; ties go to the older row), or starts a new row. Examples are
    /// taken in the given order, or longest first with <paramref name="longestFirst"/> (best-fit decreasing: fewer,
    /// fuller rows, but long examples end up in the first rows, so shuffle the rows before training). Rows come out in
    /// the order they were started, padded to the full length. Deterministic.
    /// </summary>
    /// <exception cref="TailorException">An example is longer than <paramref name="sequenceLength"/> (encode with that maximum).</exception>
    public static IReadOnlyList<PackedSequence> Pack(IReadOnlyList<EncodedExample> examples, int sequenceLength, int padId, bool longestFirst = false)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        List<List<int>> rows = [];
        List<int> room = [];
        // byRoom[r]: rows with exactly r free positions, oldest first; scanning r upwards finds the best fit in O(T).
        var byRoom = new SortedSet<int>[sequenceLength + 1];
        IEnumerable<int> order = Enumerable.Range(0, examples.Count);
        if (longestFirst) order = order.OrderByDescending(e => examples[e].Length); // stable: ties keep their order
        foreach (int e in order)
        {
            int length = examples[e].Length;
            if (length > sequenceLength)
                throw new TailorException($"example {e} has {length} tokens, more than the sequence length {sequenceLength}. Encode with maxLength ≤ {sequenceLength}.");
            if (length == 0) continue;
            int row = -1;
            for (int r = length; r <= sequenceLength && row < 0; r++)
            {
                if (byRoom[r] is { Count: > 0 } candidates) row = candidates.Min;
            }

            if (row < 0)
            {
                row = rows.Count;
                rows.Add([]);
                room.Add(sequenceLength);
            }
            else
            {
                byRoom[room[row]].Remove(row);
            }

            rows[row].Add(e);
            room[row] -= length;
            (byRoom[room[row]] ??= []).Add(row);
        }

        return [.. rows.Select(members => Lay(examples, members, sequenceLength, padId))];
    }

    /// <summary>
    /// One example per row, right-padded to the longest example (or to <paramref name="length"/> when given), for
    /// unpacked batches. Same labels, positions and segments as <see cref="Pack"/>.
    /// </summary>
    public static IReadOnlyList<PackedSequence> PadBatch(IReadOnlyList<EncodedExample> examples, int padId, int? length = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        int longest = examples.Count == 0 ? 0 : examples.Max(e => e.Length);
        int target = length ?? longest;
        if (target < longest)
            throw new ArgumentOutOfRangeException(nameof(length), $"length {target} is shorter than the longest example ({longest} tokens)");
        return [.. examples.Select((_, i) => Lay(examples, [i], target, padId))];
    }

    /// <summary>The shifted labels of one example on its own (what a row holding only it would get, without padding).</summary>
    public static int[] ShiftedLabels(EncodedExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        int[] labels = new int[example.Length];
        for (int t = 0; t < labels.Length; t++)
            labels[t] = t + 1 < labels.Length && example.Trained[t + 1] ? example.Ids[t + 1] : IgnoreIndex;
        return labels;
    }

    /// <summary>
    /// Stacks rows of equal length into tensors on <paramref name="device"/> (CPU when null), with the attention mask.
    /// </summary>
    /// <exception cref="ArgumentException">The rows differ in length, or there are none.</exception>
    public static SequenceBatch ToBatch(IReadOnlyList<PackedSequence> rows, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) throw new ArgumentException("no rows to batch", nameof(rows));
        int t = rows[0].Length;
        if (rows.Any(r => r.Length != t)) throw new ArgumentException("rows of a batch must have the same length; use Pack or PadBatch", nameof(rows));
        long[] ids = new long[rows.Count * t], labels = new long[ids.Length], positions = new long[ids.Length], segments = new long[ids.Length];
        int targets = 0, used = 0;
        var trainedAt = new List<long>();
        var trainedLabels = new List<long>();
        var weights = new List<float>();
        for (int b = 0; b < rows.Count; b++)
        {
            PackedSequence row = rows[b];
            used += row.Used;
            for (int i = 0; i < t; i++)
            {
                int at = (b * t) + i;
                ids[at] = row.Ids[i];
                labels[at] = row.Labels[i];
                positions[at] = row.Positions[i];
                segments[at] = row.Segments[i];
                if (row.Labels[i] != IgnoreIndex)
                {
                    targets++;
                    trainedAt.Add(at);
                    trainedLabels.Add(row.Labels[i]);
                }
            }
            foreach (PackedSpan span in row.Spans)
            {
                int n = Targets(row, span);
                for (int i = 0; i < n; i++) weights.Add(1f / n);
            }
        }

        device ??= CPU;
        long[] shape = [rows.Count, t];
        Tensor segmentTensor = tensor(segments, shape, device: device);
        return new SequenceBatch(
            tensor(ids, shape, device: device),
            tensor(labels, shape, device: device),
            tensor(positions, shape, device: device),
            segmentTensor,
            BlockCausalMask(segmentTensor),
            tensor(trainedAt.ToArray(), [trainedAt.Count], device: device),
            tensor(trainedLabels.ToArray(), [trainedLabels.Count], device: device),
            tensor(weights.ToArray(), [weights.Count], device: device),
            targets,
            used);
    }

    /// <summary>Trained (loss-bearing) positions of one example in its row.</summary>
    public static int Targets(PackedSequence row, PackedSpan span)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(span);
        int n = 0;
        for (int p = span.Start; p < span.Start + span.Length; p++)
            if (row.Labels[p] != IgnoreIndex) n++;
        return n;
    }

    /// <summary>
    /// The attention mask for packed rows: (B, T) segment ids → (B, 1, T, T) bool, true where query i and key j are in
    /// the same segment and j ≤ i. Padding positions, each a segment of its own, see only themselves.
    /// </summary>
    public static Tensor BlockCausalMask(Tensor segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        if (segments.dim() != 2) throw new ArgumentException($"segments must be (B, T), got ({string.Join(", ", segments.shape)})", nameof(segments));
        using var scope = NewDisposeScope();
        long t = segments.shape[1];
        var same = segments.unsqueeze(2).eq(segments.unsqueeze(1));              // (B, T, T): [b, query, key]
        var causal = ones(t, t, dtype: ScalarType.Bool, device: segments.device).tril(); // (T, T): key ≤ query
        return same.logical_and(causal).unsqueeze(1).MoveToOuterDisposeScope(); // (B, 1, T, T)
    }

    private static PackedSequence Lay(IReadOnlyList<EncodedExample> examples, List<int> members, int length, int padId)
    {
        int[] ids = new int[length], labels = new int[length], positions = new int[length], segments = new int[length];
        List<PackedSpan> spans = new(members.Count);
        int at = 0;
        foreach (int e in members)
        {
            EncodedExample example = examples[e];
            int segment = spans.Count;
            spans.Add(new PackedSpan(e, at, example.Length));
            for (int i = 0; i < example.Length; i++)
            {
                ids[at + i] = example.Ids[i];
                labels[at + i] = i + 1 < example.Length && example.Trained[i + 1] ? example.Ids[i + 1] : IgnoreIndex;
                positions[at + i] = i;
                segments[at + i] = segment;
            }

            at += example.Length;
        }

        for (int p = at, segment = spans.Count; p < length; p++, segment++)
        {
            ids[p] = padId;
            labels[p] = IgnoreIndex;
            positions[p] = 0;
            segments[p] = segment;
        }

        return new PackedSequence(ids, labels, positions, segments, spans);
    }
}
