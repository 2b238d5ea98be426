using System.Text.Json.Nodes;
using Tailor.Model;
using Tailor.Tests.Data.Instructions;
using Tailor.Text;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Tests.Model;

/// <summary>
/// The pieces of TRL's setup_chat_format: ChatML tokens added to the real GPT-2 tokenizer, and transformers' mean
/// resizing of the embedding (old rows kept bit for bit, new rows near the mean, the old tokens' logits unchanged).
/// </summary>
[Collection("TorchSharp")]
public sealed class ChatVocabularyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-chat-vocab-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void The_gpt2_tokenizer_gains_the_chatml_tokens_at_the_next_ids_and_keeps_every_old_id()
    {
        var gpt2 = TextTokenizer.Load(Gpt2Fixture.MakeFolder(_dir));
        Assert.True(ChatTokens.AreMissing(gpt2));
        var chat = ChatTokens.AddTo(gpt2, out var added);
        Assert.Equal(["<|im_start|>", "<|im_end|>", "<|pad|>"], added);
        Assert.Equal(50260, chat.VocabSize);
        Assert.Equal((50257, 50258, 50259), (chat.TokenToId("<|im_start|>"), chat.TokenToId("<|im_end|>"), chat.PadId));
        Assert.Equal(50258, chat.EosId);
        Assert.Equal(gpt2.BosId, chat.BosId);
        Assert.Contains(50258, chat.SpecialIds);
        Assert.False(ChatTokens.AreMissing(chat));

        // The chat template renders ChatML, and the rendered text encodes the turn markers to single ids; ordinary text
        // (and the markers written in user text, without parseSpecial) encodes exactly as before.
        Assert.True(ChatTemplate.IsChatMl(chat.ChatTemplate));
        string rendered = ChatTemplate.Render([new ChatMessage(ChatRole.User, "Hi there")], addGenerationPrompt: true, chat);
        Assert.Equal("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", rendered);
        var ids = chat.Encode(rendered, parseSpecial: true);
        Assert.Equal([50257, .. gpt2.Encode("user\nHi there"), 50258, .. gpt2.Encode("\n"), 50257, .. gpt2.Encode("assistant\n")], ids);
        const string text = "The quick brown fox <|im_end|> jumps.";
        Assert.Equal(gpt2.Encode(text), chat.Encode(text));
        Assert.Equal(rendered, chat.Decode(ids));

        // Saved and reloaded: the same tokenizer, and tokenizer_config.json names the new tokens as transformers would.
        string saved = Path.Combine(_dir, "saved");
        chat.Save(saved);
        var again = TextTokenizer.Load(saved);
        Assert.Equal(ids, again.Encode(rendered, parseSpecial: true));
        Assert.Equal((50258, 50259), (again.EosId, again.PadId));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "tokenizer_config.json")))!;
        Assert.Equal(["<|im_start|>", "<|im_end|>"], config["additional_special_tokens"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("GPT2Tokenizer", config["tokenizer_class"]!.GetValue<string>());   // every other field kept
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "tokenizer.json")))!;
        var last = json["added_tokens"]!.AsArray()[^1]!;
        Assert.Equal(("<|pad|>", 50259, true, false), (last["content"]!.GetValue<string>(), last["id"]!.GetValue<int>(), last["special"]!.GetValue<bool>(), last["normalized"]!.GetValue<bool>()));
    }

    [Fact]
    public void A_tokenizer_that_has_the_chatml_tokens_is_returned_as_it_is()
    {
        var shipped = TextTokenizer.Load(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small"));
        Assert.False(ChatTokens.AreMissing(shipped));
        Assert.Same(shipped, ChatTokens.AddTo(shipped, out var added));
        Assert.Empty(added);
        using var model = LlamaForCausalLM.FromConfig(LlamaConfig.Preset("tiny", shipped.VocabSize), seed: 1);
        Assert.Null(ChatVocabulary.Setup(model, shipped, 1, "base", _ => Assert.Fail("nothing to say")));
    }

    [Fact]
    public void A_tokenizer_with_another_chat_template_is_refused_before_anything_is_added()
    {
        var gpt2 = TextTokenizer.Load(Gpt2Fixture.MakeFolder(_dir));
        gpt2.ChatTemplate = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}";
        var e = Assert.Throws<TailorException>(() => ChatTokens.AddTo(gpt2, out _, "my-base"));
        Assert.Contains("my-base: tokenizer_config.json has a chat_template that is not ChatML", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mean_resizing_keeps_the_old_rows_and_logits_and_draws_new_rows_near_the_mean()
    {
        using var loaded = PretrainedModel.Load(Gpt2Fixture.MakeFolder(_dir));
        var model = loaded.Model;
        using var grown = EmbeddingResize.Resize(model, 50260, 50257, new Generator(7));
        using var twin = EmbeddingResize.Resize(model, 50260, 50257, new Generator(7));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var old = model.OutputWeight;                                                  // (50257, 16)
        var rows = grown.OutputWeight;                                                 // (50260, 16), tied: wte
        Assert.Equal([50260L, 16], rows.shape);
        Assert.True(rows.narrow(0, 0, 50257).eq(old).all().item<bool>(), "an old row changed");
        Assert.True(rows.eq(twin.OutputWeight).all().item<bool>(), "the same seed drew other rows");

        // N(μ, 1e-9·Σ): each new row sits within a few √1e-9 standard deviations of the mean, and the rows differ.
        var mean = old.to_type(ScalarType.Float32).mean([0]);
        var spread = old.to_type(ScalarType.Float32).std([0]);                         // per column
        var fresh = rows.narrow(0, 50257, 3).to_type(ScalarType.Float32);
        double worst = ((fresh - mean).abs() / spread).max().item<float>();
        Assert.True(worst > 0 && worst < 6 * Math.Sqrt(EmbeddingResize.CovarianceScale), $"new rows are {worst:E2} column-sd from the mean");
        Assert.False(fresh[0].eq(fresh[1]).all().item<bool>(), "two new rows are identical");

        // Everything else is copied, so the old vocabulary's logits are the same.
        var ids = Gpt2Fixture.Reference()["input_ids"];
        var before = model.Forward(ids);
        var after = grown.Forward(ids);
        Assert.Equal(50260, after.shape[2]);
        Assert.True(after.narrow(2, 0, 50257).eq(before).all().item<bool>(), "old logits moved");
        Assert.Equal(50260, grown.DecoderConfig.VocabSize);
    }

    [Fact]
    public void An_untied_llama_grows_its_head_too_and_a_degenerate_covariance_gives_the_mean()
    {
        var config = LlamaConfig.Preset("tiny", 40);
        config.TieWordEmbeddings = false;
        using var model = LlamaForCausalLM.FromConfig(config, seed: 5);
        using var grown = EmbeddingResize.Resize(model, 43, 40, new Generator(1));
        using var _ = no_grad();
        var layers = EmbeddingResize.Layers(grown);
        Assert.Equal(["model.embed_tokens.weight", "lm_head.weight"], layers.Select(l => l.Name));
        foreach (var ((name, before), (_, after)) in EmbeddingResize.Layers(model).Zip(layers))
        {
            Assert.Equal([43L, before.shape[1]], after.shape);
            Assert.True(after.narrow(0, 0, 40).eq(before).all().item<bool>(), $"{name}: an old row changed");
            // 40 rows of a wider matrix: Σ is singular, so every new row is the mean of the old ones (transformers' fallback).
            using var mean = before.mean([0]);
            Assert.True(after.narrow(0, 40, 3).sub(mean).abs().max().item<float>() < 1e-6, $"{name}: new rows are not the mean");
        }
    }
}
