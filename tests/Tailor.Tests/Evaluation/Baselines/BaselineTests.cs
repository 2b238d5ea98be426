using System.Text.Json.Nodes;
using Tailor.Evaluation.Baselines;
using Tailor.Tests.Data.Instructions;

namespace Tailor.Tests.Evaluation.Baselines;

public sealed class BaselineTests
{
    private static readonly AfinnClassifier Afinn = AfinnClassifier.Load(Path.Combine(InstructionFixtures.RepoRoot, "data", "baselines", "afinn-165.json"));

    /// <summary>
    /// afinn-reference.jsonl holds the scores that npm sentiment@5.0.2 itself printed (node, `new Sentiment().analyze(text).score`)
    /// for 16 IMDB test sentences and 5 edge cases (negators, punctuation, upper case, newline).
    /// </summary>
    [Fact]
    public void Afinn_scores_equal_the_npm_package_on_its_own_outputs()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Evaluation", "Baselines", "afinn-reference.jsonl");
        var cases = File.ReadLines(path).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(21, cases.Count);
        foreach (var c in cases)
            Assert.True(c["score"]!.GetValue<int>() == Afinn.Score(c["text"]!.GetValue<string>()), $"'{c["text"]}': package {c["score"]}, Tailor {Afinn.Score(c["text"]!.GetValue<string>())}");
    }

    [Fact]
    public void Afinn_lexicon_has_the_afinn_165_words_and_emoji() => Assert.True(Afinn.Count > 3382, $"{Afinn.Count} entries");

    [Fact]
    public void Afinn_classifies_by_sign_and_breaks_ties_as_told()
    {
        Assert.Equal("positive", Afinn.Classify("A great phone.", "negative"));
        Assert.Equal("negative", Afinn.Classify("I don't like it.", "positive"));
        Assert.Equal("negative", Afinn.Classify("It arrived on Tuesday.", "negative"));
        Assert.Equal("positive", Afinn.Classify("It arrived on Tuesday.", "positive"));
    }

    [Theory]
    [InlineData("First sentence. Second one.", "First sentence.")]
    [InlineData("Is it? Yes.", "Is it?")]
    [InlineData("Version 1.2 is here. Done", "Version 1.2 is here.")]
    [InlineData("  no end at all  ", "no end at all")]
    [InlineData("Ends here!", "Ends here!")]
    public void Lead1_keeps_the_first_sentence(string text, string expected) => Assert.Equal(expected, TextBaselines.Lead1(text));
}
