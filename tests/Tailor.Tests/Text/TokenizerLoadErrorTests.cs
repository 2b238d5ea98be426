using System.Text;
using System.Text.Json.Nodes;
using Tailor.Text;
using Xunit.Sdk;

namespace Tailor.Tests.Text;

/// <summary>Bad tokenizer files must fail with a <see cref="TokenizerFormatException"/> that names file and field.</summary>
public class TokenizerLoadErrorTests
{
    private static readonly Lazy<(byte[] Json, byte[] Config)> Small = new(() =>
        BpeTrainerTests.SaveAndRead(BpeTrainer.Train(TrainingCorpus.Documents(20_000), new BpeTrainerOptions(VocabSize: 320))));

    [Fact]
    public void A_missing_path_is_reported_with_the_path()
    {
        using TempFolder temp = new();
        string path = Path.Combine(temp.Path, "nope", "tokenizer.json");

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.Load(path));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_tokenizer_json_is_reported()
    {
        using TempFolder temp = new();

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.Load(temp.Path));

        Assert.Contains("tokenizer.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_json_is_reported_with_its_position()
    {
        byte[] json = Small.Value.Json[..(Small.Value.Json.Length / 2)];

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => Load(json));

        Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal);
        Assert.Contains("line", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Unigram")]
    [InlineData("WordPiece")]
    [InlineData("WordLevel")]
    public void Models_other_than_bpe_are_rejected_by_name(string type)
    {
        JsonObject root = Root();
        root["model"]!["type"] = type;

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => Load(root));

        Assert.Equal("model.type", e.Field);
        Assert.Contains(type, e.Message, StringComparison.Ordinal);
        Assert.Contains("byte-level BPE", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_merge_with_an_unknown_token_names_the_merge()
    {
        JsonObject root = Root();
        root["model"]!["merges"]!.AsArray()[3] = "Ġnotatoken x";

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => Load(root));

        Assert.Equal("model.merges[3]", e.Field);
        Assert.Contains("Ġnotatoken", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_merge_whose_result_is_not_in_the_vocabulary_is_rejected()
    {
        JsonObject root = Root();
        root["model"]!["merges"]!.AsArray()[0] = "q z";

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => Load(root));

        Assert.Equal("model.merges[0]", e.Field);
        Assert.Contains("\"qz\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sentencepiece_style_bpe_is_rejected()
    {
        JsonObject root = Root();
        root["model"]!["byte_fallback"] = true;

        Assert.Equal("model.byte_fallback", Assert.Throws<TokenizerFormatException>(() => Load(root)).Field);
    }

    [Fact]
    public void A_vocabulary_missing_a_byte_is_rejected()
    {
        JsonObject root = Root();
        root["model"]!["vocab"]!.AsObject().Remove("Ā"); // byte 0x00

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => Load(root));

        Assert.Contains("0x00", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_naming_an_unknown_eos_token_is_rejected()
    {
        JsonObject config = JsonNode.Parse(Small.Value.Config)!.AsObject();
        config["eos_token"] = "</nope>";

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() =>
            TextTokenizer.Load(new MemoryStream(Small.Value.Json), new MemoryStream(Encoding.UTF8.GetBytes(config.ToJsonString()))));

        Assert.Equal("eos_token", e.Field);
    }

    [Fact]
    public void Ids_beyond_the_supported_range_are_rejected()
    {
        // A huge id would make every consumer size its embedding matrix by it.
        JsonObject root = Root();
        root["added_tokens"]!.AsArray()[0]!["id"] = int.MaxValue;

        Assert.Equal("added_tokens[0].id", Assert.Throws<TokenizerFormatException>(() => Load(root)).Field);
    }

    [Fact]
    public void An_unsupported_pre_tokenizer_is_rejected_by_name()
    {
        JsonObject root = Root();
        root["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁" };

        TokenizerFormatException e = Assert.Throws<TokenizerFormatException>(() => Load(root));

        Assert.Equal("pre_tokenizer.type", e.Field);
        Assert.Contains("Metaspace", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_split_pattern_that_is_not_a_regex_is_rejected()
    {
        JsonObject root = Root();
        root["pre_tokenizer"] = JsonNode.Parse("""
            {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false},
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
            """);

        Assert.Equal("pre_tokenizer.pretokenizers[0].pattern.Regex", Assert.Throws<TokenizerFormatException>(() => Load(root)).Field);
    }

    [Fact]
    public void A_lone_surrogate_escape_in_a_string_is_rejected()
    {
        string text = Encoding.UTF8.GetString(Small.Value.Json).Replace("\"<|pad|>\"", "\"<|pad|>\\ud800\"", StringComparison.Ordinal);

        Assert.Throws<TokenizerFormatException>(() => Load(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>
    /// Thousands of damaged files: random byte edits, and JSON values swapped for values of other types. Each load must
    /// succeed (and then encode and decode) or throw TokenizerFormatException, never anything else and never hang.
    /// </summary>
    [Fact]
    public void Mutated_files_load_or_fail_cleanly()
    {
        Random random = new(4242);
        byte[] json = Small.Value.Json;
        byte[] config = Small.Value.Config;
        JsonNode[] replacements =
        [
            JsonValue.Create(-1)!, JsonValue.Create(int.MaxValue)!, JsonValue.Create(1e300)!, JsonValue.Create("")!,
            JsonValue.Create(true)!, new JsonArray(), new JsonObject(), JsonValue.Create("Ġ")!,
            JsonValue.Create("a b c")!, new JsonArray(JsonValue.Create("a"), JsonValue.Create("b"), JsonValue.Create("c")),
        ];

        int loaded = 0;
        int rejected = 0;
        for (int i = 0; i < 1500; i++)
        {
            byte[] mutatedJson = json;
            byte[] mutatedConfig = config;
            switch (i % 3)
            {
                case 0:
                    mutatedJson = MutateBytes(json, random);
                    break;
                case 1:
                    mutatedJson = MutateTree(json, random, replacements);
                    break;
                default:
                    mutatedConfig = random.Next(2) == 0 ? MutateBytes(config, random) : MutateTree(config, random, replacements);
                    break;
            }

            try
            {
                TextTokenizer t = TextTokenizer.Load(new MemoryStream(mutatedJson), new MemoryStream(mutatedConfig), $"mutation {i}");
                IReadOnlyList<int> ids = t.Encode("Hello <|im_start|> wörld 😀 123\n", parseSpecial: true);
                _ = t.Decode(ids);
                _ = t.Decode([-1, 0, t.VocabSize, int.MaxValue]);
                loaded++;
            }
            catch (TokenizerFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                throw new XunitException($"mutation {i} threw {e.GetType().Name} instead of TokenizerFormatException: {e}");
            }
        }

        Assert.True(rejected > 100 && loaded > 100, $"loaded {loaded}, rejected {rejected}: the mutations should produce both");
    }

    private static JsonObject Root() => JsonNode.Parse(Small.Value.Json)!.AsObject();

    private static TextTokenizer Load(JsonObject root) => Load(Encoding.UTF8.GetBytes(root.ToJsonString()));

    private static TextTokenizer Load(byte[] json) => TextTokenizer.Load(new MemoryStream(json), new MemoryStream(Small.Value.Config), "test tokenizer.json");

    private static byte[] MutateBytes(byte[] source, Random random)
    {
        List<byte> bytes = [.. source];
        int edits = random.Next(1, 4);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(4))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.RemoveAt(at); break;
                case 2: bytes.Insert(at, (byte)"{}[],:\"\\0-e"[random.Next(11)]); break;
                default: bytes.RemoveRange(at, bytes.Count - at); break;
            }
        }

        return [.. bytes];
    }

    // Replaces one value somewhere in the document with a value of a different kind, or deletes a property.
    private static byte[] MutateTree(byte[] source, Random random, JsonNode[] replacements)
    {
        JsonNode root = JsonNode.Parse(source)!;
        List<JsonNode> nodes = [];
        Collect(root, nodes, random);
        JsonNode target = nodes[random.Next(nodes.Count)];
        JsonNode? parent = target.Parent;
        if (parent is null)
            return source;
        JsonNode replacement = replacements[random.Next(replacements.Length)].DeepClone();
        if (parent is JsonObject obj)
        {
            string key = target.GetPropertyName();
            if (random.Next(4) == 0)
                obj.Remove(key);
            else
                obj[key] = replacement;
        }
        else if (parent is JsonArray array)
        {
            array[target.GetElementIndex()] = replacement;
        }

        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    // Every node of the small structural parts, and a sample of the big vocab/merges collections.
    private static void Collect(JsonNode node, List<JsonNode> nodes, Random random)
    {
        nodes.Add(node);
        IEnumerable<JsonNode?> children = node switch
        {
            JsonObject o => o.Select(kv => kv.Value),
            JsonArray a => a,
            _ => [],
        };
        List<JsonNode> list = [.. children.OfType<JsonNode>()];
        foreach (JsonNode child in list.Count > 40 ? list.OrderBy(_ => random.Next()).Take(20) : list)
            Collect(child, nodes, random);
    }
}
