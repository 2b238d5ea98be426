using Tailor.Formats;
using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Tests.Model;

/// <summary>
/// BERT and RoBERTa against an independent PyTorch implementation (Fixtures/bert/make_bert_fixtures.py, torch 1.13):
/// same weights, same padded batches, hidden states, pooler output and classifier logits within 1e-4. The script
/// checks that missing padding masks, pre-LayerNorm blocks, the tanh GELU, RoBERTa positions without their offset and
/// a missing token-type embedding each move these outputs by more than this tolerance.
/// </summary>
[Collection("TorchSharp")]
public class BertReferenceTests
{
    private const double Tolerance = 1e-4;

    private static string Folder(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "bert", name);

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = expected.sub(actual).abs().max().item<float>();
        Assert.True(diff < Tolerance, $"{what}: max |diff| {diff:E2} exceeds {Tolerance:E0}");
    }

    [Theory]
    [InlineData("tiny-bert")]
    [InlineData("tiny-roberta")]
    public void Classifier_hidden_states_and_logits_match_the_reference(string name)
    {
        var config = BertConfig.FromPretrained(Folder(name));
        using var module = ISequenceClassifier.Create(config);
        var fresh = EncoderWeights.LoadInto(module, Folder(name), config, freshHead: false);
        Assert.Empty(fresh);
        module.eval();
        var classifier = (ISequenceClassifier)module;
        var reference = Safetensors.Load(Path.Combine(Folder(name), "reference.safetensors"));
        using var _ = inference_mode();
        var ids = reference["input_ids"];
        var mask = reference["attention_mask"];
        var types = reference.GetValueOrDefault("token_type_ids");
        var hidden = classifier.Encoder.Forward(ids, mask, types);
        // Padding positions' hidden states are not compared: they are whatever attention over real keys gives.
        var real = mask.unsqueeze(-1).to_type(ScalarType.Float32);
        AssertClose(reference["last_hidden_state"].mul(real), hidden.mul(real), $"{name} last_hidden_state");
        if (reference.TryGetValue("pooler_output", out var pooled))
            AssertClose(pooled, classifier.Encoder.Pool(hidden), $"{name} pooler_output");
        AssertClose(reference["logits"], classifier.Logits(ids, mask, types), $"{name} logits");
    }

    [Theory]
    [InlineData("tiny-bert")]
    [InlineData("tiny-roberta")]
    public void A_base_model_loads_from_a_classifier_checkpoint_with_the_prefix_stripped(string name)
    {
        var config = BertConfig.FromPretrained(Folder(name));
        using var model = new BertModel(config, addPoolingLayer: EncoderWeights.HasPooler(Folder(name), config));
        EncoderWeights.LoadInto(model, Folder(name), config, freshHead: false);
        model.eval();
        var reference = Safetensors.Load(Path.Combine(Folder(name), "reference.safetensors"));
        using var _ = inference_mode();
        var mask = reference["attention_mask"];
        var real = mask.unsqueeze(-1).to_type(ScalarType.Float32);
        var hidden = model.Forward(reference["input_ids"], mask, reference.GetValueOrDefault("token_type_ids"));
        AssertClose(reference["last_hidden_state"].mul(real), hidden.mul(real), $"{name} base last_hidden_state");
    }

    [Fact]
    public void Parameter_names_are_hugging_face_names()
    {
        var config = BertConfig.FromPretrained(Folder("tiny-bert"));
        using var module = ISequenceClassifier.Create(config);
        var names = module.state_dict().Keys.ToList();
        Assert.Contains("bert.embeddings.word_embeddings.weight", names);
        Assert.Contains("bert.encoder.layer.1.attention.self.query.weight", names);
        Assert.Contains("bert.encoder.layer.0.attention.output.LayerNorm.bias", names);
        Assert.Contains("bert.encoder.layer.0.intermediate.dense.weight", names);
        Assert.Contains("bert.encoder.layer.0.output.dense.weight", names);
        Assert.Contains("bert.pooler.dense.weight", names);
        Assert.Contains("classifier.weight", names);
        var roberta = BertConfig.FromPretrained(Folder("tiny-roberta"));
        using var r = ISequenceClassifier.Create(roberta);
        var rnames = r.state_dict().Keys.ToList();
        Assert.Contains("classifier.dense.weight", rnames);
        Assert.Contains("classifier.out_proj.bias", rnames);
        Assert.DoesNotContain(rnames, n => n.Contains("pooler", StringComparison.Ordinal));
        Assert.DoesNotContain(rnames, n => n.Contains("dropout", StringComparison.Ordinal));
    }

    [Fact]
    public void A_checkpoint_with_a_tensor_of_the_wrong_shape_is_refused_with_its_name()
    {
        string dir = Directory.CreateTempSubdirectory("tailor-bert-").FullName;
        try
        {
            foreach (var f in Directory.GetFiles(Folder("tiny-bert"))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            var config = BertConfig.FromPretrained(dir);
            config.IntermediateSize = 40;
            File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJson());
            using var module = ISequenceClassifier.Create(BertConfig.FromPretrained(dir));
            var e = Assert.Throws<CheckpointFormatException>(() => EncoderWeights.LoadInto(module, dir, config, freshHead: false));
            Assert.Contains("intermediate.dense", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_config_with_an_unsupported_activation_names_the_field()
    {
        var e = Assert.Throws<TailorException>(() => BertConfig.Parse(
            """{"architectures":["BertModel"],"model_type":"bert","vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"hidden_act":"relu"}""", "x/config.json"));
        Assert.Contains("x/config.json: hidden_act", e.Message, StringComparison.Ordinal);
    }
}
