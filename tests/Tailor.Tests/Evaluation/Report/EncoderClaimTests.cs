using Tailor.Evaluation.Report;
using Tailor.Recipes;
using static Tailor.Tests.Evaluation.Report.SyntheticEvals;

namespace Tailor.Tests.Evaluation.Report;

/// <summary>Claim 9: the instruction-tuned decoder against a task-fine-tuned encoder classifier, on made-up paired sentiment items.</summary>
public class EncoderClaimTests
{
    private static Dictionary<string, double> Sentiment(double q) => new() { ["sentiment"] = q, ["sentiment-imdb"] = q };

    private static ClaimRow Claim9(TempDir tmp, double instruct, double encoder)
    {
        string[] inputs =
        [
            Write(tmp.Path, new Spec("base-small", "base", Sentiment(0.5), 1)),
            Write(tmp.Path, new Spec("instruct-small", "chat", Sentiment(instruct), 2)),
            Write(tmp.Path, new Spec("finetune-minilm", "finetuned", Sentiment(encoder), 3)),
        ];
        string roles = Path.Combine(tmp.Path, "roles.json");
        File.WriteAllText(roles, """
            {
              "base-small": {"role": "base", "base": "small"},
              "instruct-small": {"role": "instruct", "base": "small"},
              "finetune-minilm": {"role": "encoder-finetuned", "base": "-"}
            }
            """);
        var report = Compare.Run(new CompareOptions { Inputs = inputs, Output = Path.Combine(tmp.Path, "out"), Resamples = 300, NoContamination = true, Roles = roles });
        return report.Claims.Rows.Single(c => c.Number == 9);
    }

    [Fact]
    public void An_instruct_model_far_more_accurate_than_the_encoder_classifier_supports_the_claim_on_both_sentiment_sets()
    {
        using var tmp = new TempDir();
        var claim = Claim9(tmp, instruct: 0.97, encoder: 0.6);
        Assert.Equal(["small: sentiment accuracy, instruct-small − finetune-minilm", "small: sentiment-imdb accuracy, instruct-small − finetune-minilm"],
            claim.Evidence.Select(e => e.Label));
        Assert.All(claim.Evidence, e => Assert.True(e.Effect > 0.2 && e.AdjustedPValue < 0.05, $"{e.Label}: {e.Effect} p {e.AdjustedPValue}"));
        Assert.All(claim.Evidence, e => Assert.Equal(EvidenceStatus.Supports, e.Status));
        Assert.Equal(Verdict.Supported, claim.Verdict);
    }

    [Fact]
    public void An_encoder_classifier_far_more_accurate_than_the_instruct_model_makes_the_claim_not_supported()
    {
        using var tmp = new TempDir();
        var claim = Claim9(tmp, instruct: 0.6, encoder: 0.97);
        Assert.Equal(2, claim.Evidence.Count);
        Assert.All(claim.Evidence, e => Assert.Equal(EvidenceStatus.Against, e.Status));
        Assert.Equal(Verdict.NotSupported, claim.Verdict);
        Assert.Contains("opposite direction", claim.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_an_encoder_classifier_the_claim_is_not_measured()
    {
        using var tmp = new TempDir();
        string b = Write(tmp.Path, new Spec("base-small", "base", Sentiment(0.5), 1));
        string i = Write(tmp.Path, new Spec("instruct-small", "chat", Sentiment(0.9), 2));
        var claim = Compare.Run(new CompareOptions { Inputs = [b, i], Output = Path.Combine(tmp.Path, "out"), Resamples = 200, NoContamination = true })
            .Claims.Rows.Single(c => c.Number == 9);
        Assert.Equal(Verdict.NotMeasured, claim.Verdict);
        Assert.Contains("encoder-finetuned", claim.Note, StringComparison.Ordinal);
    }
}
