using Tailor.Generation;
using Tailor.Model;
using Tailor.Serving;
using Tailor.Tests.Model;

namespace Tailor.Tests.Serving;

/// <summary>The continuous-batching engine against the reference generator, and its queue, cancellation and shutdown.</summary>
[Collection("TorchSharp")]
public sealed class ServingEngineTests
{
    // Ids map to letters so that stop strings can be checked as text; the tiny model has a 64-token context, so long
    // requests force the engine to move rows in its cache.
    private static string Decode(IReadOnlyList<int> ids) => string.Concat(ids.Select(i => (char)('a' + i % 26)));

    private static LlamaForCausalLM Model(long seed = 7) => LlamaForCausalLM.FromConfig(LlamaTests.TinyGqa(), seed);

    private static GenerationEngine Engine(LlamaForCausalLM model, int maxBatch, int queue = 64, IEnumerable<int>? eos = null) =>
        new(model, Decode, eos ?? [], new EngineOptions { MaxBatch = maxBatch, Queue = queue });

    private static int[] Prompt(int seed, int length) => [.. Enumerable.Range(0, length).Select(i => 1 + (seed * 7 + i * 3) % 49)];

    [Fact]
    public async Task Serving_requests_that_join_a_running_batch_gives_the_same_greedy_text_as_generating_each_alone()
    {
        Tailor.Torch.TorchRuntime.SetThreads(1);
        using var model = Model();
        var reference = new TextGenerator(model, Decode, []);
        // Twelve requests of different lengths and budgets through 3 rows: rows free up at different steps and are
        // refilled mid-flight; prompt + budget reach the 64-token context, so the cache must shift rows left and right.
        var requests = Enumerable.Range(0, 12).Select(i => (Prompt: Prompt(i, 3 + i * 4 % 17), Max: 8 + i * 11 % 40)).ToArray();
        using var engine = Engine(model, maxBatch: 3);
        var handles = requests.Select(r => engine.Submit(r.Prompt, new SamplingOptions { MaxNewTokens = r.Max })).ToArray();
        var results = await Task.WhenAll(handles.Select(h => h.CompleteAsync()));
        for (int i = 0; i < requests.Length; i++)
        {
            var alone = reference.Generate(requests[i].Prompt, new SamplingOptions { MaxNewTokens = requests[i].Max });
            Assert.Equal(alone.Ids, results[i].Ids);
            Assert.Equal(alone.Text, results[i].Text);
            Assert.Equal("length", results[i].FinishReason);
            Assert.Equal(requests[i].Prompt.Length, results[i].PromptTokens);
        }
        var stats = engine.Stats;
        long tokens = requests.Sum(r => (long)r.Max);
        Assert.Equal(tokens, stats.GeneratedTokens);
        Assert.Equal(12, stats.Completed);
        // Batched: far fewer forward passes than tokens (one per token would be 1 + 1 per token per request).
        Assert.True(stats.DecodeSteps < tokens / 2, $"{stats.DecodeSteps} forward passes for {tokens} tokens");
    }

