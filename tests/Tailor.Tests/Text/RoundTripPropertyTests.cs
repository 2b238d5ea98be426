using System.Text;
using Microsoft.ML.Tokenizers;
using Tailor.Text;
using Xunit.Sdk;

namespace Tailor.Tests.Text;

/// <summary>
/// Property tests over seeded random strings: decode(encode(s)) == s (NFC(s) for Qwen), and GPT-2 ids equal to those of
/// an independent implementation, Microsoft.ML.Tokenizers' TiktokenTokenizer with its bundled gpt2 data.
/// </summary>
public class RoundTripPropertyTests
{
    private const int Samples = 2000;

    private static readonly Lazy<TextTokenizer> Trained = new(() =>
        BpeTrainer.Train(TrainingCorpus.Documents(200_000), new BpeTrainerOptions(VocabSize: 1000)));

    private static readonly string[] Literals =
    [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>", "<think>", "</think>", "<|begin_of_text|>", "<|eot_id|>",
        "<|im_", "|>", "<|", "'s", "'LL", "\r\n", "    ", "\n\n\n", "\t", "e\u0301", "ﬁ", "Å", "한", "\u1100\u1161\u11A8",
    ];

    private const string Digits = "0123456789٠١٢٣४५६๗๘９";
    private const string Spaces = " \t\n\r\v\f\u00A0\u2000\u2028\u3000\u0085\uFEFF";

    [Theory]
    [InlineData("trained")]
    [InlineData("gpt2")]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    public void Decode_inverts_encode_on_random_unicode(string name)
    {
        TextTokenizer tokenizer = name == "trained" ? Trained.Value : TokenizerFixtures.Get(name);
        Random random = new(20240611);
        for (int i = 0; i < Samples; i++)
        {
            string text = RandomText(random, allPlanes: true, literals: true);
            foreach (bool parseSpecial in new[] { false, true })
            {
                string expected = name == "qwen3" ? NormalizeOutsideAddedTokens(text, parseSpecial) : text;
                string decoded = tokenizer.Decode(tokenizer.Encode(text, parseSpecial));
                if (decoded != expected)
                    throw new XunitException($"{name} sample {i} (parseSpecial={parseSpecial}): {Hex(text)} decoded to {Hex(decoded)}");
            }
        }
    }

    // Qwen's NFC applies to the text between added tokens, which are cut out first (as in Hugging Face tokenizers):
    // "<|im_end|>" followed by U+0338 keeps its '>' although NFC(">\u0338") is "≯". The added tokens are read from the
    // fixture's tokenizer.json and matched leftmost-longest here, independently of AddedTokenMatcher.
    private static string NormalizeOutsideAddedTokens(string text, bool parseSpecial)
    {
        string[] added = [.. QwenAddedTokens.Value.Where(t => parseSpecial || !t.Special).Select(t => t.Content).OrderByDescending(c => c.Length)];
        StringBuilder result = new();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            string? match = added.FirstOrDefault(a => string.CompareOrdinal(text, i, a, 0, a.Length) == 0);
            if (match is null)
                continue;
            result.Append(Nfc.Normalize(text[start..i])).Append(match);
            i += match.Length - 1;
            start = i + 1;
        }

