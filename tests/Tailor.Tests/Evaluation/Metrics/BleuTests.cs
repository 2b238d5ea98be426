using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Metrics;

// Expected values are sacreBLEU's own published test values. Each block names the file and test it comes from in
// mjpost/sacrebleu at tag v2.6.0; tolerances are the ones those tests use.
public class BleuTests
{
    // mjpost/sacrebleu test/test_bleu.py: _hyps and _refs (the README example), two reference streams.
    private static readonly string[] Hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];

    private static readonly IReadOnlyList<string?>[] Refs =
    [
        ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
    ];

    // sacrebleu.raw_corpus_bleu(h, r, smooth_value): no tokenization, floor smoothing, effective order.
    private static BleuScore RawCorpusBleu(string[] hyps, string[] refs, double? smoothValue = 0.1) =>
        Bleu.Corpus(hyps, [refs], new BleuOptions(Tokenize: "none", Smooth: "floor", SmoothValue: smoothValue, EffectiveOrder: true));

    // mjpost/sacrebleu test/test_bleu.py, test_raw_bleu (test_raw_bleu_cases), EPSILON = 1e-8 on score / 100.
    [Theory]
    [InlineData(new[] { "this is a test", "another test" }, new[] { "ref1", "ref2" }, 0.0)]
    [InlineData(new[] { "this is a test" }, new[] { "this is a test" }, 1.0)]
    [InlineData(new[] { "this is a fest" }, new[] { "this is a test" }, 0.223606797749979)]
    public void Raw_corpus_bleu_matches_sacrebleu_test_raw_bleu(string[] hyps, string[] refs, double expected)
    {
        Assert.Equal(expected, RawCorpusBleu(hyps, refs, 0.01).Score / 100, 1e-8);
    }

    // mjpost/sacrebleu test/test_bleu.py, test_corpus_bleu (test_corpus_bleu_cases), EPSILON = 1e-8.
    [Theory]
    [InlineData("13a", "exp", 48.530827)] // {} (defaults) and {'tokenize': '13a'}
    [InlineData("none", "exp", 49.1919566)]
    [InlineData("intl", "exp", 43.91623493)]
    [InlineData("13a", "none", 48.530827)]
    public void Corpus_bleu_matches_sacrebleu_test_corpus_bleu(string tokenize, string smooth, double expected)
    {
        Assert.Equal(expected, Bleu.Corpus(Hyps, Refs, new BleuOptions(Tokenize: tokenize, Smooth: smooth)).Score, 1e-8);
    }

    // mjpost/sacrebleu test/test_bleu.py, test_corpus_bleu: ('', '', '') -> 0.0 (empty hypotheses are kept).
    [Fact]
    public void Corpus_bleu_of_empty_hypotheses_is_zero()
    {
        Assert.Equal(0.0, Bleu.Corpus(["", "", ""], Refs).Score, 1e-8);
        Assert.True(Bleu.Corpus(Hyps, Refs).Score > 0); // while the same references do score the real outputs
    }

    // mjpost/sacrebleu test/test_bleu.py, test_effective_order (raw_corpus_bleu with .01), EPSILON = 1e-8.
    [Theory]
    [InlineData("test", "a test", 0.3678794411714425)]
    [InlineData("a test", "a test", 1.0)]
    [InlineData("a little test", "a test", 0.03218297948685433)]
    public void Effective_order_matches_sacrebleu_test_effective_order(string hyp, string reference, double expected)
    {
        Assert.Equal(expected, RawCorpusBleu([hyp], [reference], 0.01).Score / 100, 1e-8);
    }

    // mjpost/sacrebleu test/test_bleu.py, test_statistics (test_case_statistics).
    [Fact]
    public void Counts_and_totals_match_sacrebleu_test_statistics()
    {
        BleuScore s = RawCorpusBleu(["am I am a character sequence"], ["I am a symbol string sequence a a"], 0.01);
        Assert.Equal([4L, 2, 1, 0], s.Counts);
        Assert.Equal([6L, 5, 4, 3], s.Totals);
    }

    // mjpost/sacrebleu test/test_bleu.py, test_scoring: compute_bleu([9,7,5,3], [10,8,6,4], 11, 11) with
    // compute_bleu's own default smooth_method='none'.
    [Fact]
    public void Compute_from_statistics_matches_sacrebleu_test_scoring()
    {
        BleuScore s = Bleu.Compute([9, 7, 5, 3], [10, 8, 6, 4], 11, 11, new BleuOptions(Smooth: "none"));
        Assert.Equal(0.8375922397, s.Score / 100, 1e-8);
    }

    // mjpost/sacrebleu test/test_bleu.py, test_offset (test_case_offset): floor 0.0 gives 0; floor with the default
    // value (None, or nothing) gives 0.1555722182.
    [Fact]
    public void Floor_smoothing_matches_sacrebleu_test_offset()
    {
        string[] hyp = ["am I am a character sequence"];
        string[] reference = ["I am a symbol string sequence a a"];
        Assert.Equal(0.0, RawCorpusBleu(hyp, reference, 0.0).Score / 100, 1e-8);
        Assert.Equal(0.1555722182, RawCorpusBleu(hyp, reference, null).Score / 100, 1e-8);
        Assert.Equal(0.1555722182, RawCorpusBleu(hyp, reference).Score / 100, 1e-8);
    }

    // mjpost/sacrebleu test/test_bleu.py, test_degenerate_statistics (test_case_degenerate_stats): compute_bleu with
    // floor smoothing at the given offset; the test asserts exact equality with 0.0.
    [Theory]
    [InlineData(new long[] { 0, 0, 0, 0 }, new long[] { 4, 4, 2, 1 }, 0, 1, 0.0)]
    [InlineData(new long[] { 0, 0, 0, 0 }, new long[] { 10, 11, 12, 0 }, 14, 10, 0.0)]
    [InlineData(new long[] { 0, 0, 0, 0 }, new long[] { 0, 0, 0, 0 }, 0, 0, 0.0)]
    [InlineData(new long[] { 6, 5, 4, 0 }, new long[] { 6, 5, 4, 3 }, 6, 6, 0.0)]
    [InlineData(new long[] { 0, 0, 0, 0 }, new long[] { 0, 0, 0, 0 }, 0, 0, 0.1)]
    [InlineData(new long[] { 0, 0, 0, 0 }, new long[] { 0, 0, 0, 0 }, 1, 5, 0.01)]
    public void Degenerate_statistics_score_exactly_zero(long[] correct, long[] total, long sysLen, long refLen, double offset)
    {
        BleuScore s = Bleu.Compute(correct, total, sysLen, refLen, new BleuOptions(Smooth: "floor", SmoothValue: offset));
        Assert.Equal(0.0, s.Score);
    }

    // mjpost/sacrebleu test/test_bleu.py, test_max_ngram_order: f"{score:.2f}" for orders 1..6.
    [Theory]
    [InlineData(1, "77.65")]
    [InlineData(2, "60.50")]
    [InlineData(3, "53.93")]
    [InlineData(4, "48.53")]
    [InlineData(5, "46.14")]
    [InlineData(6, "43.28")]
    public void Max_ngram_order_matches_sacrebleu_test_max_ngram_order(int order, string expected)
    {
        BleuScore s = Bleu.Corpus(Hyps, Refs, new BleuOptions(MaxNgramOrder: order));
        Assert.Equal(expected, s.Format(withSignature: false).Split(' ')[2]);
    }

    // mjpost/sacrebleu README.md, "Using SacreBLEU from Python": the printed score line and signature (the README
    // shows version:2.0.0; the rest of the line is unchanged in 2.6.0).
    [Fact]
    public void Readme_example_prints_the_same_line_and_signature()
    {
        BleuScore s = Bleu.Corpus(Hyps, Refs);
        Assert.Equal("BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)", s.Format(withSignature: false));
        Assert.Equal("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", s.Signature);
        Assert.Equal(17, s.SysLen);
        Assert.Equal(18, s.RefLen);
    }

    // mjpost/sacrebleu README.md, "Variable Number of References": dropping the first reference of segment 1 gives
    // BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19) and nrefs:var. In
    // v2.6.0's code (Metric._cache_references) only None is dropped; '' stays a zero-length reference, which
    // scores the same here but keeps nrefs:2.
    [Fact]
    public void Readme_variable_reference_example_matches()
    {
        const string Expected = "BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)";
        IReadOnlyList<string?>[] withNull = [[null, Refs[0][1], Refs[0][2]], Refs[1]];
        BleuScore dropped = Bleu.Corpus(Hyps, withNull);
        Assert.Equal(Expected, dropped.Format(withSignature: false));
        Assert.Equal("nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", dropped.Signature);

        IReadOnlyList<string?>[] withEmpty = [["", Refs[0][1], Refs[0][2]], Refs[1]];
        BleuScore empty = Bleu.Corpus(Hyps, withEmpty);
        Assert.Equal(Expected, empty.Format(withSignature: false));
        Assert.StartsWith("nrefs:2|", empty.Signature, StringComparison.Ordinal);
    }

    // mjpost/sacrebleu test/test_sentence_bleu.py: the #98 example, sentence BLEU with effective order, EPSILON 1e-3.
    // test_compat_sentence_bleu and test_api_sentence_bleu assert the same values through both APIs.
    private const string Ref98 = "producţia de zahăr brut se exprimă în zahăr alb;";
    private const string Sys98 = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";

    [Theory]
    [InlineData("exp", null, false, "13a", 8.493)]
    [InlineData("none", null, false, "13a", 0.0)]
    [InlineData("floor", null, false, "13a", 4.51688)]
    [InlineData("floor", 0.1, false, "13a", 4.51688)]
    [InlineData("floor", 0.5, false, "13a", 10.10)]
    [InlineData("add-k", null, false, "13a", 14.882)]
    [InlineData("add-k", 1.0, false, "13a", 14.882)]
    [InlineData("add-k", 2.0, false, "13a", 21.389)]
    [InlineData("exp", null, false, "none", 7.347)]
    [InlineData("exp", null, false, "intl", 8.493)]
    [InlineData("exp", null, false, "char", 40.8759)]
    [InlineData("exp", null, true, "char", 42.0267)]
    public void Sentence_bleu_matches_sacrebleu_test_sentence_bleu(
        string smooth, double? value, bool lowercase, string tokenize, double expected)
    {
        var options = new BleuOptions(Tokenize: tokenize, Smooth: smooth, SmoothValue: value, Lowercase: lowercase);
        Assert.Equal(expected, Bleu.Sentence(Sys98, [Ref98], options).Score, 1e-3);
        // The same through explicit effective order, as BLEU(effective_order=True).sentence_score.
        Assert.Equal(expected, Bleu.Sentence(Sys98, [Ref98], options with { EffectiveOrder = true }).Score, 1e-3);
    }

    // mjpost/sacrebleu test/test_sentence_bleu.py, test_api_sentence_bleu_zero: the #141 example has no matching
    // n-gram at all, so every smoothing gives 0.
    [Theory]
    [InlineData("exp", null)]
    [InlineData("none", null)]
    [InlineData("floor", null)]
    [InlineData("floor", 0.1)]
    [InlineData("add-k", null)]
    [InlineData("add-k", 1.0)]
    public void Sentence_bleu_without_any_match_is_zero(string smooth, double? value)
    {
        BleuScore s = Bleu.Sentence("this is a cat", ["okay thanks"], new BleuOptions(Smooth: smooth, SmoothValue: value));
        Assert.Equal(0.0, s.Score, 1e-3);
    }

    [Fact]
    public void Sentence_defaults_to_effective_order_and_says_so_in_the_signature()
    {
        Assert.Equal("nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:2.6.0", Bleu.Sentence("a test", ["a test"]).Signature);
        Assert.Equal(100.0, Bleu.Sentence("a test", ["a test"]).Score, 1e-9);
        // Without effective order a two-token hypothesis has no 3- or 4-grams, so BLEU is 0 (see §1.1 of anchors-eval).
        Assert.Equal(0.0, Bleu.Sentence("a test", ["a test"], new BleuOptions(EffectiveOrder: false)).Score, 1e-9);
    }

    [Fact]
    public void Signature_shows_smoothing_value_with_two_decimals()
    {
        Assert.Equal("nrefs:1|case:lc|eff:no|tok:intl|smooth:floor[0.10]|version:2.6.0",
            Bleu.Signature(new BleuOptions(Tokenize: "intl", Smooth: "floor", Lowercase: true), "1"));
        Assert.Equal("nrefs:3|case:mixed|eff:yes|tok:char|smooth:add-k[1.00]|version:2.6.0",
            Bleu.Signature(new BleuOptions(Tokenize: "char", Smooth: "add-k", EffectiveOrder: true), "3"));
    }

    [Fact]
    public void Misaligned_reference_stream_is_rejected_with_its_index()
    {
        var ex = Assert.Throws<ArgumentException>(() => Bleu.Corpus(Hyps, [Refs[0], ["only one"]]));
        Assert.Contains("referenceStreams[1]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_tokenizer_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => Bleu.Corpus(Hyps, Refs, new BleuOptions(Tokenize: "zh")));
    }

    // Examples checked against sacreBLEU 2.6.0's 13a tokenizer (the outputs it prints for these inputs).
    [Theory]
    [InlineData("It wasn't surprising.", "It wasn't surprising .")]
    [InlineData("Hello, world! It's 3.5 (approx.) -- e.g. U.S.A.", "Hello , world ! It's 3.5 ( approx . ) -- e . g . U . S . A .")]
    [InlineData("a&amp;b &lt;x&gt; 1,000.50 well-known 2-3", "a & b < x > 1,000.50 well-known 2 - 3")]
    public void Tokenizer_13a_splits_like_mteval_v13a(string input, string expected)
    {
        Assert.Equal(expected, BleuTokenizers.Tokenize13a(input));
    }

}