    [Fact]
    public async Task A_prefill_budget_smaller_than_the_waiting_prompts_admits_them_over_several_steps_with_the_same_greedy_text()
    {
        Tailor.Torch.TorchRuntime.SetThreads(1);
        using var model = Model();
        var reference = new TextGenerator(model, Decode, []);
        // Ten requests wait together for 8 rows; a 40-token budget fits two or three of these prompts per prefill, and
        // a 30-token prompt alone (over half the budget) still gets in.
        var requests = Enumerable.Range(0, 10).Select(i => (Prompt: Prompt(i, i == 4 ? 30 : 5 + i * 3 % 11), Max: 6 + i % 5)).ToArray();
        using var engine = new GenerationEngine(model, Decode, [], new EngineOptions { MaxBatch = 8, PrefillTokens = 40 });
        var handles = requests.Select(r => engine.Submit(r.Prompt, new SamplingOptions { MaxNewTokens = r.Max })).ToArray();
        var results = await Task.WhenAll(handles.Select(h => h.CompleteAsync()));
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(reference.Generate(requests[i].Prompt, new SamplingOptions { MaxNewTokens = requests[i].Max }).Ids, results[i].Ids);
        Assert.Equal(10, engine.Stats.Completed);
        Assert.Contains("prefill_tokens", Assert.Throws<Tailor.TailorException>(() => new EngineOptions { PrefillTokens = 0 }.Validate()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serving_round_after_round_leaves_no_tensors_behind_on_the_worker()
    {
        using var model = Model();
        using var engine = Engine(model, maxBatch: 2);
        async Task<long> Round(int round)
        {
            var handles = Enumerable.Range(0, 5).Select(i => engine.Submit(Prompt(round * 5 + i, 3 + i), new SamplingOptions { MaxNewTokens = 10 + i * 9 })).ToArray();
            foreach (var h in handles) await h.CompleteAsync();
            // The worker records the count when it comes back round its loop, just after the last row left.
            long steps = engine.Stats.DecodeSteps;
            for (int i = 0; i < 200 && engine.Stats.Active > 0; i++) await Task.Delay(5);
            await Task.Delay(50);
            Assert.Equal(steps, engine.Stats.DecodeSteps);
            return engine.Stats.LiveTensors;
        }
        long first = await Round(0);
        Assert.True(first > 0);
        for (int round = 1; round < 4; round++) Assert.Equal(first, await Round(round));
    }

    [Fact]
    public async Task Each_request_keeps_its_own_seed_stop_strings_and_eos_whatever_it_is_batched_with()
    {
        // A random model whose greedy text reaches a new id at step 3 or later; that id becomes the EOS.
        LlamaForCausalLM? model = null;
        GenerationResult greedy;
        int eosAt;
        long seed = 11;
        do
        {
            model?.Dispose();
            model = Model(seed++);
            var ids = new TextGenerator(model, Decode, []).Generate(Prompt(1, 6), new SamplingOptions { MaxNewTokens = 20 });
            greedy = ids;
            eosAt = Enumerable.Range(2, 18).FirstOrDefault(k => ids.Ids.Take(k).All(id => id != ids.Ids[k]), -1);
        }
        while (eosAt < 0);
        using var _ = model;
        int eosId = greedy.Ids[eosAt];
        string stop = greedy.Text.Substring(2, 2);
        var reference = new TextGenerator(model, Decode, [eosId]);
        var options = new[]
        {
            new SamplingOptions { MaxNewTokens = 20, Temperature = 0.9, TopP = 0.9, Seed = 5 },
            new SamplingOptions { MaxNewTokens = 20, Temperature = 1.2, TopK = 5, Seed = 6, StopAtEos = false },
            new SamplingOptions { MaxNewTokens = 20 },
            new SamplingOptions { MaxNewTokens = 20, StopAtEos = false, Stop = [stop] },
        };
        using var engine = Engine(model, maxBatch: 4, eos: [eosId]);
        var handles = options.Select((o, i) => engine.Submit(Prompt(1, 6 + (i == 2 || i == 3 ? 0 : i)), o)).ToArray();
        var results = await Task.WhenAll(handles.Select(h => h.CompleteAsync()));
        for (int i = 0; i < options.Length; i++)
        {
            var alone = reference.Generate(Prompt(1, 6 + (i == 2 || i == 3 ? 0 : i)), options[i]);
            Assert.Equal(alone.Text, results[i].Text);
            Assert.Equal(alone.FinishReason, results[i].FinishReason);
        }
        Assert.Equal("stop", results[2].FinishReason);              // EOS
        Assert.Equal(eosAt, results[2].Ids.Count);
        Assert.Equal("stop", results[3].FinishReason);              // stop string, cut from the text
        Assert.Equal(greedy.Text[..greedy.Text.IndexOf(stop, StringComparison.Ordinal)], results[3].Text);
    }

    [Fact]
    public async Task A_cancelled_request_leaves_the_batch_at_the_next_step_and_the_others_finish()
    {
        // A long context, so the doomed request cannot run to its end before the cancellation lands, however busy the
        // machine is (with 55 tokens, a loaded machine once let the engine finish it before the reader cancelled).
        using var model = LlamaForCausalLM.FromConfig(LlamaConfig.Create(vocab: 50, hidden: 32, intermediate: 48, layers: 2, heads: 4, kvHeads: 2, maxPositions: 512), 7);
        using var engine = Engine(model, maxBatch: 2);
        using var cancel = new CancellationTokenSource();
        var doomed = engine.Submit(Prompt(2, 5), new SamplingOptions { MaxNewTokens = 500, StopAtEos = false }, cancel.Token);
        var other = engine.Submit(Prompt(3, 5), new SamplingOptions { MaxNewTokens = 55 });
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in doomed.ReadAllAsync())
                if (++seen == 2) await cancel.CancelAsync();
        });
        var result = await other.CompleteAsync();
        Assert.Equal(55, result.Ids.Count);
        var stats = engine.Stats;
        Assert.Equal(1, stats.Cancelled);
        Assert.Equal(1, stats.Completed);
        Assert.Equal(0, stats.Active);
        Assert.True(stats.GeneratedTokens < 55 + 500, $"the cancelled request went on to its end: {stats.GeneratedTokens} tokens");
    }

