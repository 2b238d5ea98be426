using Tailor.Evaluation.Report;
using Tailor.Model;
using Tailor.Pipeline;

namespace Tailor.Tests.Pipeline;

/// <summary>The main job's encoder stage: its options, names and the smoke profile's tiny random BERT.</summary>
[Collection("TorchSharp")]
public sealed class EncoderStageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-encoder-stage-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_encoder_option_takes_catalogue_names_folders_or_nothing_and_refuses_anything_else()
    {
        Assert.Equal("all-MiniLM-L6-v2", new RunOptions().Resolve().Encoder);
        Assert.Equal("", new RunOptions { Encoder = "" }.Resolve().Encoder);
        Assert.Equal(_dir, new RunOptions { Encoder = _dir }.Resolve().Encoder);
        var e = Assert.Throws<TailorException>(() => new RunOptions { Encoder = "bert-base-uncased" }.Resolve());
        Assert.Contains("encoder = bert-base-uncased: not a folder", e.Message, StringComparison.Ordinal);
        Assert.Equal("minilm", EncoderStage.ShortName("all-MiniLM-L6-v2"));
        Assert.Equal("arctic-xs", EncoderStage.ShortName("snowflake-arctic-embed-xs"));
        Assert.Equal("my-bert", EncoderStage.ShortName("/models/my bert/"));
    }

    [Fact]
    public void The_profiles_cap_the_encoder_s_train_examples_in_default_only()
    {
        Assert.Equal(640, RunProfile.Default.EncoderExamples);
        Assert.Equal(0, RunProfile.Full.EncoderExamples);
        Assert.Contains("encoder_examples", RunProfile.Table(), StringComparison.Ordinal);
        var o = new RunOptions { Output = _dir }.Resolve();
        var tune = EncoderStage.Options("all-MiniLM-L6-v2", Path.Combine(_dir, "m"), o, RunProfile.Default);
        Assert.Equal((640, "sentiment", 1337L), (tune.Examples, tune.Task, tune.Seed));
    }

    [Fact]
    public void The_smoke_profile_s_tiny_bert_has_MiniLM_s_vocabulary_and_a_card_that_says_it_is_random()
    {
        string target = Path.Combine(_dir, "tiny");
        EncoderStage.MakeTinyBert("all-MiniLM-L6-v2", target, 1);
        var config = BertConfig.FromPretrained(target);
        Assert.Equal(30522, config.VocabSize);
        Assert.Equal((2, 32), (config.NumHiddenLayers, config.HiddenSize));
        using var encoder = PretrainedEncoder.Load(target);
        using var real = PretrainedEncoder.Load(PretrainedEncoders.Resolve("all-MiniLM-L6-v2"));
        Assert.Equal(real.Tokenizer.Encode("A fine movie, unexpectedly!", 16).Ids, encoder.Tokenizer.Encode("A fine movie, unexpectedly!", 16).Ids);
        Assert.Equal(WeightsOrigin.Random, Provenance.Of(target).Origin);
    }
}
