using Tailor.Generation;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Tests.Formats;
using static TorchSharp.torch;

namespace Tailor.Tests.Generation;

/// <summary>The TorchSharp-free batch-1 decoder against the reference forward pass: logits step by step and greedy tokens.</summary>
[Collection("TorchSharp")]
public sealed class CpuDecoderTests : IDisposable
{
    // Both paths compute in f32; they differ in summation order (and exp/rsqrt implementations) only. Measured ~1e-6.
    private const double Tolerance = 1e-4;
    private readonly TempFolder _temp = new();

    public CpuDecoderTests() => set_num_threads(1);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Bf16_held_weights_give_the_logits_of_the_reference_forward()
    {
        using var model = PretrainedModel.Load(GgufExports.ShippedModel);
        var ids = model.Tokenizer.Encode("<|im_start|>user\nThe old house stood at the end of the road", parseSpecial: true);
        var decoder = new CpuDecoder((LlamaForCausalLM)model.Model);
        Assert.True(decoder.UsesBf16Weights);
        float[] fast = decoder.Forward(ids).ToArray(), reference = ReferenceLastLogits(model.Model, ids);
        double scale = reference.Max(MathF.Abs), diff = reference.Zip(fast, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff / scale < Tolerance, $"max |Δ| {diff:E2} over scale {scale:F2}");
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    public void Logits_equal_the_reference_forward_at_every_step(bool qwen, int threads)
    {
        string folder = _temp.File(qwen ? "qwen2" : "llama");
        GgufExports.SaveTinyModel(folder, qwen);
        using var model = PretrainedModel.Load(folder);
        var decoder = new CpuDecoder((LlamaForCausalLM)model.Model, threads: threads);
        Assert.False(decoder.UsesBf16Weights);                                                 // random f32 weights: kept in f32
        AssertGreedyStepsMatchReference(model.Model, decoder, [.. model.Tokenizer.Encode("Grouped-query attention, biases and RoPE: one token at a time.")], 8);
    }

    [Theory]
    [InlineData(96, 64, true)]    // bf16: 96 columns, three 32-column chunks, no tail; 61 vocabulary rows: 15 blocks of four and one row
    [InlineData(80, 37, true)]    // bf16: 80 columns, two chunks and a 16-column tail; 37 columns (down_proj): odd, held in f32 (5 tail columns)
    [InlineData(72, 37, false)]   // f32: 72 columns, four 16-column chunks and an 8-column tail; 37: two chunks and 5
    public void Weights_of_any_width_give_the_reference_logits(int hidden, int intermediate, bool bf16)
    {
        var config = LlamaConfig.Create(vocab: 61, hidden: hidden, intermediate: intermediate, layers: 2, heads: 4, kvHeads: 2, maxPositions: 64);
        using var model = LlamaForCausalLM.FromConfig(config);
        using (no_grad())
            foreach (var p in model.parameters()) p.copy_(p.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32));   // bf16 numbers, held in f32
        var decoder = new CpuDecoder(model, threads: 1, bf16Weights: bf16);
        Assert.Equal(bf16, decoder.UsesBf16Weights);
        AssertGreedyStepsMatchReference(model, decoder, [3, 14, 15, 9, 26, 5, 35], 5);
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 1)]
    [InlineData(true, 2)]
    public void A_long_prompt_in_one_call_gives_the_logits_of_one_token_at_a_time(bool bf16, int threads)
    {
        // 40 tokens: prefill blocks of 16, 16 and 8. Widths with tails (216: six 32-column chunks and 24 in bf16, 13
        // 16-column chunks and 8 in f32); gate/up (432 x 160, 69,120 values) is over the size at which two threads split a product.
        var config = LlamaConfig.Create(vocab: 512, hidden: 160, intermediate: 216, layers: 2, heads: 4, kvHeads: 2, maxPositions: 64);
        using var model = LlamaForCausalLM.FromConfig(config);
        using (no_grad())
            foreach (var p in model.parameters()) p.copy_(p.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32));
        var ids = Enumerable.Range(0, 40).Select(i => (i * 37 + 11) % 512).ToList();
        var whole = new CpuDecoder(model, threads: threads, bf16Weights: bf16);
        var single = new CpuDecoder(model, threads: threads, bf16Weights: bf16);
        float[] together = whole.Forward(ids).ToArray(), apart = [];
        foreach (int id in ids) apart = single.Forward([id]).ToArray();
        Assert.Equal(apart, together);                                                           // the same arithmetic, token by token
        Assert.Equal(40, whole.Length);
        float[] reference = ReferenceLastLogits(model, ids);
        double scale = reference.Max(MathF.Abs), diff = reference.Zip(together, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff / scale < Tolerance, $"max |Δ| {diff:E2} over scale {scale:F2}");
        float[] next = whole.Forward([7]).ToArray();                                              // decoding goes on after a block
        Assert.Equal(single.Forward([7]).ToArray(), next);
    }

    [Fact]
    public void Greedy_tokens_on_the_shipped_model_equal_the_text_generators()
    {
        using var model = PretrainedModel.Load(GgufExports.ShippedModel);
        var prompt = model.Tokenizer.Encode("Once upon a time, in a small village by the sea,");
        var reference = model.CreateGenerator().Generate(prompt, new SamplingOptions { MaxNewTokens = 64, StopAtEos = false });
        var decoder = new CpuDecoder((LlamaForCausalLM)model.Model);
        Assert.True(decoder.UsesBf16Weights);                                                  // a bf16 checkpoint: held in bf16, losslessly
        Assert.Equal(reference.Ids, decoder.Greedy(prompt, 64));
        Assert.Equal(reference.Ids, decoder.Greedy(prompt, 64));                               // Greedy resets the cache
        var f32 = new CpuDecoder((LlamaForCausalLM)model.Model, threads: 2, bf16Weights: false);
        Assert.False(f32.UsesBf16Weights);
        Assert.Equal(reference.Ids, f32.Greedy(prompt, 64));
    }

    [Theory]
    [InlineData(0.0, 0, null)]
    [InlineData(0.9, 40, 7)]
    public void A_text_generator_on_the_cpu_decoder_streams_what_the_torch_path_streams(double temperature, int topK, int? seed)
    {
        using var model = PretrainedModel.Load(GgufExports.ShippedModel);
        var prompt = model.Tokenizer.Encode("The old house");
        // Sampled runs draw the same random numbers on both paths; logits agree to ~1e-6, far from any draw boundary.
        var options = new SamplingOptions { MaxNewTokens = 40, Temperature = temperature, TopK = topK, Seed = seed, Stop = ["\n\n"] };
        var torchPath = model.CreateGenerator().Stream([prompt], options).ToList();
        var cpuPath = model.CreateGenerator(cpuDecoder: true).Stream([prompt], options).ToList();
        Assert.Equal(torchPath, cpuPath);
        Assert.NotNull(cpuPath[^1].FinishReason);
    }

    [Fact]
    public void Unmerged_lora_layers_and_a_full_cache_are_refused()
    {
        using var model = LlamaForCausalLM.FromConfig(Model.LlamaTests.TinyGqa());
        var small = new CpuDecoder(model, capacity: 3);
        Assert.Contains("cache is full (3 positions)", Assert.Throws<TailorException>(() => small.Forward([1, 2, 3, 4])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => small.Forward([1, model.Config.VocabSize]));
        Assert.Equal(0, small.Length);                                                           // a refused call caches nothing
        small.Forward([1, 2, 3]);
        Assert.Contains("cache is full (3 positions)", Assert.Throws<TailorException>(() => small.Forward([4])).Message);
        LoraAdapter.Apply(model, new LoraConfig { Rank = 2 });
        Assert.Contains("merge the LoRA adapter first", Assert.Throws<TailorException>(() => new CpuDecoder(model)).Message);
    }

    // Feeds the prompt, then greedy tokens one at a time: after each, the decoder's logits match the reference forward.
    private static void AssertGreedyStepsMatchReference(CausalLM model, CpuDecoder decoder, List<int> ids, int steps)
    {
        float[] fast = decoder.Forward(ids).ToArray();
        for (int step = 0; ; step++)
        {
            float[] reference = ReferenceLastLogits(model, ids);
            double scale = reference.Max(MathF.Abs), diff = reference.Zip(fast, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff / scale < Tolerance, $"step {step}: max |Δ| {diff:E2} over scale {scale:F2}");
            if (step == steps) break;
            int next = Sampler.ArgMax(fast);
            ids.Add(next);
            fast = decoder.Forward([next]).ToArray();
        }
    }

    private static float[] ReferenceLastLogits(CausalLM model, IReadOnlyList<int> ids)
    {
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        using var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count]);
        return model.Forward(input, lastOnly: true).contiguous().data<float>().ToArray();
    }
}
