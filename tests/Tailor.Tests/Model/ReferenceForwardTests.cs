using Tailor.Formats;
using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Tests.Model;

/// <summary>
/// The C# forward against an independent PyTorch implementation (Fixtures/llama/make_llama_fixtures.py, torch 1.13):
/// same weights, same ids, logits within 1e-4 — the fixture README shows that RoPE, GQA, bias and norm mistakes each
/// move the logits by more than 1e-3, so this tolerance catches them.
/// </summary>
[Collection("TorchSharp")]
public class ReferenceForwardTests
{
    private const double Tolerance = 1e-4;

    private static (LlamaForCausalLM Model, Dictionary<string, Tensor> Reference) Load(string name)
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "llama", name);
        var config = LlamaConfig.FromPretrained(folder);
        var model = new LlamaForCausalLM(config);
        HfCheckpoint.LoadInto(model, folder, config.TieWordEmbeddings);
        model.eval();
        return (model, Safetensors.Load(Path.Combine(folder, "reference.safetensors")));
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff < Tolerance, $"{what}: max |diff| {diff:E2} exceeds {Tolerance:E0}");
    }

    [Theory]
    [InlineData("tiny-llama")]
    [InlineData("tiny-qwen2")]
    public void Forward_matches_the_reference_logits(string name)
    {
        var (model, reference) = Load(name);
        using var _ = inference_mode();
        using var logits = model.Forward(reference["input_ids"]);
        AssertClose(reference["logits"], logits, $"{name} logits");
        model.Dispose();
    }

    [Theory]
    [InlineData("tiny-llama")]
    [InlineData("tiny-qwen2")]
    public void Cached_greedy_decoding_matches_the_reference_step_logits_and_ids(string name)
    {
        var (model, reference) = Load(name);
        using var _ = inference_mode();
        var prompt = reference["greedy_prompt"];                                    // (1, 5)
        var expectedIds = reference["greedy_ids"].data<long>().ToArray();           // 20
        var expectedLogits = reference["greedy_step_logits"];                       // (20, V)
        using var cache = new KvCache(model.Config, 1, 32, model.DType, model.Device);
        var step = model.Forward(prompt, cache: cache, lastOnly: true);             // (1, 1, V)
        for (int i = 0; i < expectedIds.Length; i++)
        {
            AssertClose(expectedLogits[i].unsqueeze(0).unsqueeze(0), step, $"{name} step {i}");
            long next = step.argmax(-1).item<long>();
            Assert.Equal(expectedIds[i], next);
            step = model.Forward(tensor(new[] { next }, [1, 1]), cache: cache, lastOnly: true);
        }
        model.Dispose();
    }
}