    [Fact]
    public async Task A_full_queue_refuses_a_request_and_a_prompt_longer_than_the_context_is_refused_before_queueing()
    {
        using var model = Model();
        using var engine = Engine(model, maxBatch: 1, queue: 1);
        var running = engine.Submit(Prompt(1, 4), new SamplingOptions { MaxNewTokens = 50 });
        var waiting = engine.Submit(Prompt(2, 4), new SamplingOptions { MaxNewTokens = 50 });
        var busy = Assert.Throws<EngineBusyException>(() => engine.Submit(Prompt(3, 4), new SamplingOptions { MaxNewTokens = 5 }));
        Assert.Contains("retry later", busy.Message, StringComparison.Ordinal);
        var tooLong = Assert.Throws<ContextLengthException>(() => engine.Submit(Prompt(4, 30), new SamplingOptions { MaxNewTokens = 40 }));
        Assert.Equal(70, tooLong.PromptTokens + tooLong.MaxNewTokens);
        Assert.Equal(64, tooLong.ContextLength);
        Assert.Equal(1, engine.Stats.Rejected);
        Assert.Equal(50, (await running.CompleteAsync()).Ids.Count);
        Assert.Equal(50, (await waiting.CompleteAsync()).Ids.Count);
        // Capacity is free again once both finished.
        Assert.Equal(5, (await engine.GenerateAsync(Prompt(3, 4), new SamplingOptions { MaxNewTokens = 5 })).Ids.Count);
    }

    [Fact]
    public async Task Stopping_lets_running_requests_finish_within_the_drain_time_and_then_refuses_new_ones()
    {
        using var model = Model();
        using var engine = Engine(model, maxBatch: 2);
        var running = engine.Submit(Prompt(1, 4), new SamplingOptions { MaxNewTokens = 30 });
        await engine.StopAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(30, (await running.CompleteAsync()).Ids.Count);
        Assert.False(engine.Accepting);
        Assert.Throws<EngineStoppedException>(() => engine.Submit(Prompt(1, 4), new SamplingOptions { MaxNewTokens = 3 }));
    }

    [Fact]
    public async Task Stopping_with_no_drain_time_cancels_what_runs()
    {
        using var model = Model();
        var engine = Engine(model, maxBatch: 1);
        var handles = Enumerable.Range(0, 4).Select(i => engine.Submit(Prompt(i, 4), new SamplingOptions { MaxNewTokens = 58 })).ToArray();
        await engine.StopAsync(TimeSpan.Zero);
        engine.Dispose();
        int cancelled = 0;
        foreach (var h in handles)
        {
            try { await h.CompleteAsync(); }
            catch (OperationCanceledException) { cancelled++; }
        }
        Assert.True(cancelled >= 3, $"{cancelled} of 4 cancelled");
        Assert.Equal(cancelled, engine.Stats.Cancelled);
    }
}
