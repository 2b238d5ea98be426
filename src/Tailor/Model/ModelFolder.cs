using System.Text.Json.Nodes;
using Tailor.Formats;
using Tailor.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Model;

/// <summary>
/// A model ready to run: the HF folder's config, weights and tokenizer, loaded onto a device. Owns the model.
/// </summary>
public sealed class PretrainedModel : IDisposable
{
    private PretrainedModel(string folder, CausalLM model, TextTokenizer tokenizer)
    {
        Folder = folder;
        Model = model;
        Tokenizer = tokenizer;
    }

    /// <summary>The folder it was loaded from.</summary>
    public string Folder { get; }

    /// <summary>The network: a <see cref="LlamaForCausalLM"/> or a <see cref="Gpt2LMHeadModel"/>, as config.json says.</summary>
    public CausalLM Model { get; }

    /// <summary>The folder's tokenizer.</summary>
    public TextTokenizer Tokenizer { get; }

    /// <summary>The HF config.</summary>
    public IDecoderConfig Config => Model.DecoderConfig;

    /// <summary>Ids that end generation: config.json's eos_token_id, the tokenizer's EOS, and &lt;|im_end|&gt; when present.</summary>
    public IReadOnlyList<int> StopIds
    {
        get
        {
            var ids = new HashSet<int>(Config.EosTokenId ?? []);
            if (Tokenizer.EosId is int eos) ids.Add(eos);
            if (Tokenizer.TokenToId("<|im_end|>") is int imEnd) ids.Add(imEnd);
            return [.. ids.Order()];
        }
    }

    /// <summary>
    /// Loads config.json, the weights (strictly checked against the config) and tokenizer.json from
    /// <paramref name="folder"/>; weights are converted to <paramref name="dtype"/> (default: float32).
    /// </summary>
    public static PretrainedModel Load(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        if (!Directory.Exists(folder))
            throw new TailorException($"{folder}: no such model folder. Give a Hugging Face folder with config.json, model.safetensors and tokenizer.json.");
        var config = CausalLMs.ReadConfig(folder);
        if (config is LlamaConfig llama) llama.CheckFitsInMemory(Path.Combine(folder, HfCheckpoint.ConfigFile));
        var tokenizer = TextTokenizer.Load(folder);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new TailorException($"{folder}: tokenizer.json has {tokenizer.VocabSize} tokens but config.json's vocab_size is {config.VocabSize}; they belong to different models.");
        var model = CausalLMs.Create(config, initStd: 0);
        try
        {
            model.LoadWeights(folder);
            if (dtype != ScalarType.Float32) model.to(dtype);
            if (device is not null && device.type != DeviceType.CPU) model.to(device);
            model.eval();
            return new PretrainedModel(folder, model, tokenizer);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A loaded model under the name of <paramref name="folder"/>, taking ownership of <paramref name="model"/>
    /// (a base grown to an adapter's vocabulary, see <c>AdapterEmbeddings.LoadBase</c>).</summary>
    internal static PretrainedModel From(string folder, CausalLM model, TextTokenizer tokenizer) => new(folder, model, tokenizer);

    /// <summary>Frees the weights.</summary>
    public void Dispose() => Model.Dispose();
}

/// <summary>Writes a model as a Hugging Face folder: config.json, model.safetensors, tokenizer files, generation_config.json.</summary>
public static class ModelFolder
{
    /// <summary>
    /// Saves atomically (a crash leaves the previous folder intact). <paramref name="dtype"/> is the dtype written
    /// (float32 for training checkpoints, bfloat16 for shipping); <paramref name="extraFiles"/> may add files to the
    /// staging folder before it is swapped in.
    /// </summary>
    public static void Save(string folder, CausalLM model, TextTokenizer tokenizer, ScalarType dtype,
        Action<string>? extraFiles = null)
    {
        var config = model.DecoderConfig.Clone();
        config.TorchDtype = dtype switch
        {
            ScalarType.BFloat16 => "bfloat16",
            ScalarType.Float16 => "float16",
            _ => "float32",
        };
        var generation = new JsonObject
        {
            ["bos_token_id"] = config.BosTokenId,
            ["eos_token_id"] = config.EosTokenId is { Length: 1 } one ? JsonValue.Create(one[0]) : new JsonArray([.. (config.EosTokenId ?? []).Select(i => JsonValue.Create(i))]),
            ["pad_token_id"] = config.PadTokenId,
            ["do_sample"] = false,
        };
        HfCheckpoint.Save(folder, model, config.ToJson(), new HfSaveOptions
        {
            TiedEmbeddings = config.TieWordEmbeddings,
            Dtype = dtype,
            ExtraFiles = new Dictionary<string, string> { [HfCheckpoint.GenerationConfigFile] = generation.ToJsonString(new() { WriteIndented = true }) },
            WriteExtraFiles = staging =>
            {
                tokenizer.Save(staging);
                extraFiles?.Invoke(staging);
            },
        });
    }
}
