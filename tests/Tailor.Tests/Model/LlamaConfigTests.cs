using Tailor.Model;

namespace Tailor.Tests.Model;

public class LlamaConfigTests
{
    private const string Llama = """
        {"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":96,"hidden_size":64,
         "intermediate_size":160,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
         "max_position_embeddings":128,"rms_norm_eps":1e-5,"rope_theta":10000.0,"tie_word_embeddings":false,
         "eos_token_id":[2,3],"bos_token_id":1,"torch_dtype":"float32","some_future_field":{"a":1}}
        """;

    [Fact]
    public void Parses_hugging_face_fields_and_keeps_unknown_ones()
    {
        var c = LlamaConfig.Parse(Llama);
        Assert.Equal(16, c.HeadDim);
        Assert.Equal(2, c.KeyValueHeads);
        Assert.Equal([2, 3], c.EosTokenId!);
        Assert.False(c.QkvBias);
        var again = LlamaConfig.Parse(c.ToJson());
        Assert.True(again.Extra!.ContainsKey("some_future_field"));
        Assert.Equal([2, 3], again.EosTokenId!);
    }

    [Theory]
    [InlineData("\"architectures\":[\"LlamaForCausalLM\"]", "\"architectures\":[\"GPT2LMHeadModel\"]", "architectures[0]")]
    [InlineData("\"num_key_value_heads\":2", "\"num_key_value_heads\":3", "num_key_value_heads")]
    [InlineData("\"hidden_size\":64", "\"hidden_size\":-64", "hidden_size")]
    [InlineData("\"hidden_size\":64", "\"hidden_size\":\"64\"", "hidden_size")]
    [InlineData("\"bos_token_id\":1", "\"bos_token_id\":96", "bos_token_id")]
    [InlineData("\"rms_norm_eps\":1e-5", "\"rms_norm_eps\":0", "rms_norm_eps")]
    [InlineData("\"torch_dtype\":\"float32\"", "\"torch_dtype\":\"int8\"", "torch_dtype")]
    [InlineData("\"rope_theta\":10000.0,", "\"rope_theta\":10000.0,\"rope_scaling\":{\"type\":\"llama3\"},", "rope_scaling")]
    [InlineData("\"vocab_size\":96,", "\"vocab_size\":96,,", "config.json")]
    [InlineData("\"hidden_size\":64", "\"hidden_size\":1073741824", "hidden_size is 1073741824")]
    [InlineData("\"vocab_size\":96", "\"vocab_size\":2000000000", "vocab_size is 2000000000")]
    [InlineData("\"intermediate_size\":160", "\"intermediate_size\":1000000000", "intermediate_size is 1000000000")]
    [InlineData("\"num_hidden_layers\":2", "\"num_hidden_layers\":100000", "num_hidden_layers is 100000")]
    [InlineData("\"num_attention_heads\":4", "\"num_attention_heads\":3", "not divisible by num_attention_heads 3")]
    [InlineData("\"num_attention_heads\":4,\"num_key_value_heads\":2", "\"num_attention_heads\":4096,\"num_key_value_heads\":4096,\"head_dim\":16", "num_attention_heads is 4096")]
    [InlineData("\"max_position_embeddings\":128", "\"max_position_embeddings\":2147483647", "max_position_embeddings is 2147483647")]
    [InlineData("\"hidden_size\":64", "\"hidden_size\":64,\"head_dim\":65536", "head_dim is 65536")]
    public void Invalid_configs_fail_with_a_message_naming_the_field(string from, string to, string field)
    {
        var e = Assert.Throws<TailorException>(() => LlamaConfig.Parse(Llama.Replace(from, to), "m/config.json"));
        Assert.Contains(field, e.Message);
        Assert.StartsWith("m/config.json", e.Message);
    }

    [Fact]
    public void A_config_within_every_bound_but_larger_than_memory_is_refused_before_anything_is_allocated()
    {
        // Each size is allowed on its own; together they are about 200 TB of weights.
        var huge = LlamaConfig.Parse(Llama.Replace("\"hidden_size\":64", "\"hidden_size\":65536").Replace("\"intermediate_size\":160", "\"intermediate_size\":262144")
            .Replace("\"num_hidden_layers\":2", "\"num_hidden_layers\":1024"), "m/config.json");
        var e = Assert.Throws<TailorException>(() => huge.CheckFitsInMemory("m/config.json"));
        Assert.StartsWith("m/config.json: building this model needs about", e.Message, StringComparison.Ordinal);
        Assert.Contains("hidden_size 65536", e.Message, StringComparison.Ordinal);
        // The constructor checks before it builds a layer (a native allocation of that size would abort the process).
        Assert.StartsWith("config: building this model needs", Assert.Throws<TailorException>(() => new LlamaForCausalLM(huge)).Message, StringComparison.Ordinal);
        LlamaConfig.Parse(Llama).CheckFitsInMemory();                               // a small model fits
    }

    [Theory]
    [InlineData("tiny", 8192, 1_000_000)]
    public void Tiny_preset_is_under_a_million_parameters(string preset, int vocab, long limit) =>
        Assert.True(LlamaConfig.Preset(preset, vocab).ParameterCount() < limit);

    [Fact]
    public void Small_and_base_presets_have_the_benchmark_shapes()
    {
        Assert.Equal(5_868_800, LlamaConfig.Preset("small", 4096).ParameterCount());
        Assert.Equal(17_308_032, LlamaConfig.Preset("base", 8192).ParameterCount());
    }
}
