using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Metrics;

public class PorterStemmerTests
{
    // nltk/nltk nltk/test/unit/test_stem.py, PorterTest.test_oed_bug and PorterTest.test_lowercase_option
    // (the to_lowercase=True cases; rouge-score always uses the default).
    [Theory]
    [InlineData("oed", "o")]
    [InlineData("On", "on")]
    [InlineData("I", "i")]
    [InlineData("Github", "github")]
    public void Stem_matches_nltk_test_stem(string word, string expected)
    {
        Assert.Equal(expected, PorterStemmer.Stem(word));
    }

    // NLTK_EXTENSIONS departures from the 1980 paper, with NLTK's outputs (porter.py's irregular-forms table and
    // the step 1a/1b/1c comments: 'dies' -> 'die', 'flies' -> 'fli', 'dying' -> 'die', 'happy' -> 'happi',
    // 'enjoy' -> 'enjoy').
    [Theory]
    [InlineData("dies", "die")]
    [InlineData("flies", "fli")]
    [InlineData("dying", "die")]
    [InlineData("skies", "sky")]
    [InlineData("happy", "happi")]
    [InlineData("enjoy", "enjoy")]
    [InlineData("succeed", "succeed")]
    public void Stem_applies_the_nltk_extensions(string word, string expected)
    {
        Assert.Equal(expected, PorterStemmer.Stem(word));
    }

    // Differential check against NLTK 3.8's PorterStemmer() on ~2,500 dictionary words (computed vectors, see
    // Fixtures/metrics/PROVENANCE.md). Reports every mismatch at once.
    [Fact]
    public void Stem_matches_nltk_on_the_computed_vocabulary()
    {
        var mismatches = new List<string>();
        int n = 0;
        foreach (System.Text.Json.JsonElement pair in ComputedVectors.Load().GetProperty("porter").EnumerateArray())
        {
            string word = pair[0].GetString()!;
            string expected = pair[1].GetString()!;
            string actual = PorterStemmer.Stem(word);
            n++;
            if (actual != expected)
                mismatches.Add($"{word}: NLTK {expected}, ours {actual}");
        }
        Assert.True(n > 2000, $"only {n} porter vectors");
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }
}
