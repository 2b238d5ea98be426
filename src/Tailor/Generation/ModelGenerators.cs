using Tailor.Model;

namespace Tailor.Generation;

/// <summary>Generators over a loaded model folder (the model knows nothing of generation; generation knows models).</summary>
public static class ModelGenerators
{
    /// <summary>
    /// A generator over <paramref name="model"/> whose text decoding skips special tokens. With
    /// <paramref name="cpuDecoder"/>, single prompts decode on a <see cref="CpuDecoder"/> (CPU only; tested to give the
    /// reference path's tokens and logits). The CpuDecoder implements the Llama/Qwen2 forward only: other architectures
    /// (GPT-2) always decode on the TorchSharp path, which <see cref="UsesCpuDecoder"/> reports so callers can say so.
    /// </summary>
    public static TextGenerator CreateGenerator(this PretrainedModel model, bool cpuDecoder = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new(model.Model, ids => model.Tokenizer.Decode(ids, skipSpecial: true), model.StopIds,
            cpuDecoder && model.Model is LlamaForCausalLM llama ? new CpuDecoder(llama) : null);
    }

    /// <summary>Whether <see cref="CreateGenerator"/>(cpuDecoder: true) gets the CpuDecoder (Llama/Qwen2) rather than the TorchSharp path.</summary>
    public static bool UsesCpuDecoder(this PretrainedModel model, bool requested)
    {
        ArgumentNullException.ThrowIfNull(model);
        return requested && model.Model is LlamaForCausalLM;
    }
}
