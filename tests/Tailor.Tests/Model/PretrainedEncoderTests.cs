using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tailor.Model;
using Tailor.Text;

namespace Tailor.Tests.Model;

/// <summary>
/// The two real pretrained encoders, converted from their NuGet packages' ONNX files, against ONNX Runtime running the
/// original model.onnx: the same token ids go to both; Tailor's sentence embedding and the one pooled from ONNX
/// Runtime's last_hidden_state (the model's own pooling and normalisation) must have cosine ≥ 0.9999 on every text.
/// </summary>
[Collection("TorchSharp")]
public sealed class PretrainedEncoderTests : IClassFixture<PretrainedEncoderTests.Converted>
{
    /// <summary>Texts of many kinds: short, long, punctuation, digits, accents, CJK, emoji, mixed case, whitespace runs.</summary>
    public static readonly string[] Texts =
    [
        "some text", "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
        "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
        "The new movie is awesome!", "The cat sits outside.", "I love pasta, but I hate olives...",
        "Großartig! Crème brûlée à la française, naïve café.", "東京は日本の首都です。", "Ünïcödé ßtrings: ñ, ø, å, æ",
        "What's the capital of France? It's Paris.", "Prices rose 3.5% in Q2 2024 to $1,299.99 per unit.",
        "e-mail me at someone@example.com or visit https://example.org/path?q=1", "🙂 emoji are [UNK] to BERT 🚀",
        "   leading and   multiple   spaces\tand\ttabs\nand newlines   ", "ALL CAPS SHOUTING ABOUT NOTHING",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "This battery lasts forever and the screen is gorgeous, highly recommended.",
        "Terrible customer service; the phone broke after two days and nobody answered.",
        "Un texte en français pour voir ce qui se passe.", "Ein deutscher Satz mit Umlauten: Über, Äpfel, Öl.",
        "x", "?!", "1 2 3 4 5 6 7 8 9 10",
        string.Join(" ", Enumerable.Repeat("A long review that goes on and on about the plot, the actors and the music.", 12)),
        "Snowflake's arctic-embed models are retrieval embedders.", "Represent this sentence for searching relevant passages: where do penguins live?",
        "Mr. O'Neil's co-worker didn't say \"hello\" (or anything) — weird.", "naïve façade résumé coöperate",
    ];

    /// <summary>Both models converted once into a temporary folder (not the user's cache).</summary>
    public sealed class Converted : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("tailor-pretrained-").FullName;

        public string Folder(PretrainedEncoderSpec spec)
        {
            string folder = Path.Combine(Root, spec.Name);
            if (!Directory.Exists(folder))
            {
                string dll = PretrainedEncoders.FindAssembly(spec);
                PretrainedEncoders.Convert(spec, PretrainedEncoders.ReadResource(dll, spec.ResourcePrefix + "model.onnx"),
                    PretrainedEncoders.ReadResource(dll, spec.ResourcePrefix + "vocab.txt"), folder, dll);
            }
            return folder;
        }

