using Tailor.Formats;

namespace Tailor.Model;

/// <summary>One tensor of a checkpoint as its header describes it.</summary>
public sealed record TensorSummary(string Name, string Dtype, IReadOnlyList<long> Shape, long Elements);

/// <summary>What <c>tailor info</c> shows: the config, every tensor's shape and dtype, and the totals. No weights are read.</summary>
public sealed record ModelInfo(string Folder, IDecoderConfig Config, IReadOnlyList<TensorSummary> Tensors, long Parameters,
    long WeightBytes, IReadOnlyDictionary<string, long> ParametersByDtype)
{
    /// <summary>Reads config.json and the safetensors headers (single file or shards) of an HF folder.</summary>
    public static ModelInfo Read(string folder)
    {
        if (!Directory.Exists(folder))
            throw new TailorException($"{folder}: no such model folder. Give a Hugging Face folder with config.json and model.safetensors.");
        var config = CausalLMs.ReadConfig(folder);
        using var weights = CheckpointWeights.Open(folder, SafetensorsReadMode.Streamed);
        var tensors = weights.Tensors
            .Select(t => new TensorSummary(t.Info.Name, t.Info.Dtype, t.Info.Shape, t.Info.Shape.Aggregate(1L, (a, b) => a * b)))
            .OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        long bytes = weights.Tensors.Sum(t => t.Info.ByteLength);
        // GPT-2 checkpoints saved by old transformers carry causal-mask buffers (h.N.attn.bias): listed, not parameters.
        var weightsOnly = tensors.Where(t => !(config is Gpt2Config && (t.Name.EndsWith(".attn.bias", StringComparison.Ordinal) || t.Name.EndsWith(".attn.masked_bias", StringComparison.Ordinal)))).ToList();
        var byDtype = weightsOnly.GroupBy(t => t.Dtype).ToDictionary(g => g.Key, g => g.Sum(t => t.Elements));
        return new ModelInfo(folder, config, tensors, weightsOnly.Sum(t => t.Elements), bytes, byDtype);
    }
}
