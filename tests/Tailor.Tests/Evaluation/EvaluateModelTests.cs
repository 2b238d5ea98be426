using Tailor.Evaluation;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Training;
using Tailor.Tests.Data.Instructions;
using Tailor.Text;
using static TorchSharp.torch;
using Tailor.Generation;

namespace Tailor.Tests.Evaluation;

/// <summary>`tailor eval` on a tiny random model with the shipped tokenizer: the mechanism, not the quality.</summary>
[Collection("TorchSharp")]
public sealed class EvaluateModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-eval-").FullName;
    private string? _model;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Model()
    {
        if (_model is not null) return _model;
        var tokenizer = TextTokenizer.Load(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small"));
        var config = LlamaConfig.Preset("tiny", tokenizer.VocabSize);
        config.EosTokenId = [tokenizer.EosId!.Value];
        config.PadTokenId = tokenizer.PadId;
        using var model = LlamaForCausalLM.FromConfig(config, seed: 5);
        _model = Path.Combine(_dir, "model");
        ModelFolder.Save(_model, model, tokenizer, ScalarType.Float32);
        return _model;
    }

    private EvalOptions Options(string output) => new()
    {
        Model = Model(), Output = Path.Combine(_dir, output), Runtime = new() { Threads = 1 }, Limit = 3, MaxNewTokensScale = 0.25,
        TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder,
    };

    [Fact]
    public void Batched_continuation_log_probabilities_equal_one_sequence_at_a_time()
    {
        using var m = PretrainedModel.Load(Model());
        var tok = m.Tokenizer;
        (int[], int[])[] pairs =
        [
            ([.. tok.Encode("Review: great phone\nSentiment:")], [.. tok.Encode(" positive")]),
            ([.. tok.Encode("Review: it broke after a day, do not buy\nSentiment:")], [.. tok.Encode(" negative")]),
            // Options after one prompt share its row; a continuation that extends another one does not.
            ([.. tok.Encode("Hi")], [.. tok.Encode(" there")]),
            ([.. tok.Encode("Hi")], [.. tok.Encode(" there, friend")]),
            ([.. tok.Encode("Review: great phone\nSentiment:")], [.. tok.Encode(" negative")]),
        ];
        var batched = LogLikelihood.OfContinuations(m.Model, pairs, batchSize: 2);
        using var inference = inference_mode();
        for (int i = 0; i < pairs.Length; i++)
        {
            var (p, c) = pairs[i];
            long[] ids = [.. p.Select(x => (long)x), .. c.Select(x => (long)x)];
            using var input = tensor(ids, [1, ids.Length]);
            using var logits = m.Model.Forward(input);
            using var logp = logits.log_softmax(-1);
            double expected = 0;
            for (int j = 0; j < c.Length; j++) expected += logp[0, p.Length + j - 1, c[j]].item<float>();
            Assert.True(Math.Abs(expected - batched[i]) < 1e-3, $"pair {i}: batched {batched[i]}, alone {expected}");
        }
    }

    [Fact]
    public void A_chat_model_is_asked_with_every_held_out_template_and_results_round_trip()
    {
        var o = Options("chat") with { Format = EvalFormat.Chatml, TemplateMode = TemplateMode.All, Tasks = "sentiment,translation-en-fr" };
        var (run, items) = Evaluate.Run(o);
        Assert.Equal("chat", run.Kind);
        Assert.Equal(2 * 3 * 3, items.Count);
        Assert.All(items, i => Assert.Contains("<|im_start|>assistant\n", i.Prompt));
        var sentiment = run.Tasks[0];
        Assert.Equal(["sentiment-10", "sentiment-11", "sentiment-12"], sentiment.ByTemplate.Keys.Order());
        Assert.Contains("acc", sentiment.Metrics.Keys);
        Assert.Equal("generation+loglik", sentiment.Mode);
        Assert.All(items.Where(i => i.Task == "sentiment"), i => Assert.Contains("loglik_correct", i.Scores.Keys));
        var (back, backItems) = EvalRun.Load(o.Output);
        Assert.Equal(run.ModelHash, back.ModelHash);
        Assert.Equal(items.Select(i => i.Prediction), backItems.Select(i => i.Prediction));
    }

    [Fact]
    public void Every_decoder_gives_the_padded_batches_answers_and_records_why_each_ended()
    {
        EvalOptions With(EvalDecoder decoder) => Options(RecipeOptions.Name(decoder)) with
        {
            Decoder = decoder, BatchSize = 2, Limit = 5, Runtime = new() { Threads = 2 }, Tasks = "summarization,translation-en-de", Loglik = false, StopRepetition = false,
        };
        var padded = Evaluate.Run(With(EvalDecoder.Padded)).Items;
        Assert.All(padded, i => Assert.Contains(i.FinishReason, new[] { "stop", "length" }));
        foreach (var decoder in new[] { EvalDecoder.Cpu, EvalDecoder.CpuSerial, EvalDecoder.Engine })
        {
            var items = Evaluate.Run(With(decoder)).Items;
            Assert.Equal(padded.Select(i => (i.Prediction, i.GeneratedTokens, i.FinishReason)), items.Select(i => (i.Prediction, i.GeneratedTokens, i.FinishReason)));
        }
        // Summaries are searched with the task's 4 beams whatever the decoder, translations greedily; --num-beams overrides.
        Assert.Equal(["beam search (4 beams)", "generation"], Evaluate.Run(With(EvalDecoder.Engine)).Run.Tasks.Select(t => t.Mode));
        Assert.Equal(["generation", "generation"], Evaluate.Run(With(EvalDecoder.Engine) with { NumBeams = 1 }).Run.Tasks.Select(t => t.Mode));
        Assert.Contains("num_beams = 65", Assert.Throws<TailorException>(() => (With(EvalDecoder.Engine) with { NumBeams = 65 }).Validate()).Message);
        Assert.Contains("no_repeat_ngram = -1", Assert.Throws<TailorException>(() => (With(EvalDecoder.Engine) with { NoRepeatNgram = -1 }).Validate()).Message);
        Assert.Contains("no beam search", Assert.Throws<TailorException>(() => (With(EvalDecoder.Engine) with { Model = null, Endpoint = "http://127.0.0.1:9/v1", NumBeams = 2 }).Validate()).Message);
        // The default n-gram ban changes this random model's answers, so every decoder above applied it.
        Assert.Equal(3, With(EvalDecoder.Padded).NoRepeatNgram);
        var unbanned = Evaluate.Run(With(EvalDecoder.Padded) with { NoRepeatNgram = 0 }).Items;
        Assert.NotEqual(padded.Select(i => i.Prediction), unbanned.Select(i => i.Prediction));
        Assert.Contains("--decoder gpu: use engine, cpu, cpu_serial or padded", Assert.Throws<TailorException>(() => RecipeOptions.Load<EvalOptions>(null, [KeyValuePair.Create("decoder", "gpu")])).Message);
    }

    [Fact]
    public void Answers_do_not_depend_on_the_batch_size()
    {
        var one = Evaluate.Run(Options("b1") with { BatchSize = 1, Tasks = "summarization,translation-en-de", Loglik = false }).Items;
        var many = Evaluate.Run(Options("b4") with { BatchSize = 4, Tasks = "summarization,translation-en-de", Loglik = false }).Items;
        Assert.Equal(one.Select(i => i.Prediction), many.Select(i => i.Prediction));
    }

    [Fact]
    public void Base_prompts_with_shots_fit_the_context_and_start_with_solved_examples()
    {
        var (run, items) = Evaluate.Run(Options("shots") with { Shots = 2, Tasks = "summarization", Format = EvalFormat.Base });
        Assert.Equal(2, run.Shots);
        Assert.All(items, i => Assert.True(i.Prompt.Split("In one line:").Length is >= 2 and <= 4, i.Prompt));
        Assert.Contains(items, i => i.Prompt.Split("In one line:").Length >= 3);
    }

    [Fact]
    public void A_base_model_answers_label_tasks_with_its_likeliest_label_and_a_chat_model_generates()
    {
        var (ranked, rankedItems) = Evaluate.Run(Options("rank") with { Shots = 1, Tasks = "sentiment", Format = EvalFormat.Base });
        var (generated, generatedItems) = Evaluate.Run(Options("generate") with { Shots = 1, Tasks = "sentiment", Format = EvalFormat.Base, LabelAnswers = LabelAnswers.Generate });

        Assert.Equal("rank", ranked.Tasks[0].Mode);
        Assert.All(rankedItems, i =>
        {
            Assert.Contains(i.Prediction, new[] { "positive", "negative" });
            Assert.Equal("rank", i.FinishReason);
            Assert.False(i.OffTask);
            Assert.Equal(i.Scores["correct"], i.Scores["loglik_correct"]);   // the answer is the ranking's choice
            Assert.EndsWith("Sentiment:", i.Prompt, StringComparison.Ordinal);
        });
        Assert.Equal("generation+loglik", generated.Tasks[0].Mode);
        Assert.All(generatedItems, i => Assert.NotEqual("rank", i.FinishReason));
    }

    [Fact]
    public void Rank_answers_are_refused_for_an_answerer_without_logits()
    {
        var e = Assert.Throws<TailorException>(() => Evaluate.Run(new EvalOptions
        {
            Baseline = "classic", Output = Path.Combine(_dir, "classic"), Tasks = "sentiment", Limit = 3, LabelAnswers = LabelAnswers.Rank,
            TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder,
            Afinn = Path.Combine(InstructionFixtures.RepoRoot, "data", "baselines", "afinn-165.json"),
        }));
        Assert.Contains("label_answers = rank", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_multi_task_fine_tune_is_asked_with_its_task_name_after_each_input()
    {
        File.WriteAllText(Path.Combine(Model(), "tailor.json"), """{"stage": "finetune", "prompt_format": "plain", "task_prefix": true}""");
        var (run, items) = Evaluate.Run(Options("prefix") with { Tasks = "sentiment-imdb,translation-en-fr" });

        Assert.Equal("finetuned", run.Kind);
        Assert.All(items.Where(i => i.Task == "sentiment-imdb"), i => Assert.EndsWith("\n\n### Task: sentiment\n\n### Response:\n", i.Prompt, StringComparison.Ordinal));
        Assert.All(items.Where(i => i.Task == "translation-en-fr"), i => Assert.EndsWith("\n\n### Task: translation-en-fr\n\n### Response:\n", i.Prompt, StringComparison.Ordinal));

        File.WriteAllText(Path.Combine(Model(), "tailor.json"), """{"stage": "finetune", "prompt_format": "plain", "task_prefix": "yes"}""");
        Assert.Contains("task_prefix", Assert.Throws<TailorException>(() => Evaluate.Run(Options("bad-prefix") with { Tasks = "sentiment" })).Message, StringComparison.Ordinal);
    }
}
