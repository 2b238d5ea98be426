using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Metrics;

public class ClassificationTests
{
    // scikit-learn sklearn/metrics/_classification.py, accuracy_score docstring example:
    // y_pred = [0, 2, 1, 3], y_true = [0, 1, 2, 3] -> 0.5.
    [Fact]
    public void Accuracy_matches_the_scikit_learn_docstring_example()
    {
        Assert.Equal(0.5, Classification.Accuracy(["0", "1", "2", "3"], ["0", "2", "1", "3"]));
    }

    // scikit-learn sklearn/metrics/_classification.py, f1_score docstring example:
    // y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]; average=None -> [0.8, 0, 0], average='macro' -> 0.26...
    [Fact]
    public void Macro_f1_matches_the_scikit_learn_docstring_example()
    {
        double macro = Classification.MacroF1(["0", "1", "2", "0", "1", "2"], ["0", "2", "1", "0", "0", "1"]);
        Assert.Equal(0.8 / 3, macro, 1e-15);
        Assert.StartsWith("0.26", macro.ToString("R", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void Off_label_prediction_is_a_class_of_its_own_unless_labels_are_fixed()
    {
        string[] gold = ["pos", "neg", "pos", "neg"];
        string[] predicted = ["pos", "neg", "garbage", "neg"];
        // Union of labels: {garbage, neg, pos}; F1 = 0, 1, 2/3.
        Assert.Equal((0 + 1 + 2.0 / 3) / 3, Classification.MacroF1(gold, predicted), 1e-15);
        // Gold label set (HELM's choice): the garbage prediction only counts as a missed "pos".
        Assert.Equal((1 + 2.0 / 3) / 2, Classification.MacroF1(gold, predicted, ["neg", "pos"]), 1e-15);
        // A listed class present in neither list scores 0 and still counts.
        Assert.Equal((1 + 2.0 / 3 + 0) / 3, Classification.MacroF1(gold, predicted, ["neg", "pos", "neutral"]), 1e-15);
    }

    [Fact]
    public void Mismatched_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Classification.Accuracy(["a"], ["a", "b"]));
        Assert.Throws<ArgumentException>(() => Classification.MacroF1([], []));
    }
}
