using System.Text.Json.Nodes;
using Tailor.Formats;
using Tailor.Generation;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Serving;
using Tailor.Tests.Data.Instructions;
using Tailor.Tests.Formats;
using Tailor.Tests.Model;
using Tailor.Text;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Tests.Recipes;

/// <summary>
/// <c>tailor instruct</c> on the tiny GPT-2 fixture (real GPT-2 tokenizer, no ChatML tokens): the vocabulary grows by
/// &lt;|im_start|&gt;, &lt;|im_end|&gt; and &lt;|pad|&gt; (TRL's setup_chat_format), training lowers the loss, and full
/// tuning, the LoRA adapter and its merge all give folders that reload, generate and stop at &lt;|im_end|&gt;.
/// </summary>
[Collection("TorchSharp")]
public sealed class Gpt2InstructTests : IDisposable
{
    private const int Gpt2Vocabulary = 50257;
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-gpt2-instruct-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Eight one-turn chats with two short answers: enough for the tiny model to learn to answer and stop.</summary>
    private string ChatFile()
    {
        string path = Path.Combine(_dir, "greetings.jsonl");
        var lines = Enumerable.Range(0, 8).Select(i => new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = i % 2 == 0 ? "Say hello." : "Say goodbye." },
                new JsonObject { ["role"] = "assistant", ["content"] = i % 2 == 0 ? "Hello there." : "Goodbye now." }),
        }.ToJsonString());
        File.WriteAllLines(path, lines);
        return path;
    }

    private TuneOptions Options(string output, bool lora = false) => new()
    {
        Model = Gpt2Fixture.MakeFolder(Path.Combine(_dir, "base")), Output = Path.Combine(_dir, output), Task = null, Tasks = "",
        Data = ChatFile(), TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder,
        Examples = 32, Sequence = 64, Batch = 4, MaxSteps = 60, WarmupSteps = 2, MinLearningRate = 1e-3,
        Optimizer = new TuneOptions().Optimizer with { LearningRate = 3e-2 },
        LogInterval = 1, EvalInterval = 100, CheckpointInterval = 100, DevExamples = 0, Runtime = new() { Threads = 1 },
        Lora = lora, Adapter = new() { Rank = 4, Alpha = 8, Dropout = 0 }, Merge = lora,
    };

    private static double[] Losses(string output) => [.. File.ReadLines(Path.Combine(output, "metrics.jsonl"))
        .Select(l => JsonNode.Parse(l)!).Where(n => n["loss"] is not null).Select(n => n["loss"]!.GetValue<double>())];

    /// <summary>Greedy answer to "Say hello." in ChatML; asserts generation ended on &lt;|im_end|&gt;, not on length.</summary>
    private static string AnswerAndStop(PretrainedModel model)
    {
        var prompt = model.Tokenizer.Encode(ChatTemplate.Render([new ChatMessage(ChatRole.User, "Say hello.")], addGenerationPrompt: true), parseSpecial: true);
        var result = model.CreateGenerator().Generate(prompt, new SamplingOptions { MaxNewTokens = 12 });
        Assert.True(result.FinishReason == "stop", $"no stop within 12 tokens: '{result.Text}'");
        int imEnd = model.Tokenizer.TokenToId(ChatTemplate.EndToken)!.Value;
        using var _ = inference_mode();
        using var ids = tensor(prompt.Concat(result.Ids).Select(i => (long)i).ToArray()).unsqueeze(0);
        using var next = model.Model.Forward(ids, lastOnly: true).argmax(-1);
        Assert.Equal(imEnd, next.item<long>());   // the stop was <|im_end|> itself
        return result.Text;
    }

    [Fact]
    public void Instruct_on_gpt2_adds_the_chatml_tokens_grows_the_vocabulary_and_writes_a_chat_model_that_stops_at_im_end()
    {
        var o = Options("full");
        var messages = new List<string>();
        var result = Instruct.Run(o, p => { if (p.Message is not null) messages.Add(p.Message); });
        Assert.Contains(messages, m => m.StartsWith("ChatML: ", StringComparison.Ordinal) && m.Contains("<|im_start|> 50257, <|im_end|> 50258, <|pad|> 50259", StringComparison.Ordinal));

        var losses = Losses(o.Output);
        Assert.True(losses[^1] < 0.5 * losses[0], $"loss {losses[0]:F3} → {losses[^1]:F3}: " + string.Join(" ", losses.Select(l => l.ToString("F2"))));

        string final = result.FinalModel!;
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(final, HfCheckpoint.ConfigFile)))!;
        Assert.Equal(Gpt2Vocabulary + 3, config["vocab_size"]!.GetValue<int>());
        Assert.Equal(50259, config["pad_token_id"]!.GetValue<int>());
        var generation = JsonNode.Parse(File.ReadAllText(Path.Combine(final, HfCheckpoint.GenerationConfigFile)))!;
        Assert.Equal([50258, 50256], generation["eos_token_id"]!.AsArray().Select(n => n!.GetValue<int>()));
        var tokenizerConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(final, "tokenizer_config.json")))!;
        Assert.Equal("<|im_end|>", tokenizerConfig["eos_token"]!.GetValue<string>());
        Assert.Equal("<|pad|>", tokenizerConfig["pad_token"]!.GetValue<string>());
        Assert.Equal("<|endoftext|>", tokenizerConfig["bos_token"]!.GetValue<string>());
        Assert.True(ChatTemplate.IsChatMl(tokenizerConfig["chat_template"]!.GetValue<string>()));

        using var tuned = PretrainedModel.Load(final);
        Assert.IsType<Gpt2LMHeadModel>(tuned.Model);
        Assert.Equal(Gpt2Vocabulary + 3, tuned.Tokenizer.VocabSize);
        Assert.Equal([50257, 198], tuned.Tokenizer.Encode("<|im_start|>\n", parseSpecial: true));
        Assert.Contains(50258, tuned.StopIds);
        Assert.Equal("Hello there.", AnswerAndStop(tuned));

        // The HF export of the grown model reloads as the same model.
        string exported = Path.Combine(_dir, "exported");
        Export.Run(final, null, "hf", exported, "f32");
        using var again = PretrainedModel.Load(exported);
        Assert.Equal("Hello there.", AnswerAndStop(again));

        // So does the GGUF export, in llama.cpp: the ChatML markers are single control tokens there too, EOS is
        // <|im_end|>, and the greedy answer is Tailor's.
        string gguf = Path.Combine(_dir, "chat.gguf");
        Export.Run(final, null, "gguf", gguf, "f32");
        var file = Gguf.Read(gguf);
        Assert.Equal(50258u, file.Get<uint>("tokenizer.ggml.eos_token_id"));
        using var llama = LlamaCpp.Load(gguf, context: 64);
        Assert.Equal(50260, llama.VocabSize);
        string prompt = ChatTemplate.Render([new ChatMessage(ChatRole.User, "Say goodbye.")], addGenerationPrompt: true);
        var ids = tuned.Tokenizer.Encode(prompt, parseSpecial: true);
        Assert.Equal(ids, llama.Tokenize(prompt));
        var answer = tuned.CreateGenerator().Generate(ids, new SamplingOptions { MaxNewTokens = 6, StopAtEos = false });
        Assert.Equal(answer.Ids, llama.Greedy(ids, 6));
    }

    [Fact]
    public void Lora_instruct_on_gpt2_trains_only_the_new_rows_and_its_adapter_carries_the_grown_embedding_and_tokenizer()
    {
        var o = Options("lora", lora: true);
        var result = Instruct.Run(o);
        var losses = Losses(o.Output);
        Assert.True(losses[^1] < 0.5 * losses[0], $"loss {losses[0]:F3} → {losses[^1]:F3}");

        // PEFT's layout when the vocabulary was resized: the whole embedding and the (tied) head beside lora_A/lora_B.
        string adapter = result.Adapter!;
        var header = Safetensors.ReadHeader(Path.Combine(adapter, LoraAdapter.AdapterWeightsFile));
        Assert.True(header.TryGet("base_model.model.transformer.wte.weight", out var wte));
        Assert.True(header.TryGet("base_model.model.lm_head.weight", out var head));
        Assert.Equal([Gpt2Vocabulary + 3, 16L], wte!.Shape);
        Assert.Equal([Gpt2Vocabulary + 3, 16L], head!.Shape);
        Assert.Equal(Gpt2Vocabulary + 3, TextTokenizer.Load(adapter).VocabSize);
        var adapterConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(adapter, LoraAdapter.AdapterConfigFile)))!;
        Assert.Null(adapterConfig["modules_to_save"]);

        // The base's rows are bit for bit the base's (frozen, no weight decay); the new rows moved away from their start.
        var saved = Safetensors.Load(Path.Combine(adapter, LoraAdapter.AdapterWeightsFile));
        using var original = PretrainedModel.Load(o.Model);
        var trained = saved["base_model.model.transformer.wte.weight"];
        Assert.True(trained.narrow(0, 0, Gpt2Vocabulary).eq(original.Model.OutputWeight).all().item<bool>(), "LoRA changed rows of the base vocabulary");
        Assert.True(trained.eq(saved["base_model.model.lm_head.weight"]).all().item<bool>());
        using var start = EmbeddingResize.Resize(original.Model, Gpt2Vocabulary + 3, Gpt2Vocabulary, new Generator((ulong)o.Seed));
        Assert.True((trained.narrow(0, Gpt2Vocabulary, 3) - start.OutputWeight.narrow(0, Gpt2Vocabulary, 3)).abs().max().item<float>() > 1e-3,
            "the new rows did not train");

        // The merged final/ and the base + adapter (grown to the adapter's vocabulary, as serve and export load it) agree.
        using var merged = PretrainedModel.Load(result.FinalModel!);
        Assert.Equal(Gpt2Vocabulary + 3, merged.Config.VocabSize);
        Assert.StartsWith("Hello", AnswerAndStop(merged), StringComparison.Ordinal);   // rank 4 on a 16-wide model: the gist, and the stop
        using var based = AdapterEmbeddings.LoadBase(o.Model, adapter);
        LoraAdapter.Load(based.Model, adapter);
        based.Model.eval();
        using var _ = no_grad();
        using var ids = tensor(merged.Tokenizer.Encode("<|im_start|>user\nSay goodbye.<|im_end|>\n", parseSpecial: true).Select(i => (long)i).ToArray()).unsqueeze(0);
        using var a = merged.Model.Forward(ids);
        using var b = based.Model.Forward(ids);
        Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-4), $"max diff {(a - b).abs().max().item<float>()}");

        // tailor serve --adapter and tailor export --adapter take the same road.
        using (var served = ServedModel.Load(o.Model, adapter))
            Assert.Equal(Gpt2Vocabulary + 3, served.Model.Tokenizer.VocabSize);
        string exported = Path.Combine(_dir, "exported-adapter");
        Export.Run(o.Model, adapter, "hf", exported, "f32");
        using (var reloaded = PretrainedModel.Load(exported))
        using (var c = reloaded.Model.Forward(ids))
            Assert.True(c.allclose(a, rtol: 1e-4, atol: 1e-4), $"export --adapter: max diff {(c - a).abs().max().item<float>()}");

        // Loading the adapter onto the ungrown base says how to do it right.
        using var plain = PretrainedModel.Load(o.Model);
        var e = Assert.Throws<CheckpointFormatException>(() => LoraAdapter.Load(plain.Model, adapter));
        Assert.Contains("vocabulary of 50260 tokens and the model has 50257", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_gpt2_instruct_run_cancelled_mid_way_resumes_with_the_same_losses(bool lora)
    {
        var whole = Instruct.Run(Options(lora ? "whole-lora" : "whole", lora) with { MaxSteps = 6, CheckpointInterval = 2 });
        var o = Options(lora ? "cut-lora" : "cut", lora) with { MaxSteps = 6, CheckpointInterval = 2 };
        using var cancel = new CancellationTokenSource();
        var first = Instruct.Run(o, p => { if (p.Step == 3 && p.Loss is not null) cancel.Cancel(); }, cancel.Token);
        Assert.True(first.Interrupted);
        var second = Instruct.Run(o with { Resume = true });
        Assert.False(second.Interrupted);
        Assert.Equal(Losses(whole.Output), Losses(o.Output));
    }
}
