using Tailor.Model;
using Tailor.Text;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using Tailor.Data.Instructions;

namespace Tailor.Tests.Data.Instructions;

[Collection("TorchSharp")]
public class PackingTests
{
    private const int Pad = 0, Ignore = Packing.IgnoreIndex;

    private static EncodedExample E(int[] ids, bool[] trained) => new(ids, trained);

    [Fact]
    public void Pack_lays_out_ids_shifted_labels_restarting_positions_and_segments()
    {
        EncodedExample[] examples =
        [
            E([1, 2, 3], [false, true, true]),
            E([4, 5], [false, true]),
            E([6, 7, 8, 9], [false, false, true, true]),
        ];

        var rows = Packing.Pack(examples, sequenceLength: 6, padId: Pad);

        Assert.Equal(2, rows.Count);
        Assert.Equal([1, 2, 3, 4, 5, Pad], rows[0].Ids);
        Assert.Equal([2, 3, Ignore, 5, Ignore, Ignore], rows[0].Labels);
        Assert.Equal([0, 1, 2, 0, 1, 0], rows[0].Positions);
        Assert.Equal([0, 0, 0, 1, 1, 2], rows[0].Segments);
        Assert.Equal([new PackedSpan(0, 0, 3), new PackedSpan(1, 3, 2)], rows[0].Spans);
        Assert.Equal([6, 7, 8, 9, Pad, Pad], rows[1].Ids);
        Assert.Equal([Ignore, 8, 9, Ignore, Ignore, Ignore], rows[1].Labels);
        Assert.Equal([0, 1, 2, 3, 0, 0], rows[1].Positions);
        Assert.Equal([0, 0, 0, 0, 1, 2], rows[1].Segments); // each pad position is a segment of its own
    }

    [Fact]
    public void Pack_puts_each_example_in_the_fullest_row_that_fits()
    {
        // Lengths 6, 5, 4, 3 into rows of 10: the 4 goes to the row with 4 left (not the one with 5), the 3 to the other.
        EncodedExample[] examples = [.. new[] { 6, 5, 4, 3 }.Select(n => E(new int[n], new bool[n]))];

        var rows = Packing.Pack(examples, 10, Pad);

        Assert.Equal([[0, 2], [1, 3]], rows.Select(r => r.Spans.Select(s => s.Example).ToArray()));
    }

    [Fact]
    public void Pack_keeps_every_example_once_and_is_deterministic_on_real_data()
    {
        TaskTemplateSet set = TaskTemplates.Load(Path.Combine(InstructionFixtures.TemplatesFolder, "sentiment.json"));
        var records = TaskTemplates.ReadRecords(InstructionFixtures.TaskFile("sentiment.dev.jsonl"));
        var encoded = new ExampleEncoder(InstructionFixtures.Trained).EncodeAll(records.Select(r => set.ToChatExample(r, TemplatePool.Train, 3)), 256).Examples;

        var rows = Packing.Pack(encoded, 256, Pad);
        var again = Packing.Pack(encoded, 256, Pad);

        Assert.Equal(Enumerable.Range(0, encoded.Count), rows.SelectMany(r => r.Spans.Select(s => s.Example)).Order());
        Assert.All(rows, r => Assert.Equal(256, r.Length));
        Assert.Equal(rows.Select(r => string.Join(",", r.Ids)), again.Select(r => string.Join(",", r.Ids)));
        foreach (PackedSequence row in rows)
        {
            foreach (PackedSpan span in row.Spans)
                Assert.Equal(encoded[span.Example].Ids, row.Ids[span.Start..(span.Start + span.Length)]);
        }

        // Best fit in the given order must beat next fit (close a row as soon as an example does not fit), and longest
        // first must beat both, without going below the bound ceil(tokens / T). Measured: next fit 99 rows, best fit 89
        // (89.9 % full), longest first 84 (95.3 %), bound 81; 38 of the 198 examples are longer than half a row.
        int tokens = encoded.Sum(e => e.Length), nextFit = 1, used = 0;
        foreach (EncodedExample e in encoded)
        {
            if (used + e.Length > 256) (nextFit, used) = (nextFit + 1, 0);
            used += e.Length;
        }

        var sorted = Packing.Pack(encoded, 256, Pad, longestFirst: true);
        int bound = (tokens + 255) / 256;
        Assert.True(rows.Count < nextFit, $"best fit {rows.Count} rows, next fit {nextFit}");
        Assert.True(sorted.Count < rows.Count && sorted.Count >= bound, $"longest first {sorted.Count} rows, best fit {rows.Count}, lower bound {bound}");
        Assert.Equal(Enumerable.Range(0, encoded.Count), sorted.SelectMany(r => r.Spans.Select(s => s.Example)).Order());
    }

