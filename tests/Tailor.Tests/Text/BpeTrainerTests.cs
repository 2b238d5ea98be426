using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tailor.Text;

namespace Tailor.Tests.Text;

public class BpeTrainerTests
{
    private static readonly string[] Probes =
    [
        "The tailor measured the cloth twice.",
        "<|im_start|>user\nHello there!<|im_end|>\n<|im_start|>assistant\n",
        "Unseen words: zyxwvut, Ωmega, 😀, 東京タワー, \t\t tabs and  double  spaces\n",
        "<|endoftext|><|pad|><|pad|>",
        "",
    ];

    [Fact]
    public void Training_twice_on_the_same_text_writes_identical_files()
    {
        List<string> corpus = TrainingCorpus.Documents(200_000);
        BpeTrainerOptions options = new(VocabSize: 1000);

        (byte[] json1, byte[] config1) = SaveAndRead(BpeTrainer.Train(corpus, options));
        (byte[] json2, byte[] config2) = SaveAndRead(BpeTrainer.Train(corpus, options));

        Assert.Equal(json1, json2);
        Assert.Equal(config1, config2);
    }

    [Fact]
    public void Merges_match_a_naive_trainer_that_recounts_every_pair_each_step()
    {
        List<string> corpus = TrainingCorpus.Documents(40_000, seed: 7);
        TextTokenizer trained = BpeTrainer.Train(corpus, new BpeTrainerOptions(VocabSize: 256 + 300 + 4));

        List<(byte[], byte[])> expected = NaiveMerges(corpus, maxTokens: 300, minFrequency: 2);
        List<(byte[], byte[])> actual = SavedMerges(trained);

        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(
                expected[i].Item1.SequenceEqual(actual[i].Item1) && expected[i].Item2.SequenceEqual(actual[i].Item2),
                $"merge {i}: expected {Show(expected[i])}, got {Show(actual[i])}");
        }
    }

    [Fact]
    public void Ties_go_to_the_pair_with_the_smallest_left_then_right_id()
    {
        // Every pair of "abcd" occurs once. (a,b) has the smallest ids (97, 98) and goes first; then (c,d) = (99, 100)
        // beats (ab, c) = (256, 99); last comes (ab, cd).
        TextTokenizer trained = BpeTrainer.Train(["abcd"], new BpeTrainerOptions(VocabSize: 256 + 3 + 4, MinFrequency: 1));

        Assert.Equal(["a b", "c d", "ab cd"], SavedMerges(trained).Select(m => $"{Encoding.UTF8.GetString(m.Item1)} {Encoding.UTF8.GetString(m.Item2)}"));
        Assert.Equal([256 + 2], trained.Encode("abcd"));
    }

    [Fact]
    public void Higher_frequency_wins_over_smaller_ids()
    {
        // (space, y) and (y, z) occur three times, (a, b) once: frequency decides before ids do, then the smaller id
        // (space is byte 32, y is 121).
        TextTokenizer trained = BpeTrainer.Train(["ab yz yz yz"], new BpeTrainerOptions(VocabSize: 256 + 1 + 4, MinFrequency: 1));

        Assert.Equal("Ġ y", string.Join(" ", SavedMergeStrings(trained)[0]));
    }

    [Fact]
    public void The_vocabulary_has_the_requested_size_with_bytes_first_and_special_tokens_last()
    {
        TextTokenizer trained = BpeTrainer.Train(TrainingCorpus.Documents(100_000), new BpeTrainerOptions(VocabSize: 700));

        Assert.Equal(700, trained.VocabSize);
        Assert.Equal([696, 697, 698, 699], trained.SpecialIds);
        Assert.Equal(696, trained.EosId); // <|endoftext|>
        Assert.Equal(699, trained.PadId); // <|pad|>
        Assert.Null(trained.BosId);
        Assert.Equal(2048, trained.ModelMaxLength);
        Assert.Equal("<|im_start|>", trained.IdToToken(697));
        for (int b = 0; b < 256; b++)
            Assert.Equal([(byte)b], Unspell(trained.IdToToken(b)!)); // id b is byte b
        Assert.Equal([(int)'\u0007'], trained.Encode("\u0007")); // a byte never seen in training still encodes
    }

    [Fact]
    public void Training_stops_when_no_pair_reaches_the_minimum_frequency()
    {
        TextTokenizer trained = BpeTrainer.Train(["quick brown"], new BpeTrainerOptions(VocabSize: 5000, MinFrequency: 2));

        // No pair of adjacent bytes occurs twice in this text, so nothing is learned.
        Assert.Equal(256 + 4, trained.VocabSize);
    }

    [Fact]
    public void Special_tokens_in_the_training_text_are_boundaries_not_material()
    {
        List<string> corpus = [.. Enumerable.Repeat("<|endoftext|>hello world<|endoftext|>", 200)];
        TextTokenizer trained = BpeTrainer.Train(corpus, new BpeTrainerOptions(VocabSize: 400));

        string[] learned = [.. Enumerable.Range(256, trained.VocabSize - 256 - 4).Select(id => trained.IdToToken(id)!)];
        Assert.DoesNotContain(learned, t => t.Contains('|', StringComparison.Ordinal));
        Assert.Contains("hello", learned);
        Assert.Equal([trained.EosId!.Value, trained.TokenToId("hello")!.Value, trained.TokenToId("Ġworld")!.Value],
            trained.Encode("<|endoftext|>hello world", parseSpecial: true));
    }

    [Fact]
    public void Train_save_load_gives_the_same_ids()
    {
        TextTokenizer trained = BpeTrainer.Train(TrainingCorpus.Documents(100_000), new BpeTrainerOptions(VocabSize: 800));
        trained.ChatTemplate = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
        using TempFolder temp = new();
        string folder = temp.Path;
        trained.Save(folder);

        TextTokenizer loaded = TextTokenizer.Load(folder);

        foreach (string text in Probes)
        {
            Assert.Equal(trained.Encode(text), loaded.Encode(text));
            Assert.Equal(trained.Encode(text, parseSpecial: true), loaded.Encode(text, parseSpecial: true));
        }

        Assert.Equal(trained.VocabSize, loaded.VocabSize);
        Assert.Equal(trained.SpecialIds, loaded.SpecialIds);
        Assert.Equal(trained.EosId, loaded.EosId);
        Assert.Equal(trained.PadId, loaded.PadId);
        Assert.Equal(trained.ChatTemplate, loaded.ChatTemplate);
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "tokenizer.json")), SaveAndRead(loaded).Json);
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
    }

    [Fact]
    public void Loading_the_tokenizer_json_file_alone_also_finds_the_config_beside_it()
    {
        TextTokenizer trained = BpeTrainer.Train(TrainingCorpus.Documents(20_000), new BpeTrainerOptions(VocabSize: 400, ModelMaxLength: 512));
        using TempFolder temp = new();
        trained.Save(temp.Path);

        TextTokenizer loaded = TextTokenizer.Load(Path.Combine(temp.Path, "tokenizer.json"));

        Assert.Equal(512, loaded.ModelMaxLength);
        Assert.Equal(trained.PadId, loaded.PadId);
    }

    [Fact]
    public void Progress_goes_from_zero_to_one()
    {
        List<double> reports = [];
        BpeTrainer.Train(TrainingCorpus.Documents(50_000), new BpeTrainerOptions(VocabSize: 500), new SynchronousProgress(reports.Add));

        Assert.Equal(0, reports[0]);
        Assert.Equal(1, reports[^1]);
        Assert.True(reports.Count > 10, $"only {reports.Count} reports");
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.First <= p.Second), "progress went backwards");
    }

    [Theory]
    [InlineData(259, 2, null, "<|endoftext|>")] // 256 + 4 special tokens do not fit
    [InlineData(1000, 0, null, "<|endoftext|>")]
    [InlineData(1000, 2, "<s>", "<|endoftext|>")] // bos not among the special tokens
    [InlineData(1000, 2, null, "</s>")]
    public void Inconsistent_options_are_rejected(int vocabSize, int minFrequency, string? bos, string? eos)
    {
        BpeTrainerOptions options = new(VocabSize: vocabSize, MinFrequency: minFrequency, BosToken: bos, EosToken: eos);

        Assert.ThrowsAny<ArgumentException>(() => BpeTrainer.Train(["some text"], options));
    }

    [Fact]
    public void Special_tokens_must_be_valid_text()
    {
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions(SpecialTokens: ["<|endoftext|>", "<|pad|>", "bad\uD800"])));
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions(SpecialTokens: ["<|endoftext|>", "<|pad|>", "<|pad|>"])));
    }

    [Fact]
    public void Custom_special_tokens_get_the_last_ids_in_order()
    {
        BpeTrainerOptions options = new(VocabSize: 300, SpecialTokens: ["<s>", "</s>"], BosToken: "<s>", EosToken: "</s>", PadToken: null);

        TextTokenizer trained = BpeTrainer.Train(TrainingCorpus.Documents(10_000), options);

        Assert.Equal(298, trained.BosId);
        Assert.Equal(299, trained.EosId);
        Assert.Null(trained.PadId);
    }

    internal static (byte[] Json, byte[] Config) SaveAndRead(TextTokenizer tokenizer)
    {
        using TempFolder folder = new();
        tokenizer.Save(folder.Path);
        return (File.ReadAllBytes(System.IO.Path.Combine(folder.Path, "tokenizer.json")), File.ReadAllBytes(System.IO.Path.Combine(folder.Path, "tokenizer_config.json")));
    }

    private static List<string[]> SavedMergeStrings(TextTokenizer tokenizer)
    {
        using JsonDocument json = JsonDocument.Parse(SaveAndRead(tokenizer).Json);
        return [.. json.RootElement.GetProperty("model").GetProperty("merges").EnumerateArray().Select(m => m.GetString()!.Split(' '))];
    }

    private static List<(byte[], byte[])> SavedMerges(TextTokenizer tokenizer) =>
        [.. SavedMergeStrings(tokenizer).Select(m => (Unspell(m[0]), Unspell(m[1])))];

    // GPT-2's bytes_to_unicode, restated here so the test does not lean on the code under test.
    private static byte[] Unspell(string token)
    {
        Dictionary<char, byte> map = [];
        int next = 256;
        for (int b = 0; b < 256; b++)
            map[(b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255) ? (char)b : (char)next++] = (byte)b;
        return [.. token.Select(c => map[c])];
    }

    private static string Show((byte[] Left, byte[] Right) merge) =>
        $"[{Convert.ToHexString(merge.Left)} + {Convert.ToHexString(merge.Right)}]";

    // The textbook algorithm: count every pair in every word from scratch, merge the most frequent (ties: smallest left
    // id, then right id; ids in creation order, an existing byte string keeps its id), repeat.
    private static List<(byte[], byte[])> NaiveMerges(List<string> corpus, int maxTokens, int minFrequency)
    {
        Regex gpt2 = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");
        Dictionary<string, long> counts = new(StringComparer.Ordinal);
        foreach (string doc in corpus)
        {
            foreach (string part in doc.Split(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"], StringSplitOptions.None))
            {
                foreach (Match m in gpt2.Matches(part))
                    counts[m.Value] = counts.GetValueOrDefault(m.Value) + 1;
            }
        }

        List<byte[]> tokens = [.. Enumerable.Range(0, 256).Select(b => new[] { (byte)b })];
        List<(List<int> Symbols, long Count)> words = [.. counts.Select(kv => (Encoding.UTF8.GetBytes(kv.Key).Select(b => (int)b).ToList(), kv.Value))];
        List<(byte[], byte[])> merges = [];
        while (tokens.Count < 256 + maxTokens)
        {
            Dictionary<(int, int), long> pairs = [];
            foreach ((List<int> symbols, long count) in words)
            {
                for (int i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            }

            if (pairs.Count == 0)
                break;
            var best = pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1).ThenBy(p => p.Key.Item2).First();
            if (best.Value < minFrequency)
                break;
            (int left, int right) = best.Key;
            byte[] merged = [.. tokens[left], .. tokens[right]];
            merges.Add((tokens[left], tokens[right]));
            int id = tokens.FindIndex(t => t.SequenceEqual(merged));
            if (id < 0)
            {
                id = tokens.Count;
                tokens.Add(merged);
            }

            foreach ((List<int> symbols, _) in words)
            {
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    if (symbols[i] == left && symbols[i + 1] == right)
                    {
                        symbols[i] = id;
                        symbols.RemoveAt(i + 1);
                    }
                }
            }
        }

        return merges;
    }

    private sealed class SynchronousProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
