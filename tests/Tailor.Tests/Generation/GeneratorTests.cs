using TorchSharp;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Tests.Model;
using static TorchSharp.torch;


namespace Tailor.Tests.Generation;

[Collection("TorchSharp")]
public class GeneratorTests
{
    // Ids map to letters so that stop strings and streaming can be checked as text.
    private static string Decode(IReadOnlyList<int> ids) => string.Concat(ids.Select(i => (char)('a' + i % 26)));

    private static LlamaForCausalLM Model(long seed = 7) => LlamaForCausalLM.FromConfig(LlamaTests.TinyGqa(), seed);

    // Weights ×4 make attention sharp, so each beam's next tokens depend on its own history, which only a correctly
    // reordered cache gives (with the plain tiny model, skipping the reorder went unnoticed).
    private static LlamaForCausalLM SharpModel()
    {
        var model = Model();
        using (no_grad())
        using (var four = 4.0.ToScalar())
            foreach (var p in model.parameters()) p.mul_(four);
        return model;
    }

    [Fact]
    public void Batched_generation_equals_one_by_one()
    {
        using var model = Model();
        var gen = new TextGenerator(model, Decode, []);
        int[][] prompts = [[1, 2, 3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13]];
        var options = new SamplingOptions { MaxNewTokens = 12 };
        var batched = gen.GenerateBatch(prompts, options);
        for (int i = 0; i < prompts.Length; i++)
        {
            var single = gen.Generate(prompts[i], options);
            Assert.Equal(single.Ids, batched[i].Ids);
            Assert.Equal(single.Text, batched[i].Text);
        }
    }

    [Fact]
    public void Padded_batch_logits_match_unpadded_logits()
    {
        using var model = Model();
        using var _ = inference_mode();
        int[] pads = [3, 0];
        using var ids = tensor(new long[] { 0, 0, 0, 5, 6, 7, 1, 2, 3, 4, 5, 6 }, [2, 6]);
        var (positions, mask) = TextGenerator.PrefillPaddingInputs(pads, 6, CPU);
        using var padded = model.Forward(ids, positions, mask);
        using var alone = model.Forward(tensor(new long[] { 5, 6, 7 }, [1, 3]));
        Assert.True(padded.narrow(0, 0, 1).narrow(1, 3, 3).allclose(alone, rtol: 1e-5, atol: 1e-5));
        Assert.False(padded.isnan().any().item<bool>());
    }

    [Fact]
    public void Same_seed_gives_the_same_text_and_another_seed_another()
    {
        using var model = Model();
        var gen = new TextGenerator(model, Decode, []);
        var a = gen.Generate([1, 2, 3], new SamplingOptions { MaxNewTokens = 24, Temperature = 1.5, Seed = 11 });
        var b = gen.Generate([1, 2, 3], new SamplingOptions { MaxNewTokens = 24, Temperature = 1.5, Seed = 11 });
        var c = gen.Generate([1, 2, 3], new SamplingOptions { MaxNewTokens = 24, Temperature = 1.5, Seed = 12 });
        Assert.Equal(a.Ids, b.Ids);
        Assert.NotEqual(a.Ids, c.Ids);
    }

    [Fact]
    public void Top_k_of_one_is_greedy()
    {
        using var model = Model();
        var gen = new TextGenerator(model, Decode, []);
        var greedy = gen.Generate([4, 5], new SamplingOptions { MaxNewTokens = 10 });
        var topk = gen.Generate([4, 5], new SamplingOptions { MaxNewTokens = 10, Temperature = 0.8, TopK = 1, Seed = 3 });
        Assert.Equal(greedy.Ids, topk.Ids);
    }

