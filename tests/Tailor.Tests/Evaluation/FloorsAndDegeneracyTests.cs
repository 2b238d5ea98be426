using Tailor.Evaluation;
using Tailor.Evaluation.Statistics;

namespace Tailor.Tests.Evaluation;

public class FloorsAndDegeneracyTests
{
    [Fact]
    public void Holm_adjusts_as_statsmodels_multipletests_does()
    {
        // Sorted 0.005, 0.01, 0.03, 0.04 → 4·0.005, 3·0.01, 2·0.03, max(1·0.04, 0.06): by hand and statsmodels' "holm".
        double[] adjusted = Holm.Adjust([0.01, 0.04, 0.03, 0.005]);
        Assert.Equal([0.03, 0.06, 0.06, 0.02], adjusted.Select(p => Math.Round(p, 12)));
        Assert.Equal([1.0, 1.0], Holm.Adjust([0.6, 0.9]));          // capped at 1, monotone
        Assert.Equal([0.04], Holm.Adjust([0.04]));                   // one comparison: unchanged
        var withNaN = Holm.Adjust([0.02, double.NaN, 0.01]);
        Assert.True(double.IsNaN(withNaN[1]));
        Assert.Equal([0.02, 0.02], new[] { withNaN[0], withNaN[2] }); // m = 2: 2·0.01, max(0.02, 1·0.02)
        Assert.Throws<ArgumentOutOfRangeException>(() => Holm.Adjust([1.5]));
    }

    [Fact]
    public void The_majority_label_breaks_ties_by_ordinal_order()
    {
        Assert.Equal("positive", Floors.MajorityLabel(["positive", "negative", "positive"]));
        Assert.Equal("negative", Floors.MajorityLabel(["positive", "negative"]));
        Assert.Throws<ArgumentException>(() => Floors.MajorityLabel([]));
    }

    [Fact]
    public void The_lead_floor_keeps_as_many_words_as_the_references_have_on_average()
    {
        Assert.Equal(3, Floors.MeanReferenceWords([["a b"], ["a b c d"], ["x y z", "ignored second reference"]]));
        Assert.Equal(2, Floors.MeanReferenceWords([["a"], ["a b"]]));   // 1.5 rounds away from zero
        Assert.Equal("one two three", Floors.Lead("one  two\tthree four five", 3));
        Assert.Equal("short", Floors.Lead("short", 10));
    }

    private static EvalItem Answer(string prediction, bool offTask = false) =>
        new("t", Guid.NewGuid().ToString(), "plain", "", prediction, ["x"], offTask, offTask ? "empty" : null, 1, new Dictionary<string, double>());

    [Fact]
    public void A_classifier_is_flagged_at_ninety_percent_of_one_label_and_not_below()
    {
        string[] labels = ["positive", "negative"];
        var at90 = Enumerable.Range(0, 100).Select(i => Answer(i < 90 ? (i % 2 == 0 ? "Negative." : "negative") : "positive")).ToList();
        var d = Degeneracy.Measure("m", at90, labels, null);
        Assert.Equal(("negative", 0.9, 0.02), (d.TopAnswer, d.TopShare, d.DistinctShare));   // "Negative." names the label
        Assert.True(d.Degenerate);
        var at89 = Enumerable.Range(0, 100).Select(i => Answer(i < 89 ? "negative" : "positive")).ToList();
        Assert.False(Degeneracy.Measure("m", at89, labels, null).Degenerate);
        Assert.Null(d.WrongLanguageRate);
    }

    [Fact]
    public void A_generator_is_flagged_at_half_identical_or_half_off_task_answers()
    {
        var half = Enumerable.Range(0, 10).Select(i => Answer(i < 5 ? "Das  Paket " : $"Antwort {i} für die Datei")).ToList();
        var d = Degeneracy.Measure("m", half, null, "de");
        Assert.Equal(("das paket", 0.5), (d.TopAnswer, d.TopShare));
        Assert.True(d.Degenerate);
        Assert.Equal(0.0, d.WrongLanguageRate);
        var four = Enumerable.Range(0, 10).Select(i => Answer(i < 4 ? "same" : $"answer {i}")).ToList();
        Assert.False(Degeneracy.Measure("m", four, null, null).Degenerate);
        var off = Enumerable.Range(0, 10).Select(i => Answer($"answer {i}", offTask: i < 5)).ToList();
        var o = Degeneracy.Measure("m", off, null, null);
        Assert.Equal(["50.0% off-task"], o.Flags);
        var english = Enumerable.Range(0, 4).Select(i => Answer(i == 0 ? "the file is for the data" : $"das ist {i} für die Datei und der Rest")).ToList();
        var w = Degeneracy.Measure("m", english, null, "de");
        Assert.Equal(0.25, w.WrongLanguageRate);
        var repeated = Degeneracy.Measure("m", [Answer("a b c a b c a b c a b c"), Answer("fine answer here")], null, null);
        Assert.Equal(0.5, repeated.RepetitionRate);
        // A loop the repetition stop cut counts as repetition even when its few words do not show it.
        var cut = Degeneracy.Measure("m", [Answer("................") with { FinishReason = "repetition" }, Answer("fine answer here")], null, null);
        Assert.Equal(0.5, cut.RepetitionRate);
    }
}
