using System.Globalization;
using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>
/// How Hugging Face decoder tensors map to llama.cpp's GGUF tensors: names (convert_hf_to_gguf's maps for the llama and
/// gpt2 architectures) and the rotary row order of q/k projections.
/// </summary>
public static class GgufNames
{
    /// <summary>The GGUF tensor name of a GPT-2 state-dict key (llama.cpp's gpt2 tensor map).</summary>
    public static string Gpt2TensorName(string hfName)
    {
        ArgumentNullException.ThrowIfNull(hfName);
        switch (hfName)
        {
            case "transformer.wte.weight": return "token_embd.weight";
            case "transformer.wpe.weight": return "position_embd.weight";
            case "transformer.ln_f.weight": return "output_norm.weight";
            case "transformer.ln_f.bias": return "output_norm.bias";
            case HfCheckpoint.LmHeadWeight: return "output.weight";
        }
        const string prefix = "transformer.h.";
        if (hfName.StartsWith(prefix, StringComparison.Ordinal))
        {
            int dot = hfName.IndexOf('.', prefix.Length);
            if (dot > 0 && int.TryParse(hfName.AsSpan(prefix.Length, dot - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int layer))
            {
                string rest = hfName[(dot + 1)..];
                int last = rest.LastIndexOf('.');
                string? mapped = last < 0 ? null : rest[..last] switch
                {
                    "ln_1" => "attn_norm",
                    "attn.c_attn" => "attn_qkv",
                    "attn.c_proj" => "attn_output",
                    "ln_2" => "ffn_norm",
                    "mlp.c_fc" => "ffn_up",
                    "mlp.c_proj" => "ffn_down",
                    _ => null,
                };
                if (mapped is not null) return $"blk.{layer}.{mapped}{rest[last..]}";
            }
        }
        throw new TailorException($"tensor '{hfName}' has no GGUF name in llama.cpp's gpt2 architecture.");
    }

    /// <summary>
    /// Reorders the rows of a q_proj/k_proj weight (H·D, C) or bias (H·D) head by head from Hugging Face's rotate-half
    /// layout (pair i = rows i and i + D/2) to llama.cpp's interleaved layout (pair i = rows 2i and 2i + 1): row 2i + j of
    /// a head takes old row j·D/2 + i. This is convert_hf_to_gguf's LlamaModel.permute.
    /// </summary>
    public static Tensor PermuteRotaryRows(Tensor weight, int heads)
    {
        ArgumentNullException.ThrowIfNull(weight);
        long rows = weight.shape[0], half = rows / heads / 2;
        if (weight.dim() == 1)
            return weight.view(heads, 2, half).transpose(1, 2).reshape(rows);                     // (H·D)
        long cols = weight.shape[1];
        return weight.view(heads, 2, half, cols).transpose(1, 2).reshape(rows, cols);            // (H·D, C)
    }

    /// <summary>The GGUF tensor name of an HF state-dict key (llama.cpp's convert_hf_to_gguf mapping).</summary>
    public static string TensorName(string hfName)
    {
        ArgumentNullException.ThrowIfNull(hfName);
        switch (hfName)
        {
            case HfCheckpoint.EmbedTokensWeight: return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case HfCheckpoint.LmHeadWeight: return "output.weight";
        }
        const string prefix = "model.layers.";
        if (hfName.StartsWith(prefix, StringComparison.Ordinal))
        {
            int dot = hfName.IndexOf('.', prefix.Length);
            if (dot > 0 && int.TryParse(hfName.AsSpan(prefix.Length, dot - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int layer))
            {
                string rest = hfName[(dot + 1)..];
                string? mapped = rest switch
                {
                    "input_layernorm.weight" => "attn_norm.weight",
                    "post_attention_layernorm.weight" => "ffn_norm.weight",
                    "self_attn.q_proj.weight" => "attn_q.weight",
                    "self_attn.k_proj.weight" => "attn_k.weight",
                    "self_attn.v_proj.weight" => "attn_v.weight",
                    "self_attn.o_proj.weight" => "attn_output.weight",
                    "self_attn.q_proj.bias" => "attn_q.bias",
                    "self_attn.k_proj.bias" => "attn_k.bias",
                    "self_attn.v_proj.bias" => "attn_v.bias",
                    "mlp.gate_proj.weight" => "ffn_gate.weight",
                    "mlp.up_proj.weight" => "ffn_up.weight",
                    "mlp.down_proj.weight" => "ffn_down.weight",
                    _ => null,
                };
                if (mapped is not null) return $"blk.{layer}.{mapped}";
            }
        }
        throw new TailorException($"tensor '{hfName}' has no GGUF name; export knows the tensors of Llama and Qwen2 decoders only.");
    }
}