    [Fact]
    public void Stop_strings_cut_the_text_and_streaming_adds_up_to_it()
    {
        using var model = Model();
        var gen = new TextGenerator(model, Decode, []);
        var free = gen.Generate([1, 2, 3], new SamplingOptions { MaxNewTokens = 20 });
        Assert.Equal("length", free.FinishReason);
        string stop = free.Text.Substring(6, 2);
        int expectedCut = free.Text.IndexOf(stop, StringComparison.Ordinal);
        var options = new SamplingOptions { MaxNewTokens = 20, Stop = [stop] };
        var cut = gen.Generate([1, 2, 3], options);
        Assert.Equal("stop", cut.FinishReason);
        Assert.Equal(free.Text[..expectedCut], cut.Text);
        string streamed = string.Concat(gen.Stream([[1, 2, 3]], options).Select(e => e.Delta));
        Assert.Equal(cut.Text, streamed);
    }

    [Theory]
    [InlineData(false, "", 1)]
    [InlineData(true, "\npositive", 4)]
    public void A_newline_stop_waits_for_text_when_asked_so_blank_lines_before_an_answer_do_not_end_it(bool afterText, string text, int tokensUntilStop)
    {
        static string Piece(int id) => id switch { 1 => "\n", 2 => "posi", 3 => "tive", _ => "?" };
        var row = new TextGenerator.RowState([0], new Sampler(new SamplingOptions()), ["\n"], afterText);
        bool stopped = false;
        int accepted = 0;
        foreach (int id in new[] { 1, 2, 3, 1, 2 })
        {
            accepted++;
            if (row.Accept(id, ids => string.Concat(ids.Select(Piece))).StopHit) { stopped = true; break; }
        }
        Assert.True(stopped);
        Assert.Equal(text, row.Text);
        Assert.Equal(tokensUntilStop, accepted);
    }

    [Fact]
    public void Eos_ends_generation_and_is_not_output()
    {
        using var model = Model();
        var free = new TextGenerator(model, Decode, []).Generate([1, 2, 3], new SamplingOptions { MaxNewTokens = 10 });
        int eos = free.Ids[4];
        int firstEos = free.Ids.ToList().IndexOf(eos);
        var stopped = new TextGenerator(model, Decode, [eos]).Generate([1, 2, 3], new SamplingOptions { MaxNewTokens = 10 });
        Assert.Equal("stop", stopped.FinishReason);
        Assert.Equal(free.Ids.Take(firstEos), stopped.Ids);
    }

    [Fact]
    public void Prompts_longer_than_the_context_are_refused()
    {
        using var model = Model();
        var gen = new TextGenerator(model, Decode, []);
        var e = Assert.Throws<TailorException>(() => gen.Generate(Enumerable.Repeat(1, 64).ToArray(), new SamplingOptions()));
        Assert.Contains("context", e.Message);
    }

    [Fact]
    public void Sampler_with_top_p_keeps_the_smallest_set_reaching_p()
    {
        // probabilities ≈ 0.64, 0.24, 0.09, 0.03: top_p 0.7 keeps the first two only.
        float[] logits = [3f, 2f, 1f, 0f];
        var seen = new HashSet<int>();
        for (int seed = 0; seed < 200; seed++)
        {
            var s = new Sampler(new SamplingOptions { Temperature = 1, TopP = 0.7, Seed = seed });
            seen.Add(s.Next((float[])logits.Clone(), [], []));
        }
        Assert.Equal([0, 1], seen.Order());
    }

    [Fact]
    public void Repetition_penalty_discourages_seen_tokens()
    {
        var s = new Sampler(new SamplingOptions { RepetitionPenalty = 2.0 });
        Assert.Equal(1, s.Next(new float[] { 3f, 2f, -1f }, [0], []));   // 3/2 = 1.5 < 2
    }