    [Fact]
    public void An_example_longer_than_the_row_is_an_error() =>
        Assert.Contains("Encode with maxLength", Assert.Throws<TailorException>(() => Packing.Pack([E(new int[9], new bool[9])], 8, Pad)).Message, StringComparison.Ordinal);

    [Fact]
    public void The_pad_id_is_the_pad_token_and_never_the_end_token()
    {
        var padIsEos = BpeTrainer.Train(["ab"], new BpeTrainerOptions(VocabSize: 260, MinFrequency: 1, PadToken: "<|endoftext|>"));

        Assert.Equal(259, Packing.PadIdOf(InstructionFixtures.Bytes())); // <|pad|>
        Assert.Equal(InstructionFixtures.Qwen3().TokenToId("<|endoftext|>"), Packing.PadIdOf(InstructionFixtures.Qwen3())); // Qwen: EOS is <|im_end|>
        Assert.Contains("is also its end-of-sequence or end-of-turn token", Assert.Throws<TailorException>(() => Packing.PadIdOf(padIsEos)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PadBatch_right_pads_one_example_per_row_to_the_longest()
    {
        var rows = Packing.PadBatch([E([1, 2, 3], [false, true, true]), E([4], [false])], Pad);

        Assert.Equal([[1, 2, 3], [4, Pad, Pad]], rows.Select(r => r.Ids));
        Assert.Equal([[2, 3, Ignore], [Ignore, Ignore, Ignore]], rows.Select(r => r.Labels));
        Assert.Equal([0, 1, 2], rows[1].Segments);
        Assert.Equal([2, 3, Ignore], Packing.ShiftedLabels(E([1, 2, 3], [false, true, true])));
    }

    [Fact]
    public void Block_causal_mask_keeps_queries_inside_their_segment_and_before_them()
    {
        using var scope = NewDisposeScope();
        Tensor mask = Packing.BlockCausalMask(tensor(new long[] { 0, 0, 1, 1, 1, 2 }, [1, 6]));

        Assert.Equal([1L, 1, 6, 6], mask.shape);
        bool[] m = mask.data<bool>().ToArray();
        string[] rows = [.. Enumerable.Range(0, 6).Select(q => string.Concat(Enumerable.Range(0, 6).Select(k => m[(q * 6) + k] ? '1' : '.')))];
        Assert.Equal(["1.....", "11....", "..1...", "..11..", "..111.", ".....1"], rows);
    }

    [Fact]
    public void ToBatch_counts_targets_and_builds_the_mask()
    {
        using var scope = NewDisposeScope();
        var rows = Packing.Pack([E([1, 2, 3], [false, true, true]), E([4, 5], [false, true])], 6, Pad);

        using SequenceBatch batch = Packing.ToBatch(rows);

        Assert.Equal([1L, 6], batch.Ids.shape);
        Assert.Equal([1L, 1, 6, 6], batch.Mask.shape);
        Assert.Equal(3, batch.Targets);
        Assert.Equal(5, batch.Used);
        Assert.Equal([2L, 3, Ignore, 5, Ignore, Ignore], batch.Labels.data<long>().ToArray());
        Assert.Equal([0L, 1, 3], batch.TrainedAt.data<long>().ToArray());
        Assert.Equal([2L, 3, 5], batch.TrainedLabels.data<long>().ToArray());
    }

    [Fact]
    public void Logits_kept_at_the_trained_positions_give_the_full_loss_and_its_gradients()
    {
        using var scope = NewDisposeScope();
        using var full = TinyModel();
        using var kept = TinyModel();
        var rows = Packing.Pack(RandomExamples(9, seed: 7), 48, Pad);
        using SequenceBatch batch = Packing.ToBatch(rows);

        Tensor fullLogits = full.Forward(batch.Ids, batch.Positions, batch.Mask);                              // (B, T, V)
        Tensor fullLoss = F.cross_entropy(fullLogits.view(-1, fullLogits.shape[^1]), batch.Labels.view(-1), reduction: nn.Reduction.Sum);
        Tensor keptLogits = kept.Forward(batch.Ids, batch.Positions, batch.Mask, keep: batch.TrainedAt);         // (N, V)
        Tensor keptLoss = F.cross_entropy(keptLogits, batch.TrainedLabels, reduction: nn.Reduction.Sum);
        fullLoss.backward();
        keptLoss.backward();

        Assert.Equal([(long)batch.Targets, 64L], keptLogits.shape);
        Assert.True(batch.Targets < batch.Used, "the prompts are left out");
        Assert.Equal(fullLoss.item<float>(), keptLoss.item<float>(), 4);
        var keptGrads = kept.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var (name, parameter) in full.named_parameters())
            Assert.True(parameter.grad!.allclose(keptGrads[name], rtol: 1e-4, atol: 1e-6), $"{name}: gradients differ");
    }

    [Fact]
    public void Example_weights_make_the_batch_loss_the_mean_of_each_examples_own_mean_loss()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        using var noGrad = no_grad();
        EncodedExample[] examples = RandomExamples(9, seed: 13);
        var rows = Packing.Pack(examples, 48, Pad);
        using SequenceBatch batch = Packing.ToBatch(rows);

        Tensor logits = model.Forward(batch.Ids, batch.Positions, batch.Mask, keep: batch.TrainedAt);
        double weighted = F.cross_entropy(logits, batch.TrainedLabels, reduction: nn.Reduction.None).mul(batch.ExampleWeights).sum().item<float>();
        int trainedExamples = rows.Sum(r => r.Spans.Count(span => Packing.Targets(r, span) > 0));
        double meanOfMeans = examples.Average(e => AloneLoss(model, e));

        Assert.Equal(examples.Length, trainedExamples);
        Assert.Equal(meanOfMeans, weighted / trainedExamples, 4);
        Assert.Equal(examples.Length, batch.ExampleWeights.sum().item<float>(), 4);   // each example's weights add up to 1
    }

    [Fact]
    public void Keep_and_last_only_together_are_refused()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        Assert.Throws<ArgumentException>(() => model.Forward(tensor(new long[] { 1, 2 }, [1, 2]), lastOnly: true, keep: tensor(new long[] { 0 })));
    }

