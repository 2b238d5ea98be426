using System.ComponentModel;
using Tailor.Model;

namespace Tailor.Cli.Options;

/// <summary>Every option of <c>tailor embed</c>, with its default and reason.</summary>
public sealed record EmbedOptions
{
    /// <summary>Encoder.</summary>
    [Description("encoder folder (BertModel/RobertaModel, sentence-transformers or plain HF), or all-MiniLM-L6-v2 / snowflake-arctic-embed-xs (required)")]
    public string? Model { get; set; }

    /// <summary>Pooling.</summary>
    [Description("mean, cls or max; null = the folder's 1_Pooling/config.json, mean without one")]
    public string? Pooling { get; set; }

    /// <summary>L2 normalisation.</summary>
    [Description("L2-normalise each embedding; null = whether the folder's modules.json has a Normalize module")]
    public bool? Normalize { get; set; }

    /// <summary>JSON output.</summary>
    [Description("print one JSON document {model, pooling, normalize, dimension, data: [{index, text, tokens, embedding}]}")]
    public bool Json { get; set; }

    /// <summary>Texts per forward pass.</summary>
    [Description("texts per forward pass: 32, as sentence-transformers' encode (1 to 4096)")]
    public int BatchSize { get; set; } = 32;

    /// <summary>Throws a <see cref="TailorException"/> naming the first missing or bad value.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Model)) throw new TailorException("give --model DIR|NAME.");
        if (Pooling is not null && !EncoderPooling.Modes.Contains(Pooling))
            throw new TailorException($"pooling = {Pooling}: use {string.Join(", ", EncoderPooling.Modes)}.");
        if (BatchSize is < 1 or > 4096) throw new TailorException($"batch_size = {BatchSize}: must be between 1 and 4096.");
    }
}