    [Fact]
    public void No_repeat_ngram_bars_only_tokens_that_would_repeat_an_ngram_of_the_answer()
    {
        // The answer so far is 5 1 2 3 1 2: after "1 2" came 3 once, so a bigram ban bars 3, nothing else.
        var bigram = new Sampler(new SamplingOptions { NoRepeatNgramSize = 2 });
        Assert.Equal(4, bigram.Next(new float[] { 0f, 0f, 0f, 9f, 8f, 7f }, [], [5, 1, 2, 3, 1, 2]));
        // A trigram ban sees "1 2" followed by 3 too; a 4-gram ban needs "3 1 2" earlier, which never occurs.
        Assert.Equal(4, new Sampler(new SamplingOptions { NoRepeatNgramSize = 3 }).Next(new float[] { 0f, 0f, 0f, 9f, 8f, 7f }, [], [5, 1, 2, 3, 1, 2]));
        Assert.Equal(3, new Sampler(new SamplingOptions { NoRepeatNgramSize = 4 }).Next(new float[] { 0f, 0f, 0f, 9f, 8f, 7f }, [], [5, 1, 2, 3, 1, 2]));
        // The prompt does not count: 3 followed 2 in the prompt, not in the answer, so it stays allowed.
        Assert.Equal(3, new Sampler(new SamplingOptions { NoRepeatNgramSize = 2 }).Next(new float[] { 0f, 0f, 0f, 9f, 8f, 7f }, [1, 2, 3, 1, 2], [1, 2]));
        // Size 1 bars every token already written; off (0) bars nothing.
        Assert.Equal(5, new Sampler(new SamplingOptions { NoRepeatNgramSize = 1 }).Next(new float[] { 0f, 0f, 0f, 9f, 8f, 7f }, [], [3, 4]));
        Assert.Equal(3, new Sampler(new SamplingOptions()).Next(new float[] { 0f, 0f, 0f, 9f, 8f, 7f }, [], [5, 1, 2, 3, 1, 2]));
    }

    [Fact]
    public void Negative_no_repeat_ngram_size_is_refused()
    {
        var e = Assert.Throws<TailorException>(() => new SamplingOptions { NoRepeatNgramSize = -1 }.Validate());
        Assert.Contains("no_repeat_ngram_size", e.Message);
    }

    [Fact]
    public void One_beam_is_greedy()
    {
        using var model = Model();
        var gen = new TextGenerator(model, Decode, [7]);
        foreach (int[] prompt in new[] { new[] { 1, 2, 3 }, [9, 8], [4, 5, 6, 7, 8] })
        {
            var greedy = gen.Generate(prompt, new SamplingOptions { MaxNewTokens = 12, NoRepeatNgramSize = 2 });
            var beam = BeamSearch.Generate(model, Decode, new HashSet<int> { 7 }, prompt, new SamplingOptions { MaxNewTokens = 12, NoRepeatNgramSize = 2, NumBeams = 1 });
            Assert.Equal(greedy.Ids, beam.Ids);
            Assert.Equal(greedy.Text, beam.Text);
        }
    }

    [Fact]
    public void Beam_search_over_the_kv_cache_finds_what_a_search_recomputing_every_sequence_finds()
    {
        using var model = SharpModel();
        var eos = new HashSet<int> { 7 };
        foreach (var (prompt, beams, penalty) in new[] { (new[] { 1, 2, 3 }, 3, 1.0), ([9, 8], 4, 0.0), ([4, 5, 6], 2, 2.0), ([11, 30, 2, 19], 5, 1.0) })
        {
            var options = new SamplingOptions { MaxNewTokens = 8, NumBeams = beams, LengthPenalty = penalty, NoRepeatNgramSize = 2 };
            var expected = ReferenceBeamSearch(model, prompt, beams, 8, penalty, 2, eos);
            var found = new TextGenerator(model, Decode, eos).Generate(prompt, options);
            Assert.Equal(expected, found.Ids);
            Assert.Equal(Decode(expected), found.Text);
        }
        // The whole search space of two tokens, 50 beams: the exact best pair (or one token then EOS).
        var exhaustive = BeamSearch.Generate(model, Decode, eos, [3, 1], new SamplingOptions { MaxNewTokens = 2, NumBeams = 50 });
        Assert.Equal(ReferenceBeamSearch(model, [3, 1], 50, 2, 1.0, 0, eos), exhaustive.Ids);
    }

