using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Metrics;

// Expected values are rouge-score 0.1.2's own published test values: rouge_score/rouge_scorer_test.py,
// tokenize_test.py and tokenizers_test.py ("Copyright 2022 The rouge_score Authors"; upstream in
// google-research/google-research under rouge/). The ROUGE-1.5.5 values there are asserted to 5 places
// (assertAlmostEqual(..., 5)), the others to assertAlmostEqual's default 7 places unless the test says otherwise.
// The test data files are copied in Fixtures/metrics/rouge (see PROVENANCE.md).
public class RougeTests
{
    private const double Places7 = 5e-8;
    private const double Places5 = 5e-6;
    private const double Places3 = 5e-4;

    private static string Fixture(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "metrics", "rouge", name));

    // f.readlines(): lines keep their "\n".
    private static string[] Lines(string name) =>
        Fixture(name).Split('\n').SkipLast(1).Select(l => l + "\n").ToArray();

    private static void AssertScore(RougeScore s, double precision, double recall, double f, double tolerance)
    {
        Assert.Equal(precision, s.Precision, tolerance);
        Assert.Equal(recall, s.Recall, tolerance);
        Assert.Equal(f, s.FMeasure, tolerance);
    }

    // rouge_scorer_test.py, testInvalidRougeTypes.
    [Theory]
    [InlineData("rougen")]
    [InlineData("rouge0")]
    [InlineData("rouge10")]
    public void Invalid_rouge_types_are_rejected(string type)
    {
        Assert.Throws<ArgumentException>(() => Rouge.Score("testing one two", "testing", type));
    }

    // rouge_scorer_test.py, testValidRougeTypes.
    [Theory]
    [InlineData("rouge1")]
    [InlineData("rouge9")]
    [InlineData("rougeL")]
    [InlineData("rougeLsum")]
    public void Valid_rouge_types_are_accepted(string type)
    {
        IReadOnlyDictionary<string, RougeScore> all = Rouge.ScoreAll("testing one two", "testing", [type]);
        Assert.Equal([type], all.Keys);
    }

    // rouge_scorer_test.py, testRouge1.
    [Fact]
    public void Rouge1_matches_testRouge1()
    {
        AssertScore(Rouge.Score("testing one two", "testing", "rouge1"), 1, 1.0 / 3, 1.0 / 2, Places7);
    }

    // rouge_scorer_test.py, testRouge1Multi.
    [Fact]
    public void Rouge1_multi_matches_testRouge1Multi()
    {
        AssertScore(Rouge.ScoreMulti(["testing one two"], "testing", "rouge1"), 1, 1.0 / 3, 1.0 / 2, Places7);
    }

    // rouge_scorer_test.py, testRougeAllMulti: each type keeps its own best target.
    [Fact]
    public void Score_multi_picks_the_best_target_per_type_as_testRougeAllMulti()
    {
        IReadOnlyDictionary<string, RougeScore> r =
            Rouge.ScoreMultiAll(["first text", "first something"], "text first", ["rouge1", "rouge2", "rougeL"]);
        Assert.Equal(1, r["rouge1"].FMeasure, Places7);
        Assert.Equal(0, r["rouge2"].FMeasure, Places7);
        Assert.Equal(0.5, r["rougeL"].FMeasure, Places7);
        Assert.Equal(0.5, Rouge.ScoreMulti(["first text", "first something"], "text first", "rougeL").FMeasure, Places7);
    }

    // rouge_scorer_test.py, testRougeEmpty.
    [Theory]
    [InlineData("rouge1")]
    [InlineData("rouge2")]
    [InlineData("rougeL")]
    [InlineData("rougeLsum")]
    public void Empty_prediction_scores_zero(string type)
    {
        AssertScore(Rouge.Score("testing one two", "", type), 0, 0, 0, Places7);
    }

    // rouge_scorer_test.py, testRouge2.
    [Fact]
    public void Rouge2_matches_testRouge2()
    {
        AssertScore(Rouge.Score("testing one two", "testing one", "rouge2"), 1, 1.0 / 2, 2.0 / 3, Places7);
    }

    // rouge_scorer_test.py, testRougeLConsecutive and testRougeLNonConsecutive.
    [Theory]
    [InlineData("testing one")]
    [InlineData("testing two")]
    public void RougeL_matches_testRougeLConsecutive_and_NonConsecutive(string prediction)
    {
        AssertScore(Rouge.Score("testing one two", prediction, "rougeL"), 1, 2.0 / 3, 4.0 / 5, Places7);
    }

    // rouge_scorer_test.py, testMultipleRougeTypes.
    [Fact]
    public void Multiple_types_match_testMultipleRougeTypes()
    {
        IReadOnlyDictionary<string, RougeScore> r = Rouge.ScoreAll("testing one two", "testing one", ["rouge1", "rougeL"]);
        Assert.Equal(["rouge1", "rougeL"], r.Keys.Order(StringComparer.Ordinal));
        AssertScore(r["rouge1"], 1, 2.0 / 3, 4.0 / 5, Places7);
        AssertScore(r["rougeL"], 1, 2.0 / 3, 4.0 / 5, Places7);
    }

    // rouge_scorer_test.py, testRouge1AgainstRouge155, testRouge1AgainstRouge155WithStemming,
    // testRouge2AgainstRouge155, testRouge2AgainstRouge155WithStemming, testRougeLAgainstRouge155
    // (targets/predictions from testdata/target.txt and prediction.txt; values from ROUGE-1.5.5 runs).
    [Theory]
    [InlineData("rouge1", false, 0, 0.40741, 0.68750, 0.51163)]
    [InlineData("rouge1", false, 1, 0.40476, 0.65385, 0.50000)]
    [InlineData("rouge1", true, 0, 0.40741, 0.68750, 0.51163)]
    [InlineData("rouge1", true, 1, 0.42857, 0.69231, 0.52941)]
    [InlineData("rouge2", false, 0, 0.30769, 0.53333, 0.39024)]
    [InlineData("rouge2", false, 1, 0.29268, 0.48000, 0.36364)]
    [InlineData("rouge2", true, 0, 0.30769, 0.53333, 0.39024)]
    [InlineData("rouge2", true, 1, 0.29268, 0.48000, 0.36364)]
    [InlineData("rougeL", false, 0, 0.40741, 0.68750, 0.51163)]
    [InlineData("rougeL", false, 1, 0.40476, 0.65385, 0.50000)]
    public void Matches_rouge155_on_the_reference_test_data(
        string type, bool stem, int line, double recall, double precision, double f)
    {
        string target = Lines("target.txt")[line];
        string prediction = Lines("prediction.txt")[line];
        AssertScore(Rouge.Score(target, prediction, type, stem), precision, recall, f, Places5);
    }

    // rouge_scorer_test.py, testRougeLSumAgainstRouge155WithStemming (pyrouge_files/target_multi.0.txt and
    // prediction_multi.0.txt).
    [Fact]
    public void RougeLsum_matches_rouge155_with_stemming()
    {
        RougeScore s = Rouge.Score(Fixture("target_multi.0.txt"), Fixture("prediction_multi.0.txt"), "rougeLsum", useStemmer: true);
        AssertScore(s, 0.66667, 0.36538, 0.47205, Places5);
    }

    // rouge_scorer_test.py, testRougeLSumSentenceSplitting (the newline cases; split_summaries=True, which calls
    // nltk.sent_tokenize, is not ported).
    [Fact]
    public void RougeLsum_depends_on_newlines_as_testRougeLSumSentenceSplitting()
    {
        const string Target = "First sentence.\nSecond Sentence.";
        const string Prediction = "Second sentence.\nFirst Sentence.";
        Assert.Equal(1.0, Rouge.Score(Target, Prediction, "rougeLsum", useStemmer: true).FMeasure, Places5);
        Assert.Equal(0.50, Rouge.Score(Target.Replace('\n', ' '), Prediction.Replace('\n', ' '), "rougeLsum", useStemmer: true).FMeasure, Places5);
    }

    // rouge_scorer_test.py, testLcsTable (ints written as strings; only equality matters).
    [Fact]
    public void Lcs_backtrack_matches_testLcsTable()
    {
        string[] reference = ["1", "2", "3", "4", "5"];
        List<int> indices = Rouge.LcsIndices<string>(reference, ["2", "5", "3", "4"]);
        Assert.Equal([1, 2, 3], indices);
        Assert.Equal(["2", "3", "4"], indices.Select(i => reference[i]));
        Assert.Empty(Rouge.LcsIndices<string>(reference, ["8", "9"]));
    }

    // rouge_scorer_test.py, testUnionLcs (Lin 2004, §3.2 example).
    [Fact]
    public void Union_lcs_matches_testUnionLcs()
    {
        int[] reference = [1, 2, 3, 4, 5];
        List<int> union = Rouge.UnionLcsIndices<int>(reference, [[1, 2, 6, 7, 8], [1, 3, 8, 9, 5]]);
        Assert.Equal([1, 2, 3, 5], union.Select(i => reference[i]));
    }

    // rouge_scorer_test.py, testSummaryLevelLcs.
    [Fact]
    public void Summary_level_lcs_matches_testSummaryLevelLcs()
    {
        RougeScore s = Rouge.SummaryLevelLcs([["1", "2", "3", "4", "5"]], [["1", "2", "6", "7", "8"], ["1", "3", "8", "9", "5"]]);
        Assert.Equal(0.8, s.Recall);
        Assert.Equal(0.4, s.Precision);
        Assert.Equal(0.5333, s.FMeasure, Places3);
        // Tokenizer may drop all tokens, resulting in an empty candidate list.
        Assert.Equal(0.0, Rouge.SummaryLevelLcs([["reference"]], [[]]).Recall);
    }

    // rouge_scorer_test.py, testRougeLsum.
    [Fact]
    public void RougeLsum_matches_testRougeLsum()
    {
        RougeScore s = Rouge.Score("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", "rougeLsum");
        Assert.Equal(0.8, s.Recall, Places7);
        Assert.Equal(0.4, s.Precision, Places7);
        Assert.Equal(0.5333, s.FMeasure, Places3);
        AssertScore(Rouge.Score("w1 w2 w3 w4 w5", "", "rougeLsum"), 0, 0, 0, Places3);
        AssertScore(Rouge.Score("", "w1", "rougeLsum"), 0, 0, 0, Places3);
        // Summary made only of non-word characters.
        AssertScore(Rouge.Score("w1 w2 w3 w4 w5", "/", "rougeLsum"), 0, 0, 0, Places3);
    }

    // rouge_scorer_test.py, testRougeTokenizerInit.
    [Fact]
    public void Identical_texts_score_one()
    {
        Assert.Equal(1.0, Rouge.Score("this is a test", "this is a test", "rouge1").FMeasure);
    }

    // tokenize_test.py, test_give_me_a_name; tokenizers_test.py, test_default_tokenizer_no_stemmer_init and
    // test_default_tokenizer_with_stemmer_init.
    [Fact]
    public void Tokenizer_matches_tokenize_and_tokenizers_tests()
    {
        Assert.Equal(["one", "two", "three"], Rouge.Tokenize("one Two three"));
        Assert.Equal(["one", "two", "three"], Rouge.Tokenize("one\n Two \nthree"));
        Assert.Equal(["this", "is", "a", "test"], Rouge.Tokenize("this is a test"));
        Assert.Equal(["the", "friend", "had", "a", "meet"], Rouge.Tokenize("the friends had a meeting", useStemmer: true));
    }

    // rouge-score 0.1.2's tokenizer: non-ASCII letters are removed, not kept ("café" -> "caf"),
    // and short tokens are not stemmed.
    [Fact]
    public void Tokenizer_drops_non_ascii_letters_and_stems_only_long_tokens()
    {
        Assert.Equal(["caf", "au", "lait"], Rouge.Tokenize("Café au-lait"));
        Assert.Equal(["was", "gener"], Rouge.Tokenize("was generalization", useStemmer: true));
    }

}
