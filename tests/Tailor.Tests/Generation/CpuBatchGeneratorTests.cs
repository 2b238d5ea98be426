using Tailor.Generation;
using Tailor.Model;
using Tailor.Serving;
using Tailor.Tests.Model;
using static TorchSharp.torch;

namespace Tailor.Tests.Generation;

[Collection("TorchSharp")]
public class CpuBatchGeneratorTests
{
    // Ids map to letters, so a stop string can be checked as text.
    private static string Decode(IReadOnlyList<int> ids) => string.Concat(ids.Select(i => (char)('a' + i % 26)));

    private static readonly int[][] Prompts =
        [[3], [1, 2], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 17, 18], [.. Enumerable.Range(0, 17).Select(i => (i * 7) % 50)], [.. Enumerable.Range(0, 31).Select(i => (i * 3 + 1) % 50)]];

    [Theory]
    [InlineData(6, 2)]   // one prefill batch, two rows decoded at a time
    [InlineData(4, 1)]   // two prefill batches, one row at a time
    [InlineData(2, 3)]
    public void Greedy_answers_equal_the_padded_batches_for_prompts_of_different_lengths(int batchSize, int workers)
    {
        using var model = LlamaForCausalLM.FromConfig(LlamaTests.TinyGqa(), 7);
        var options = new SamplingOptions { MaxNewTokens = 20, Stop = ["q"], StopAtEos = true };
        var padded = new TextGenerator(model, Decode, [17]);
        var cpu = new CpuBatchGenerator(model, Decode, [17], workers, threads: 2);
        var done = new List<int>();
        var results = cpu.Generate(Prompts, options, batchSize, done.Add);
        for (int start = 0; start < Prompts.Length; start += batchSize)
        {
            var expected = padded.GenerateBatch(Prompts[start..Math.Min(Prompts.Length, start + batchSize)], options);
            for (int j = 0; j < expected.Count; j++)
                Assert.Equal(expected[j], results[start + j], GenerationComparer.Instance);
        }
        Assert.Equal(Prompts.Length, done[^1]);
        Assert.Contains(results, r => r.Ids.Count > 3);   // the check is not about empty answers
    }

    [Fact]
    public void A_looping_answer_stops_early_marked_repetition_on_every_path_and_a_normal_answer_is_untouched()
    {
        // next(t) is fixed by the weights: 1 → 2 → 3 → 2 → … (a two-token loop), 12 → 12 → … (a token run),
        // 4 → 5 → … → 11 → 15 = EOS (a normal answer), 0 → 0.
        using var model = MarkovModel(t => t switch { 1 => 2, 2 => 3, 3 => 2, 12 => 12, >= 4 and <= 10 => t + 1, 11 => 15, _ => t });
        int[][] prompts = [[1], [4], [12], [13, 4]];
        var stopping = new SamplingOptions { MaxNewTokens = 40, StopOnRepetition = new RepetitionStop() };
        var running = stopping with { StopOnRepetition = null };
        var free = new TextGenerator(model, Decode, [15]).GenerateBatch(prompts, running);
        Assert.Equal(["length", "stop", "length", "stop"], free.Select(r => r.FinishReason));

        var paths = new Dictionary<string, IReadOnlyList<GenerationResult>>
        {
            ["padded"] = new TextGenerator(model, Decode, [15]).GenerateBatch(prompts, stopping),
            ["cpu"] = new CpuBatchGenerator(model, Decode, [15], workers: 2, threads: 2).Generate(prompts, stopping, batchSize: 4),
            ["engine"] = OnEngine(model, prompts, stopping),
        };
        foreach (var (path, results) in paths)
        {
            // The loops end after 16 tokens (eight copies of "2 3", sixteen 12s), as the model wrote them.
            Assert.True(results[0].FinishReason == "repetition", path);
            Assert.Equal(free[0].Ids.Take(16), results[0].Ids);
            Assert.Equal("repetition", results[2].FinishReason);
            Assert.Equal(Enumerable.Repeat(12, 16), results[2].Ids);
            // The normal answers are the same with and without the stop.
            for (int r = 1; r < prompts.Length; r += 2)
                Assert.Equal(free[r], results[r], GenerationComparer.Instance);
        }
    }

    [Fact]
    public void The_cpu_decoder_refuses_an_empty_prompt_and_one_that_fills_the_context()
    {
        using var model = LlamaForCausalLM.FromConfig(LlamaTests.TinyGqa(), 7);
        var cpu = new CpuBatchGenerator(model, Decode, [], workers: 2, threads: 2);
        var options = new SamplingOptions { MaxNewTokens = 4 };
        Assert.Contains("empty", Assert.Throws<TailorException>(() => cpu.Generate([[1], []], options, 2)).Message);
        Assert.Contains("context is 64", Assert.Throws<TailorException>(() => cpu.Generate([[.. Enumerable.Repeat(1, 64)]], options, 2)).Message);
    }

    private static IReadOnlyList<GenerationResult> OnEngine(CausalLM model, int[][] prompts, SamplingOptions options)
    {
        using var engine = new GenerationEngine(model, Decode, [15], new EngineOptions { MaxBatch = 2 });
        var handles = prompts.Select(p => engine.Submit(p, options)).ToArray();
        return [.. handles.Select(h => h.CompleteAsync().GetAwaiter().GetResult())];
    }

    // A 16-token model whose greedy next token after t is next(t), whatever came before: attention and MLP weights are
    // zero (the residual stream is the embedding), embeddings are one-hot and lm_head row v is one-hot at t = next⁻¹(v).
    private static LlamaForCausalLM MarkovModel(Func<int, int> next)
    {
        var config = LlamaConfig.Create(vocab: 16, hidden: 32, intermediate: 48, layers: 2, heads: 4, kvHeads: 2, maxPositions: 64, tied: false);
        var model = LlamaForCausalLM.FromConfig(config, 1);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) continue;
            p.zero_();
            if (name == "model.embed_tokens.weight")
                for (int t = 0; t < 16; t++) p[t, t].fill_(1.0);
            if (name == "lm_head.weight")
                for (int t = 0; t < 16; t++) p[next(t), t].fill_(1.0);
        }
        return model;
    }

    private sealed class GenerationComparer : IEqualityComparer<GenerationResult>
    {
        public static readonly GenerationComparer Instance = new();

        public bool Equals(GenerationResult? x, GenerationResult? y) =>
            x is not null && y is not null && x.Ids.SequenceEqual(y.Ids) && x.Text == y.Text && x.FinishReason == y.FinishReason && x.PromptTokens == y.PromptTokens;

        public int GetHashCode(GenerationResult obj) => obj.Text.GetHashCode(StringComparison.Ordinal);
    }
}
