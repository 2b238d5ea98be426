using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Metrics;

// Expected values are sacreBLEU's own published test values (mjpost/sacrebleu at tag v2.6.0, test/test_chrf.py,
// EPSILON = 1e-4), and its README. Each block names the test it comes from.
public class ChrFTests
{
    // mjpost/sacrebleu test/test_chrf.py, test_chrf (test_cases): corpus_chrf(hyps, [refs], char_order=6,
    // word_order=0, beta=3, eps_smoothing=True).
    [Theory]
    [InlineData(new[] { "abcdefg" }, new[] { "hijklmnop" }, 0.0)]
    [InlineData(new[] { "a" }, new[] { "b" }, 0.0)]
    [InlineData(new[] { "" }, new[] { "b" }, 0.0)]
    [InlineData(new[] { "" }, new[] { "ref" }, 0.0)]
    [InlineData(new[] { "" }, new[] { "reference" }, 0.0)]
    [InlineData(new[] { "aa" }, new[] { "ab" }, 8.3333)]
    [InlineData(new[] { "a", "b" }, new[] { "a", "c" }, 8.3333)]
    [InlineData(new[] { "a" }, new[] { "a" }, 16.6667)]
    [InlineData(new[] { "a b c" }, new[] { "a b c" }, 50.0)]
    [InlineData(new[] { "a b c" }, new[] { "abc" }, 50.0)]
    [InlineData(new[] { " risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ." },
        new[] { "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ." }, 63.361730)]
    [InlineData(new[] { " Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. " },
        new[] { "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich." }, 64.1302698)]
    [InlineData(new[] { "Niemand hat die Absicht, eine Mauer zu errichten" }, new[] { "Niemand hat die Absicht, eine Mauer zu errichten" }, 100.0)]
    public void Eps_smoothed_chrf_matches_sacrebleu_test_chrf(string[] hyps, string[] refs, double expected)
    {
        var options = new ChrFOptions(CharOrder: 6, WordOrder: 0, Beta: 3, EpsSmoothing: true);
        Assert.Equal(expected, ChrF.Corpus(hyps, [refs], options).Score, 1e-4);
    }

    // mjpost/sacrebleu test/test_chrf.py, test_chrf_eff_order (test_cases_effective_order): beta=3,
    // eps_smoothing=False (sacreBLEU < 2.0 mode, the 2.x default).
    [Theory]
    [InlineData(new[] { "a" }, new[] { "a" }, 100.0)]
    [InlineData(new[] { "" }, new[] { "reference" }, 0.0)]
    [InlineData(new[] { "a b c" }, new[] { "a b c" }, 100.0)]
    [InlineData(new[] { "a b c" }, new[] { "abc" }, 100.0)]
    [InlineData(new[] { "" }, new[] { "c" }, 0.0)]
    [InlineData(new[] { "a", "b" }, new[] { "a", "c" }, 50.0)]
    [InlineData(new[] { "aa" }, new[] { "ab" }, 25.0)]
    public void Effective_order_chrf_matches_sacrebleu_test_chrf_eff_order(string[] hyps, string[] refs, double expected)
    {
        var options = new ChrFOptions(CharOrder: 6, WordOrder: 0, Beta: 3, EpsSmoothing: false);
        Assert.Equal(expected, ChrF.Corpus(hyps, [refs], options).Score, 1e-4);
    }

    // mjpost/sacrebleu test/test_chrf.py, test_chrf_keep_whitespace: beta=3, remove_whitespace=False.
    [Theory]
    [InlineData("Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.",
        "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.", 67.3481606)]
    [InlineData("risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
        "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .", 65.2414427)]
    public void Whitespace_kept_chrf_matches_sacrebleu_test_chrf_keep_whitespace(string hyp, string reference, double expected)
    {
        var options = new ChrFOptions(CharOrder: 6, WordOrder: 0, Beta: 3, Whitespace: true);
        Assert.Equal(expected, ChrF.Corpus([hyp], [[reference]], options).Score, 1e-4);
    }

    // mjpost/sacrebleu test/test_chrf.py, test_chrf_sentence_level (test_sentence_level_chrf):
    // sentence_chrf(hyp, refs, eps_smoothing=True) with the default beta 2.
    [Theory]
    [InlineData("Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
        "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", 39.14078509)]
    [InlineData("Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
        "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.", 31.22557079)]
    [InlineData("Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
        "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.", 57.15704367)]
    public void Sentence_chrf_matches_sacrebleu_test_chrf_sentence_level(string hyp, string reference, double expected)
    {
        Assert.Equal(expected, ChrF.Sentence(hyp, [reference], new ChrFOptions(EpsSmoothing: true)).Score, 1e-4);
    }

    // mjpost/sacrebleu README.md, "Using SacreBLEU from Python": CHRF().corpus_score(sys, refs) -> chrF2 = 59.73.
    [Fact]
    public void Readme_example_scores_59_73_with_the_documented_signature()
    {
        string[] sys = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
        IReadOnlyList<string?>[] refs =
        [
            ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
            ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
        ];
        ChrFScore s = ChrF.Corpus(sys, refs);
        Assert.Equal("chrF2 = 59.73", s.Format(withSignature: false));
        Assert.Equal("nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0", s.Signature);
        // The chrF++ signature and name, in the form the README prints them (there with version:2.0.0).
        ChrFScore plus = ChrF.Corpus(sys, refs, new ChrFOptions(WordOrder: 2));
        Assert.Equal("chrF2++", plus.Name);
        Assert.Equal("nrefs:2|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0", plus.Signature);
    }

}
