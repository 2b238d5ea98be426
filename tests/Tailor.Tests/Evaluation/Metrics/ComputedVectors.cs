using System.Text.Json;
using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Metrics;

/// <summary>
/// Fixtures/metrics/computed_vectors.json: inputs and outputs produced by sacreBLEU 2.6.0, NLTK 3.8 and
/// scikit-learn 1.2.1 themselves (make_vectors.py beside it; provenance "computed", see PROVENANCE.md). They add
/// Unicode, lowercasing, multi-reference, null-reference and option combinations the upstream tests do not cover.
/// </summary>
internal static class ComputedVectors
{
    private static readonly Lazy<JsonElement> Root = new(() =>
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "metrics", "computed_vectors.json");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    });

    public static JsonElement Load() => Root.Value;

    public static string[] Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();

    public static IReadOnlyList<string?>[] Streams(JsonElement array) =>
        array.EnumerateArray()
            .Select(stream => (IReadOnlyList<string?>)stream.EnumerateArray()
                .Select(e => e.ValueKind == JsonValueKind.Null ? null : e.GetString()).ToArray())
            .ToArray();
}

public class ComputedVectorTests
{
    // Scores agree to rounding error; the tokenization and counts must agree exactly.
    private const double Tolerance = 1e-9;

    [Fact]
    public void Bleu_matches_sacrebleu_2_6_0_on_the_computed_vectors()
    {
        var failures = new List<string>();
        int index = 0;
        foreach (JsonElement v in ComputedVectors.Load().GetProperty("bleu").EnumerateArray())
        {
            JsonElement o = v.GetProperty("options");
            var options = new BleuOptions(
                Tokenize: o.GetProperty("tokenize").GetString()!,
                Smooth: o.GetProperty("smooth").GetString()!,
                SmoothValue: o.GetProperty("smooth_value").ValueKind == JsonValueKind.Null ? null : o.GetProperty("smooth_value").GetDouble(),
                Lowercase: o.GetProperty("lowercase").GetBoolean(),
                EffectiveOrder: o.GetProperty("effective_order").ValueKind == JsonValueKind.Null ? null : o.GetProperty("effective_order").GetBoolean(),
                MaxNgramOrder: o.GetProperty("max_ngram_order").GetInt32());
            string[] hyps = ComputedVectors.Strings(v.GetProperty("hypotheses"));
            IReadOnlyList<string?>[] refs = ComputedVectors.Streams(v.GetProperty("references"));

            BleuScore s = v.GetProperty("kind").GetString() == "sentence"
                ? Bleu.Sentence(hyps[0], refs.Select(r => r[0]).ToArray(), options)
                : Bleu.Corpus(hyps, refs, options);

            string where = $"bleu[{index}] ({options})";
            Check(failures, where, "score", v.GetProperty("score").GetDouble(), s.Score);
            Check(failures, where, "bp", v.GetProperty("bp").GetDouble(), s.Bp);
            Same(failures, where, "sys_len", v.GetProperty("sys_len").GetInt64(), s.SysLen);
            Same(failures, where, "ref_len", v.GetProperty("ref_len").GetInt64(), s.RefLen);
            Same(failures, where, "counts", string.Join(",", v.GetProperty("counts").EnumerateArray().Select(e => e.GetInt64())), string.Join(",", s.Counts));
            Same(failures, where, "totals", string.Join(",", v.GetProperty("totals").EnumerateArray().Select(e => e.GetInt64())), string.Join(",", s.Totals));
            double[] precisions = v.GetProperty("precisions").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            for (int n = 0; n < precisions.Length; n++)
                Check(failures, where, $"precision[{n}]", precisions[n], s.Precisions[n]);
            Same(failures, where, "signature", v.GetProperty("signature").GetString()!, s.Signature);
            Same(failures, where, "formatted", v.GetProperty("formatted").GetString()!, s.Format());
            index++;
        }
        Assert.True(index >= 70, $"only {index} BLEU vectors");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void ChrF_matches_sacrebleu_2_6_0_on_the_computed_vectors()
    {
        var failures = new List<string>();
        int index = 0;
        foreach (JsonElement v in ComputedVectors.Load().GetProperty("chrf").EnumerateArray())
        {
            JsonElement o = v.GetProperty("options");
            var options = new ChrFOptions(
                CharOrder: o.GetProperty("char_order").GetInt32(),
                WordOrder: o.GetProperty("word_order").GetInt32(),
                Beta: o.GetProperty("beta").GetDouble(),
                Lowercase: o.GetProperty("lowercase").GetBoolean(),
                Whitespace: o.GetProperty("whitespace").GetBoolean(),
                EpsSmoothing: o.GetProperty("eps_smoothing").GetBoolean());
            string[] hyps = ComputedVectors.Strings(v.GetProperty("hypotheses"));
            IReadOnlyList<string?>[] refs = ComputedVectors.Streams(v.GetProperty("references"));

            ChrFScore s = v.GetProperty("kind").GetString() == "sentence"
                ? ChrF.Sentence(hyps[0], refs.Select(r => r[0]).ToArray(), options)
                : ChrF.Corpus(hyps, refs, options);

            string where = $"chrf[{index}] ({options})";
            Check(failures, where, "score", v.GetProperty("score").GetDouble(), s.Score);
            Same(failures, where, "name", v.GetProperty("name").GetString()!, s.Name);
            Same(failures, where, "signature", v.GetProperty("signature").GetString()!, s.Signature);
            Same(failures, where, "formatted", v.GetProperty("formatted").GetString()!, s.Format());
            index++;
        }
        Assert.True(index >= 40, $"only {index} chrF vectors");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Classification_matches_scikit_learn_on_the_computed_vectors()
    {
        var failures = new List<string>();
        int index = 0;
        foreach (JsonElement v in ComputedVectors.Load().GetProperty("classification").EnumerateArray())
        {
            string[] gold = ComputedVectors.Strings(v.GetProperty("gold"));
            string[] predicted = ComputedVectors.Strings(v.GetProperty("predicted"));
            string[]? labels = v.GetProperty("labels").ValueKind == JsonValueKind.Null ? null : ComputedVectors.Strings(v.GetProperty("labels"));
            string where = $"classification[{index}]";
            Check(failures, where, "accuracy", v.GetProperty("accuracy").GetDouble(), Classification.Accuracy(gold, predicted));
            Check(failures, where, "macro_f1", v.GetProperty("macro_f1").GetDouble(), Classification.MacroF1(gold, predicted, labels));
            index++;
        }
        Assert.True(index >= 12, $"only {index} classification vectors");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static void Check(List<string> failures, string where, string field, double expected, double actual)
    {
        if (!(Math.Abs(expected - actual) <= Tolerance * Math.Max(1, Math.Abs(expected))))
            failures.Add($"{where} {field}: expected {expected:R}, got {actual:R}");
    }

    private static void Same<T>(List<string> failures, string where, string field, T expected, T actual)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            failures.Add($"{where} {field}: expected {expected}, got {actual}");
    }
}
