using Tailor.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Tests.Model;

[Collection("TorchSharp")]
public class LlamaTests
{
    internal static LlamaConfig TinyGqa(bool tied = false, bool qwen = false)
    {
        var c = LlamaConfig.Create(vocab: 50, hidden: 32, intermediate: 48, layers: 2, heads: 4, kvHeads: 2, maxPositions: 64, tied: tied);
        if (qwen)
        {
            c.Architectures = ["Qwen2ForCausalLM"];
            c.ModelType = "qwen2";
        }
        return c;
    }

    [Fact]
    public void State_dict_uses_hugging_face_names_and_shapes()
    {
        using var model = LlamaForCausalLM.FromConfig(TinyGqa());
        var shapes = model.state_dict().ToDictionary(kv => kv.Key, kv => string.Join("x", kv.Value.shape));
        var expected = new Dictionary<string, string>
        {
            ["model.embed_tokens.weight"] = "50x32",
            ["model.norm.weight"] = "32",
            ["lm_head.weight"] = "50x32",
        };
        for (int i = 0; i < 2; i++)
        {
            string p = $"model.layers.{i}.";
            expected[p + "self_attn.q_proj.weight"] = "32x32";
            expected[p + "self_attn.k_proj.weight"] = "16x32";
            expected[p + "self_attn.v_proj.weight"] = "16x32";
            expected[p + "self_attn.o_proj.weight"] = "32x32";
            expected[p + "mlp.gate_proj.weight"] = "48x32";
            expected[p + "mlp.up_proj.weight"] = "48x32";
            expected[p + "mlp.down_proj.weight"] = "32x48";
            expected[p + "input_layernorm.weight"] = "32";
            expected[p + "post_attention_layernorm.weight"] = "32";
        }
        Assert.Equal(expected.OrderBy(kv => kv.Key), shapes.OrderBy(kv => kv.Key));
        Assert.Equal(TinyGqa().ParameterCount(), model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Qwen2_config_adds_qkv_biases_but_no_output_bias()
    {
        using var model = LlamaForCausalLM.FromConfig(TinyGqa(tied: true, qwen: true));
        var names = model.state_dict().Keys.ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", names);
        Assert.Contains("model.layers.1.self_attn.v_proj.bias", names);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", names);
        Assert.DoesNotContain("lm_head.weight", names);
    }

    [Fact]
    public void Tied_embeddings_share_one_parameter_through_training()
    {
        using var model = LlamaForCausalLM.FromConfig(TinyGqa(tied: true));
        using (no_grad()) model.Model.EmbedTokens.Weight[0, 0] = 5f;
        Assert.Equal(5f, model.OutputWeight[0, 0].item<float>());
        Assert.Equal(TinyGqa(tied: true).ParameterCount(), model.parameters().Sum(p => p.numel()));
        using var opt = optim.AdamW(model.parameters(), lr: 1e-2);
        using var before = model.OutputWeight.detach().clone();
        using (var scope = NewDisposeScope())
        {
            var ids = randint(0, 50, [2, 8], dtype: ScalarType.Int64);
            var logits = model.call(ids);
            var loss = nn.functional.cross_entropy(logits.view(-1, 50), ids.view(-1));
            loss.backward();
            opt.step();
        }
        Assert.False(before.eq(model.OutputWeight).all().item<bool>());
        Assert.True(model.OutputWeight.eq(model.Model.EmbedTokens.Weight).all().item<bool>());
    }

    [Fact]
    public void Cached_decoding_gives_the_same_logits_as_a_full_forward()
    {
        using var model = LlamaForCausalLM.FromConfig(TinyGqa());
        using var _ = inference_mode();
        using var ids = randint(0, 50, [2, 12], dtype: ScalarType.Int64);
        using var full = model.Forward(ids);                                  // (2, 12, V)
        using var cache = new KvCache(model.Config, 2, 16, model.DType, model.Device);
        using var prefill = model.Forward(ids.narrow(1, 0, 5), cache: cache); // positions 0..4
        Assert.True(prefill.allclose(full.narrow(1, 0, 5), rtol: 1e-5, atol: 1e-5));
        using var chunk = model.Forward(ids.narrow(1, 5, 3), cache: cache);   // 5..7, masked chunk after a prefix
        Assert.True(chunk.allclose(full.narrow(1, 5, 3), rtol: 1e-5, atol: 1e-5));
        for (int t = 8; t < 12; t++)
        {
            using var step = model.Forward(ids.narrow(1, t, 1), cache: cache, lastOnly: true);
            Assert.True(step.allclose(full.narrow(1, t, 1), rtol: 1e-5, atol: 1e-5), $"position {t}");
        }
        Assert.Equal(12, cache.Length);
    }

    [Fact]
    public void Packed_sequences_with_a_block_mask_match_separate_forwards()
    {
        using var model = LlamaForCausalLM.FromConfig(TinyGqa(qwen: true));
        using var _ = inference_mode();
        using var a = randint(0, 50, [1, 5], dtype: ScalarType.Int64);
        using var b = randint(0, 50, [1, 7], dtype: ScalarType.Int64);
        using var la = model.Forward(a);
        using var lb = model.Forward(b);
        using var packed = cat([a, b], dim: 1);                               // (1, 12)
        var segment = Enumerable.Repeat(0, 5).Concat(Enumerable.Repeat(1, 7)).ToArray();
        var pos = Enumerable.Range(0, 5).Concat(Enumerable.Range(0, 7)).Select(i => (long)i).ToArray();
        var allowed = new bool[12 * 12];
        for (int q = 0; q < 12; q++)
            for (int k = 0; k <= q; k++) allowed[q * 12 + k] = segment[k] == segment[q];
        using var positions = tensor(pos, [1, 12]);
        using var mask = tensor(allowed, [1, 1, 12, 12]);
        using var lp = model.Forward(packed, positions, mask);
        Assert.True(lp.narrow(1, 0, 5).allclose(la, rtol: 1e-5, atol: 1e-5));
        Assert.True(lp.narrow(1, 5, 7).allclose(lb, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void Forward_rejects_sequences_longer_than_the_context()
    {
        using var model = LlamaForCausalLM.FromConfig(TinyGqa());
        using var ids = zeros([1, 65], dtype: ScalarType.Int64);
        var e = Assert.Throws<TailorException>(() => model.Forward(ids));
        Assert.Contains("max_position_embeddings", e.Message);
    }

    [Fact]
    public void Training_and_decoding_do_not_leak_tensors()
    {
        using var model = LlamaForCausalLM.FromConfig(TinyGqa());
        using var opt = optim.AdamW(model.parameters(), lr: 1e-3);
        long[] live = new long[30];
        for (int step = 0; step < live.Length; step++)
        {
            using (var scope = NewDisposeScope())
            {
                var ids = randint(0, 50, [2, 8], dtype: ScalarType.Int64);
                var loss = nn.functional.cross_entropy(model.call(ids).view(-1, 50), ids.view(-1));
                loss.backward();
                opt.step();
                model.zero_grad();
            }
            var gen = new Tailor.Generation.TextGenerator(model, ids => string.Concat(ids.Select(i => (char)('a' + i % 26))), [49]);
            gen.Generate([1, 2, 3], new Tailor.Generation.SamplingOptions { MaxNewTokens = 4, StopAtEos = false });
            GC.Collect();
            GC.WaitForPendingFinalizers();
            live[step] = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        }
        // After warm-up (optimizer state, first gradients), the count must stay flat.
        Assert.True(live[^1] <= live[5], $"live tensors grew from {live[5]} to {live[^1]}");
    }
}