        return result.Append(Nfc.Normalize(text[start..])).ToString();
    }

    private static readonly Lazy<(string Content, bool Special)[]> QwenAddedTokens = new(() =>
    {
        using System.Text.Json.JsonDocument json = System.Text.Json.JsonDocument.Parse(TokenizerFixtures.ReadGz("qwen3.tokenizer.json.gz"));
        return [.. json.RootElement.GetProperty("added_tokens").EnumerateArray()
            .Select(t => (t.GetProperty("content").GetString()!, t.GetProperty("special").GetBoolean()))];
    });

    [Theory]
    [InlineData("trained")]
    [InlineData("gpt2")]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    public void No_text_has_more_characters_than_its_token_count_times_MaxCharsPerToken(string name)
    {
        // The bound the server refuses long prompts by, before tokenizing them: it must hold for every text, including
        // the worst case, the longest token's text repeated, and (with NFC) decomposed Hangul, 3 code points per syllable.
        TextTokenizer tokenizer = name == "trained" ? Trained.Value : TokenizerFixtures.Get(name);
        int perToken = tokenizer.MaxCharsPerToken!.Value;
        int longest = Enumerable.Range(0, tokenizer.VocabSize).Where(id => !tokenizer.SpecialIds.Contains(id))
            .MaxBy(id => tokenizer.IdToToken(id)?.Length ?? 0);
        string worst = string.Concat(Enumerable.Repeat(tokenizer.Decode([longest]), 50));
        Random random = new(7);
        IEnumerable<string> texts = [worst, string.Concat(Enumerable.Repeat("\u1100\u1161\u11A8", 200)), new string(' ', 5000),
            .. Enumerable.Range(0, 500).Select(_ => RandomText(random, allPlanes: true, literals: true))];
        foreach (string text in texts)
        {
            int tokens = tokenizer.Encode(text).Count;
            if ((long)tokens * perToken < text.Length)
                throw new XunitException($"{name}: {text.Length} characters in {tokens} tokens, more than {perToken} per token: {Hex(text[..Math.Min(40, text.Length)])}");
        }
        Assert.True(worst.Length / (double)tokenizer.Encode(worst).Count > perToken / (name == "qwen3" ? 12.0 : 4.0), $"{name}: the bound {perToken} is far from tight");
    }

    [Fact]
    public void Encoding_from_many_threads_gives_the_same_ids_as_one_thread()
    {
        TextTokenizer llama = TokenizerFixtures.Get("llama3");
        Random random = new(5);
        string[] texts = [.. Enumerable.Range(0, 400).Select(_ => RandomText(random, allPlanes: true, literals: true))];
        int[][] sequential = [.. texts.Select(t => llama.Encode(t, parseSpecial: true).ToArray())];

        int[][] parallel = new int[texts.Length][];
        Parallel.For(0, texts.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => parallel[i] = [.. llama.Encode(texts[i], parseSpecial: true)]);

        for (int i = 0; i < texts.Length; i++)
            Assert.Equal(sequential[i], parallel[i]);
    }

    [Fact]
    public void Lone_surrogates_are_encoded_as_replacement_characters()
    {
        TextTokenizer gpt2 = TokenizerFixtures.Get("gpt2");

        Assert.Equal("a\uFFFDb\uFFFD", gpt2.Decode(gpt2.Encode("a\uD800b\uDFFF")));
        Assert.Equal(gpt2.Encode("a\uFFFD"), gpt2.Encode("a\uDC00"));
    }

    [Fact]
    public void Gpt2_ids_agree_with_Microsoft_ML_Tokenizers_tiktoken_gpt2_on_random_text()
    {
        // TiktokenTokenizer matches its regex on UTF-16 code units, so the comparison stays in the BMP (astral text is
        // covered by the reference fixtures instead), and avoids <|endoftext|>, which it always treats as special.
        TextTokenizer ours = TokenizerFixtures.Get("gpt2");
        TiktokenTokenizer reference = TiktokenTokenizer.CreateForModel("gpt2");
        Random random = new(99);
        for (int i = 0; i < Samples; i++)
        {
            string text = RandomText(random, allPlanes: false, literals: false);
            int[] expected = [.. reference.EncodeToIds(text)];
            int[] actual = [.. ours.Encode(text)];
            if (!expected.SequenceEqual(actual))
                throw new XunitException($"sample {i} {Hex(text)}:\nexpected {string.Join(",", expected)}\nactual   {string.Join(",", actual)}");
        }
    }

    // Short strings built from pieces that stress byte-level BPE: every plane, lone combining marks, whitespace of all
    // kinds, digits of several scripts, emoji sequences, special-token look-alikes.
    internal static string RandomText(Random random, bool allPlanes, bool literals)
    {
        StringBuilder s = new();
        int atoms = random.Next(0, 24);
        for (int a = 0; a < atoms; a++)
        {
            int kind = random.Next(allPlanes ? 12 : 9);
            switch (kind)
            {
                case 0: s.Append((char)random.Next(0x20, 0x7F)); break;
                case 1: s.Append(Spaces[random.Next(Spaces.Length)]); break;
                case 2: s.Append((char)random.Next(0xC0, 0x180)); break;
                case 3: s.Append((char)random.Next(0x300, 0x370)); break; // combining marks, often with nothing to combine with
                case 4: s.Append((char)random.Next(0x4E00, 0xA000)); break;
                case 5: s.Append((char)random.Next(0xAC00, 0xD7A4)); break;
                case 6: s.Append(Digits[random.Next(Digits.Length)]); break;
                case 7: s.Append((char)random.Next(0x0400, 0x0700)); break;
                case 8: s.Append(literals ? Literals[random.Next(Literals.Length)] : new string('a', random.Next(1, 5))); break;
                case 9: s.Append(char.ConvertFromUtf32(random.Next(0x1F300, 0x1FB00))).Append(random.Next(3) == 0 ? "\u200D" : "").Append(random.Next(3) == 0 ? "\uFE0F" : ""); break;
                case 10: s.Append(char.ConvertFromUtf32(random.Next(0x1D400, 0x1D800))); break;
                default: s.Append(char.ConvertFromUtf32(RandomScalar(random))); break;
            }
        }

        return s.ToString();
    }

    private static int RandomScalar(Random random)
    {
        while (true)
        {
            int cp = random.Next(0, 0x110000);
            if (cp is < 0xD800 or > 0xDFFF)
                return cp;
        }
    }

    private static string Hex(string s) => string.Join(" ", s.Select(c => ((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture)));
}