    [Fact]
    public void Beam_search_over_a_padded_batch_equals_one_prompt_at_a_time()
    {
        using var model = SharpModel();
        var eos = new HashSet<int> { 7 };
        int[][] prompts = [[1, 2, 3, 4, 5, 6], [9, 8], [11, 30, 2, 19], [5]];
        var options = new SamplingOptions { MaxNewTokens = 8, NumBeams = 3, NoRepeatNgramSize = 2 };
        var batched = new TextGenerator(model, Decode, eos).GenerateBatch(prompts, options);
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = BeamSearch.Generate(model, Decode, eos, prompts[i], options);
            Assert.Equal(alone.Ids, batched[i].Ids);
            Assert.Equal(alone.Text, batched[i].Text);
            Assert.Equal(alone.FinishReason, batched[i].FinishReason);
        }
    }

    [Fact]
    public void Beam_search_refuses_sampling_and_absurd_widths()
    {
        Assert.Contains("temperature 0", Assert.Throws<TailorException>(() => new SamplingOptions { NumBeams = 2, Temperature = 0.7 }.Validate()).Message);
        Assert.Contains("num_beams = 0", Assert.Throws<TailorException>(() => new SamplingOptions { NumBeams = 0 }.Validate()).Message);
        Assert.Contains("length_penalty", Assert.Throws<TailorException>(() => new SamplingOptions { NumBeams = 2, LengthPenalty = double.NaN }.Validate()).Message);
    }

    // The same search written the slow way: every hypothesis's whole sequence through the model, no cache, no reordering.
    private static List<int> ReferenceBeamSearch(LlamaForCausalLM model, int[] prompt, int k, int maxNew, double penalty, int ngram, HashSet<int> eos)
    {
        using var _ = inference_mode();
        double Norm(double score, int length) => score / Math.Pow(length, penalty);
        float[] NextLogProbs(List<int> ids)
        {
            using var scope = NewDisposeScope();
            var input = tensor(prompt.Concat(ids).Select(x => (long)x).ToArray(), [1, prompt.Length + ids.Count]);
            var row = nn.functional.log_softmax(model.Forward(input).select(1, -1).select(0, 0).to_type(ScalarType.Float64), 0);
            return [.. row.data<double>().Select(x => (float)x)];
        }
        var live = new List<(List<int> Ids, double Score)> { ([], 0) };
        var finished = new List<(List<int> Ids, double Norm)>();
        while (true)
        {
            var proposals = new List<(int Parent, int Id, double Score)>();
            for (int b = 0; b < live.Count; b++)
            {
                var logp = NextLogProbs(live[b].Ids);
                if (ngram > 0) Sampler.BanRepeatedNgrams(logp, live[b].Ids, ngram);
                foreach (int id in Enumerable.Range(0, logp.Length).OrderByDescending(i => logp[i]).ThenBy(i => i).Take(2 * k))
                    if (!float.IsNegativeInfinity(logp[id])) proposals.Add((b, id, live[b].Score + logp[id]));
            }
            var next = new List<(List<int> Ids, double Score)>();
            foreach (var (parent, id, score) in proposals.OrderByDescending(p => p.Score).ThenBy(p => p.Parent).ThenBy(p => p.Id))
            {
                if (next.Count == k) break;
                var ids = live[parent].Ids;
                if (eos.Contains(id)) { finished.Add((ids, Norm(score, ids.Count + 1))); continue; }
                List<int> longer = [.. ids, id];
                if (longer.Count >= maxNew) { finished.Add((longer, Norm(score, longer.Count))); continue; }
                next.Add((longer, score));
            }
            if (next.Count == 0) break;
            if (finished.Count >= k && next.Max(h => Norm(h.Score, h.Ids.Count)) <= finished.Select(f => f.Norm).OrderDescending().ElementAt(k - 1)) break;
            live = next;
        }
        return finished.OrderByDescending(f => f.Norm).First().Ids;
    }
}
