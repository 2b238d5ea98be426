using System.Text.Json.Nodes;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Tests.Data.Instructions;
using Tailor.Text;
using static TorchSharp.torch;
using Tailor.Data.Instructions;
using Tailor.Training;

namespace Tailor.Tests.Recipes;

/// <summary>
/// The tuning recipes end to end on the real task data, with a tiny model that shares the shipped small model's
/// tokenizer (the mechanism is under test, not the quality).
/// </summary>
[Collection("TorchSharp")]
public sealed class TuneTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-tune-").FullName;
    private string? _base;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A tiny random Llama with the shipped tokenizer, saved as a base model folder (no chat template).</summary>
    private string Base()
    {
        if (_base is not null) return _base;
        var tokenizer = TextTokenizer.Load(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small"));
        tokenizer.ChatTemplate = null;
        var config = LlamaConfig.Preset("tiny", tokenizer.VocabSize);
        config.EosTokenId = [tokenizer.EosId!.Value];
        config.PadTokenId = tokenizer.PadId;
        using var model = LlamaForCausalLM.FromConfig(config, seed: 3);
        _base = Path.Combine(_dir, "base");
        ModelFolder.Save(_base, model, tokenizer, ScalarType.Float32);
        return _base;
    }

    private TuneOptions Options(string output, bool lora = false) => new()
    {
        Model = Base(), Output = Path.Combine(_dir, output), Task = null,
        TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"),
        Templates = InstructionFixtures.TemplatesFolder,
        Examples = 96, Sequence = 192, Batch = 4, MaxSteps = 6, WarmupSteps = 2, MinLearningRate = 3e-4,
        Optimizer = new TuneOptions().Optimizer with { LearningRate = 3e-3 },
        LogInterval = 1, EvalInterval = 3, CheckpointInterval = 2, DevExamples = 4, Runtime = new() { Threads = 1 },
        Lora = lora, Adapter = new() { Rank = 4, Alpha = 8, Dropout = 0.1 },
    };

    private static double[] Losses(string output) => [.. File.ReadLines(Path.Combine(output, "metrics.jsonl"))
        .Select(l => JsonNode.Parse(l)!).Where(n => n["loss"] is not null).Select(n => n["loss"]!.GetValue<double>())];

    [Fact]
    public void Instruct_trains_on_the_mixture_and_writes_a_chat_model_with_its_template_and_marker()
    {
        var o = Options("instruct");
        var result = Instruct.Run(o);
        Assert.False(result.Interrupted);
        Assert.Equal(6, result.Steps);
        Assert.NotNull(result.FinalModel);
        Assert.Null(result.Adapter);
        Assert.Equal(["sentiment", "summarization", "translation-en-de", "translation-en-fr"], result.DevLossByTask.Keys.Order());
        Assert.True(result.TrainedTokens > 0 && result.TrainedTokens < result.TokensSeen);
        Assert.Equal("chatml", TunedModelMarker.PromptFormatOf(result.FinalModel!));
        var marker = JsonNode.Parse(File.ReadAllText(Path.Combine(result.FinalModel!, TunedModelMarker.FileName)))!;
        Assert.Equal("instruct", marker["stage"]!.GetValue<string>());
        Assert.Equal("train", marker["template_pool"]!.GetValue<string>());
        using var tuned = PretrainedModel.Load(result.FinalModel!);
        Assert.True(ChatTemplate.IsChatMl(tuned.Tokenizer.ChatTemplate));
        // The base has <|im_start|>/<|im_end|>: no token added, no row grown.
        Assert.Equal(TextTokenizer.Load(o.Model).VocabSize, tuned.Tokenizer.VocabSize);
        Assert.Equal(File.ReadAllBytes(Path.Combine(o.Model, "tokenizer.json")), File.ReadAllBytes(Path.Combine(result.FinalModel!, "tokenizer.json")));
        Assert.Equal(LlamaConfig.FromPretrained(o.Model).VocabSize, tuned.Config.VocabSize);
        Assert.Contains(tuned.Tokenizer.TokenToId(ChatTemplate.EndToken)!.Value, tuned.StopIds);
        Assert.True(File.Exists(Path.Combine(o.Output, "recipe.json")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(o.Output, "tensorboard"), "events.out.tfevents.*"));
        var devLines = File.ReadLines(Path.Combine(o.Output, "metrics.jsonl")).Where(l => l.Contains("dev_loss/sentiment", StringComparison.Ordinal));
        Assert.Equal(2, devLines.Count());   // steps 3 and 6
    }

    [Fact]
    public void Instruct_with_the_vague_pool_trains_on_vague_phrasings_only()
    {
        var o = Options("vague") with { Pool = TemplatePool.Vague, MaxSteps = 1 };
        var data = Instruct.BuildData(o, TextTokenizer.Load(Base()), _ => { });
        var tokenizer = TextTokenizer.Load(Base());
        var vague = TaskTemplates.LoadAll(o.Templates).Values.SelectMany(s => s.Pool(TemplatePool.Vague))
            .Select(t => t.Prompt[..t.Prompt.IndexOf('{', StringComparison.Ordinal)]).Where(p => p.Length > 0).ToList();
        int matched = data.Train.Count(e => vague.Any(v => tokenizer.Decode(e.Ids).Contains("user\n" + v, StringComparison.Ordinal)));
        // Every vague prompt of the shipped templates starts with text before the input; prompts starting with the input
        // cannot be told apart this way, so require most, not all.
        Assert.True(matched > data.Train.Count / 2, $"{matched} of {data.Train.Count} examples start with a vague phrasing");
    }

    [Fact]
    public void Finetune_uses_the_plain_format_with_the_bare_input_and_marks_it()
    {
        var o = Options("finetune") with { Task = "sentiment", MaxSteps = 2 };
        var tokenizer = TextTokenizer.Load(Base());
        var data = Finetune.BuildData(o, tokenizer, _ => { });
        var records = TaskTemplates.ReadRecords(Path.Combine(o.TaskData, "sentiment.train.jsonl"));
        string first = tokenizer.Decode(data.Train[0].Ids);
        Assert.Contains(ExampleEncoder.PlainSeparator, first);
        string input = first[..first.IndexOf(ExampleEncoder.PlainSeparator, StringComparison.Ordinal)];
        var record = records.Single(r => r.Fields["text"] == input);
        Assert.EndsWith(ExampleEncoder.PlainSeparator + record.Fields["label"] + "<|endoftext|>", first);
        Assert.Equal(data.Train.Count, Math.Min(o.Examples, records.Count));

        var result = Finetune.Run(o);
        Assert.Equal("plain", TunedModelMarker.PromptFormatOf(result.FinalModel!));
        Assert.Equal(["sentiment"], result.DevLossByTask.Keys);
    }

    [Fact]
    public void Finetune_on_several_tasks_mixes_them_in_the_plain_format_with_their_task_names_and_a_dev_loss_each()
    {
        var o = Options("finetune-multi") with { Task = "sentiment,summarization,translation-en-de", Examples = 60, MixtureCap = 1000 };
        var tokenizer = TextTokenizer.Load(Base());
        var data = Finetune.BuildData(o, tokenizer, _ => { });
        Assert.Equal(60, data.Train.Count);
        Assert.Equal(["sentiment", "summarization", "translation-en-de"], data.Tasks);
        Assert.Equal(["sentiment", "summarization", "translation-en-de"], data.Dev.Keys.Order());
        var texts = data.Train.Select(e => tokenizer.Decode(e.Ids)).ToList();
        Assert.All(texts, t => Assert.Contains(ExampleEncoder.PlainSeparator, t));
        Assert.DoesNotContain(texts, t => t.Contains("<|im_start|>", StringComparison.Ordinal));
        // Every task is drawn: a sentiment answer, and answers that are not labels.
        Assert.Contains(texts, t => t.EndsWith("positive<|endoftext|>", StringComparison.Ordinal) || t.EndsWith("negative<|endoftext|>", StringComparison.Ordinal));
        Assert.True(texts.Count(t => !t.EndsWith("positive<|endoftext|>", StringComparison.Ordinal) && !t.EndsWith("negative<|endoftext|>", StringComparison.Ordinal)) > 20);
        // Each input, cut from the left or not, ends with its task's name (an en→de source alone does not say which
        // language is asked), and so does every dev example.
        Assert.All(texts, t => Assert.Matches("(sentiment|summarization|translation-en-de)\n\n### Response:\n", t));
        Assert.True(texts.Count(t => t.Contains("\n\n### Task: ", StringComparison.Ordinal)) >= 55, "the whole field, but where a long response left the prompt a few tokens");
        Assert.Contains(texts, t => t.Contains("### Task: translation-en-de\n", StringComparison.Ordinal));
        Assert.All(data.Dev, kv => Assert.All(kv.Value, e => Assert.Contains("\n\n### Task: " + kv.Key + "\n\n### Response:\n", tokenizer.Decode(e.Ids), StringComparison.Ordinal)));
        Assert.True(data.TaskPrefix);
        Assert.False(Finetune.BuildData(Options("finetune-one") with { Task = "sentiment", Examples = 8 }, tokenizer, _ => { }).TaskPrefix);
    }

    [Fact]
    public void Finetune_reads_your_own_alpaca_file_and_names_a_bad_line()
    {
        string file = Path.Combine(_dir, "mine.jsonl");
        File.WriteAllLines(file, [
            """{"instruction": "Say hi", "input": "", "output": "hi"}""",
            """{"instruction": "Add", "input": "1 + 1", "output": "2"}""",
            """{"instruction": "Broken", "output": 3}""",
        ]);
        var o = Options("mine") with { Task = null, Data = file, MaxSteps = 1 };
        var e = Assert.Throws<TailorException>(() => Finetune.BuildData(o, TextTokenizer.Load(Base()), _ => { }));
        Assert.Contains("mine.jsonl:3", e.Message, StringComparison.Ordinal);
        var skipped = new List<string>();
        var data = Finetune.BuildData(o with { SkipBad = true }, TextTokenizer.Load(Base()), skipped.Add);
        Assert.Equal(2, data.Train.Count);
        Assert.Contains(skipped, s => s.Contains("skipped 1 line", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_run_cancelled_mid_way_resumes_with_the_same_losses_as_an_uninterrupted_run(bool lora)
    {
        var whole = Instruct.Run(Options(lora ? "whole-lora" : "whole", lora));
        Assert.Equal(6, whole.Steps);
        Assert.False(Tailor.Torch.CpuTuning.MallocTuned, "the malloc tuning outlived the training loop");

        var o = Options(lora ? "cut-lora" : "cut", lora);
        using var cancel = new CancellationTokenSource();
        var first = Instruct.Run(o, p => { if (p.Step == 3 && p.Loss is not null) cancel.Cancel(); }, cancel.Token);
        Assert.True(first.Interrupted);
        Assert.Equal(3, first.Steps);   // seen before step 4 starts: steps 1-3 are done and checkpointed
        var second = Instruct.Run(o with { Resume = true });
        Assert.False(second.Interrupted);
        Assert.Equal(Losses(whole.Output), Losses(o.Output));
        Assert.Equal(whole.TokensSeen, second.TokensSeen);
    }

    [Fact]
    public void A_resume_that_changes_the_adapter_is_refused_before_anything_is_loaded()
    {
        var o = Options("adapter", lora: true) with { MaxSteps = 2 };
        Instruct.Run(o);
        string checkpoint = Path.Combine(o.Output, "checkpoint");
        var before = Directory.GetFiles(o.Output, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);

        var rank = Assert.Throws<TailorException>(() => Instruct.Run(o with { Resume = true, Adapter = o.Adapter with { Rank = 8 } }));
        Assert.Contains("Resume with --lora-rank 4 (given 8)", rank.Message, StringComparison.Ordinal);
        var targets = Assert.Throws<TailorException>(() => Instruct.Run(o with { Resume = true, Adapter = o.Adapter with { Targets = "q_proj,v_proj" } }));
        Assert.Contains("--lora-targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj (given q_proj,v_proj)", targets.Message, StringComparison.Ordinal);
        var full = Assert.Throws<TailorException>(() => Instruct.Run(o with { Resume = true, Lora = false }));
        Assert.Contains($"{checkpoint} holds a LoRA adapter", full.Message, StringComparison.Ordinal);

        // Refused up front: nothing in the run folder changed (recipe.json and metrics.jsonl included).
        Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllBytes(kv.Key)));
        var plain = Options("plain-adapter") with { MaxSteps = 2 };
        Instruct.Run(plain);
        var lora = Assert.Throws<TailorException>(() => Instruct.Run(plain with { Resume = true, Lora = true }));
        Assert.Contains("is a full-tuning checkpoint", lora.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lora_writes_a_peft_adapter_and_the_merged_model_gives_the_same_logits()
    {
        var o = Options("lora", lora: true) with { Merge = true, MaxSteps = 4 };
        var result = Instruct.Run(o);
        Assert.NotNull(result.Adapter);
        Assert.True(File.Exists(Path.Combine(result.Adapter!, LoraAdapter.AdapterWeightsFile)));
        Assert.True(File.Exists(Path.Combine(result.Adapter!, LoraAdapter.AdapterConfigFile)));
        Assert.Equal("chatml", TunedModelMarker.PromptFormatOf(result.Adapter!));

        using var merged = PretrainedModel.Load(result.FinalModel!);
        using var unmerged = PretrainedModel.Load(o.Model);
        LoraAdapter.Load(unmerged.Model, result.Adapter!);
        unmerged.Model.eval();
        using var scope = NewDisposeScope();
        var ids = tensor(merged.Tokenizer.Encode("Review: the battery died after a week.").Select(i => (long)i).ToArray()).unsqueeze(0);
        using var noGrad = no_grad();
        var a = merged.Model.Forward(ids);
        var b = unmerged.Model.Forward(ids);
        Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-4), $"max diff {(a - b).abs().max().item<float>()}");
        using var plainBase = PretrainedModel.Load(o.Model);
        Assert.False(plainBase.Model.Forward(ids).allclose(a, rtol: 1e-4, atol: 1e-4), "training changed nothing");
    }

    [Fact]
    public void A_sequence_past_the_models_context_an_absurd_thread_count_and_a_model_folder_as_output_are_refused_up_front()
    {
        var sequence = Assert.Throws<TailorException>(() => Instruct.Run(Options("long") with { Sequence = 1_000_000 }));
        Assert.StartsWith("--sequence 1000000 is longer than the model's context", sequence.Message, StringComparison.Ordinal);
        Assert.Contains("max_position_embeddings", sequence.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "long", "recipe.json")));

        var threads = Assert.Throws<TailorException>(() => Instruct.Run(Options("threads") with { Runtime = new() { Threads = 100_000 } }));
        Assert.StartsWith("--threads 100000: at most", threads.Message, StringComparison.Ordinal);

        // The probe: --output at an existing model folder overwrote its recipe.json.
        string model = Path.Combine(_dir, "a-model");
        Directory.CreateDirectory(model);
        foreach (string file in Directory.GetFiles(Base())) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(model, "recipe.json"), "{\"mine\": true}");
        var before = Directory.GetFiles(model).ToDictionary(f => f, File.ReadAllBytes);
        var folder = Assert.Throws<TailorException>(() => Instruct.Run(Options("unused") with { Output = model }));
        Assert.Contains($"--output {model} is a model folder", folder.Message, StringComparison.Ordinal);
        Assert.Equal(before.Keys.Order(), Directory.GetFileSystemEntries(model).Order());
        Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllBytes(kv.Key)));
    }

    [Fact]
    public void Bad_options_are_refused_with_the_key_named()
    {
        Assert.Contains("--pool creative: use train, eval or vague", Assert.Throws<TailorException>(() => RecipeOptions.Load<TuneOptions>(null, [KeyValuePair.Create("pool", "creative")])).Message, StringComparison.Ordinal);
        Assert.Contains("pool = eval: the eval pool is held out", Assert.Throws<TailorException>(() => (Options("x") with { Pool = TemplatePool.Eval }).Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("merge = true needs lora", Assert.Throws<TailorException>(() => (Options("x") with { Merge = true }).Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("--mkl-avx512 yes: use auto, true or false", Assert.Throws<TailorException>(() => RecipeOptions.Load<TuneOptions>(null, [KeyValuePair.Create("mkl_avx512", "yes")])).Message, StringComparison.Ordinal);
        Assert.Contains("--malloc-tuning 1: use auto, true or false", Assert.Throws<TailorException>(() => RecipeOptions.Load<TuneOptions>(null, [KeyValuePair.Create("malloc_tuning", "1")])).Message, StringComparison.Ordinal);
        var e = Assert.Throws<TailorException>(() => Instruct.Run(Options("x") with { Tasks = "sentiment,poetry" }));
        Assert.Contains("poetry.json", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "x", "checkpoint")));
    }
}