    private static LlamaForCausalLM TinyModel() =>
        LlamaForCausalLM.FromConfig(LlamaConfig.Create(vocab: 64, hidden: 32, intermediate: 64, layers: 2, heads: 4, kvHeads: 2, maxPositions: 64), seed: 11);

    private static EncodedExample[] RandomExamples(int count, int seed)
    {
        Random random = new(seed);
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            int n = random.Next(4, 21);
            int[] ids = [.. Enumerable.Range(0, n).Select(_ => random.Next(1, 64))];
            int promptLength = random.Next(1, n - 1);
            return E(ids, [.. Enumerable.Range(0, n).Select(i => i >= promptLength)]);
        })];
    }

    // Mean cross-entropy over the example's own targets, computed with the example alone and no mask (is_causal path).
    private static double AloneLoss(LlamaForCausalLM model, EncodedExample example)
    {
        using var scope = NewDisposeScope();
        Tensor ids = tensor(example.Ids.Select(i => (long)i).ToArray(), [1, example.Length]);
        Tensor labels = tensor(Packing.ShiftedLabels(example).Select(i => (long)i).ToArray(), [example.Length]);
        Tensor logits = model.forward(ids);                                            // (1, n, V)
        return F.cross_entropy(logits.view(example.Length, -1), labels).item<float>();
    }

    // Per-example mean losses read out of one batched forward pass.
    private static Dictionary<int, double> BatchLosses(LlamaForCausalLM model, IReadOnlyList<PackedSequence> rows)
    {
        using var scope = NewDisposeScope();
        using SequenceBatch batch = Packing.ToBatch(rows);
        Tensor logits = model.Forward(batch.Ids, batch.Positions, batch.Mask);          // (B, T, V)
        long b = logits.shape[0], t = logits.shape[1];
        Tensor loss = F.cross_entropy(logits.view(b * t, -1), batch.Labels.view(-1), reduction: nn.Reduction.None); // (B·T), 0 where ignored
        float[] perPosition = loss.data<float>().ToArray();
        Dictionary<int, double> result = [];
        for (int r = 0; r < rows.Count; r++)
        {
            foreach (PackedSpan span in rows[r].Spans)
            {
                double sum = 0;
                int n = 0;
                for (int p = span.Start; p < span.Start + span.Length; p++)
                {
                    if (rows[r].Labels[p] == Packing.IgnoreIndex) continue;
                    sum += perPosition[(r * t) + p];
                    n++;
                }

                result[span.Example] = sum / n;
            }
        }

        return result;
    }

    [Fact]
    public void Per_example_loss_from_a_packed_batch_equals_the_loss_of_each_example_alone()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        using var noGrad = no_grad();
        EncodedExample[] examples = RandomExamples(9, seed: 5);

        var rows = Packing.Pack(examples, 48, Pad);
        Dictionary<int, double> packed = BatchLosses(model, rows);

        Assert.True(rows.Count < examples.Length, "some rows hold several examples");
        for (int e = 0; e < examples.Length; e++)
        {
            double alone = AloneLoss(model, examples[e]);
            Assert.True(Math.Abs(alone - packed[e]) < 1e-5, $"example {e}: alone {alone:R}, packed {packed[e]:R}");
        }
    }

    [Fact]
    public void Per_example_loss_from_a_padded_batch_equals_the_loss_of_each_example_alone()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        using var noGrad = no_grad();
        EncodedExample[] examples = RandomExamples(5, seed: 9);

        Dictionary<int, double> padded = BatchLosses(model, Packing.PadBatch(examples, Pad));

        for (int e = 0; e < examples.Length; e++)
        {
            double alone = AloneLoss(model, examples[e]);
            Assert.True(Math.Abs(alone - padded[e]) < 1e-5, $"example {e}: alone {alone:R}, padded {padded[e]:R}");
        }
    }

    [Fact]
    public void Changing_one_packed_example_does_not_change_the_logits_of_another()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        using var noGrad = no_grad();
        EncodedExample first = E([5, 6, 7, 8, 9], [false, false, true, true, true]);
        EncodedExample second = E([10, 11, 12, 13], [false, true, true, true]);
        EncodedExample firstChanged = E([40, 41, 42, 43, 44], first.Trained);

        Tensor Logits(EncodedExample a)
        {
            var rows = Packing.Pack([a, second], 12, Pad);
            Assert.Single(rows);
            SequenceBatch batch = Packing.ToBatch(rows);
            return model.Forward(batch.Ids, batch.Positions, batch.Mask);             // (1, 12, V)
        }

        Tensor before = Logits(first), after = Logits(firstChanged);

        double secondDiff = (before.narrow(1, 5, 4) - after.narrow(1, 5, 4)).abs().max().item<float>();
        double firstDiff = (before.narrow(1, 0, 5) - after.narrow(1, 0, 5)).abs().max().item<float>();
        Assert.True(secondDiff < 1e-6, $"example 2's logits moved by {secondDiff}");
        Assert.True(firstDiff > 1e-3, $"example 1's logits should change (moved {firstDiff})");
    }
}