        public void Dispose() => Directory.Delete(Root, recursive: true);
    }

    private readonly Converted _converted;

    public PretrainedEncoderTests(Converted converted) => _converted = converted;

    [Theory]
    [InlineData("all-MiniLM-L6-v2")]
    [InlineData("snowflake-arctic-embed-xs")]
    public void Embeddings_equal_onnx_runtime_on_the_original_model(string name)
    {
        var spec = PretrainedEncoders.Find(name)!;
        using var encoder = PretrainedEncoder.Load(_converted.Folder(spec));
        Assert.Equal(spec.Pooling, encoder.Pooling.Mode);
        Assert.True(encoder.Pooling.Normalize);
        var tailor = encoder.Embed(Texts);

        byte[] onnx = PretrainedEncoders.ReadResource(PretrainedEncoders.FindAssembly(spec), spec.ResourcePrefix + "model.onnx");
        using var session = new InferenceSession(onnx);
        double worst = 1;
        for (int i = 0; i < Texts.Length; i++)
        {
            var ids = encoder.Tokenizer.Encode(Texts[i], encoder.MaxTokens).Ids;
            var reference = OnnxRuntimeEmbedding(session, ids, spec.Pooling);
            double cos = Cosine(reference, tailor[i]);
            worst = Math.Min(worst, cos);
            Assert.True(cos >= 0.9999, $"{name}: text {i} '{Texts[i][..Math.Min(40, Texts[i].Length)]}' cosine {cos:F6} < 0.9999");
            Assert.Equal(1.0, Math.Sqrt(tailor[i].Sum(x => (double)x * x)), 4);
        }
        Assert.True(worst > 0.9999);
    }

    [Fact]
    public void Wordpiece_ids_equal_microsoft_ml_tokenizers_bert_tokenizer_on_ascii_text()
    {
        // An independent WordPiece implementation. Accent stripping is left out of the comparison: in .NET's invariant
        // globalization mode (this build's) Microsoft.ML.Tokenizers cannot decompose accents (nor kana's voicing marks,
        // which uncased BERT strips too); Tailor's decomposition is the NFC code's, tested against Unicode's conformance file.
        var spec = PretrainedEncoders.Find("all-MiniLM-L6-v2")!;
        string folder = _converted.Folder(spec);
        var ours = EncoderTokenizer.Load(folder);
        var theirs = Microsoft.ML.Tokenizers.BertTokenizer.Create(Path.Combine(folder, "vocab.txt"));
        // Microsoft.ML.Tokenizers also splits only Unicode punctuation, not ASCII symbols such as $ + = < > ^ ` | ~,
        // which HF's BertPreTokenizer splits (asserted separately below), and it deletes tabs and newlines where HF's
        // clean_text turns them into spaces; texts with those are left out here.
        int compared = 0;
        foreach (var text in Texts.Append("a [SEP] b [MASK] c").Where(t => t.All(c => c is >= ' ' and < '\u007f' && "$+<=>^`|~".IndexOf(c) < 0)))
        {
            var expected = theirs.EncodeToIds(text, addSpecialTokens: true, considerPreTokenization: true, considerNormalization: true);
            Assert.Equal(expected, ours.Encode(text, 100000).Ids);
            compared++;
        }
        Assert.True(compared > 20);
    }

    [Fact]
    public void Accents_are_stripped_and_text_lowercased_as_uncased_bert_does()
    {
        var spec = PretrainedEncoders.Find("all-MiniLM-L6-v2")!;
        var tok = (WordPieceTokenizer)EncoderTokenizer.Load(_converted.Folder(spec));
        Assert.Equal(tok.Tokenize("creme brulee a la francaise"), tok.Tokenize("Crème Brûlée À la Française"));
        Assert.Equal(tok.Tokenize("naive cafe"), tok.Tokenize("nai\u0308ve cafe\u0301"));
        Assert.Equal(["東", "京"], tok.Tokenize("東京"));
        Assert.Equal(["don", "'", "t"], tok.Tokenize("don't"));
        Assert.Equal(["[UNK]"], tok.Tokenize("🙂"));
        var withSep = tok.Encode("a [SEP] b", 64).Ids;
        Assert.Equal(2, withSep.Count(id => tok.IdToToken(id) == "[SEP]"));   // the written one and the closing one
        // Every ASCII punctuation or symbol character is a word of its own (HF's is_ascii_punctuation), "$" included.
        Assert.Equal(["$", "5", "+", "3", "=", "8"], tok.Tokenize("$5+3=8"));
        Assert.Equal(tok.Tokenize("spaces and tabs"), tok.Tokenize("spaces\tand\ntabs"));
    }

    [Fact]
    public void A_name_resolves_to_a_cached_folder_converted_once()
    {
        string cache = Path.Combine(_converted.Root, "cache");
        string? before = Environment.GetEnvironmentVariable("TAILOR_CACHE");
        Environment.SetEnvironmentVariable("TAILOR_CACHE", cache);
        try
        {
            var logs = new List<string>();
            string folder = PretrainedEncoders.Resolve("all-MiniLM-L6-v2", logs.Add);
            Assert.Equal(Path.Combine(cache, "models", "all-MiniLM-L6-v2"), folder);
            Assert.Single(logs);
            Assert.Equal(folder, PretrainedEncoders.Resolve("all-MiniLM-L6-v2", logs.Add));
            Assert.Single(logs);
            foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json" })
                Assert.True(File.Exists(Path.Combine(folder, file)), file);
            Assert.Equal("models/none", PretrainedEncoders.Resolve("models/none"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("TAILOR_CACHE", before);
        }
    }

    private static float[] OnnxRuntimeEmbedding(InferenceSession session, int[] ids, string pooling)
    {
        int t = ids.Length;
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.Select(i => (long)i).ToArray(), [1, t])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, t).ToArray(), [1, t])),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[t], [1, t])),
        };
        using var results = session.Run(inputs);
        var hidden = results.First(r => r.Name == "last_hidden_state").AsTensor<float>();   // (1, T, C)
        int c = hidden.Dimensions[2];
        var v = new double[c];
        if (pooling == "cls")
        {
            for (int j = 0; j < c; j++) v[j] = hidden[0, 0, j];
        }
        else
        {
            for (int i = 0; i < t; i++) for (int j = 0; j < c; j++) v[j] += hidden[0, i, j];
            for (int j = 0; j < c; j++) v[j] /= t;
        }
        double norm = Math.Sqrt(v.Sum(x => x * x));
        return [.. v.Select(x => (float)(x / norm))];
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }
}
