using System.ComponentModel;

namespace Tailor.Cli.Options;

/// <summary>Every option of <c>tailor tokenizer train</c>, with its default and reason.</summary>
public sealed record TokenizerTrainOptions
{
    /// <summary>Training text files.</summary>
    [Description("training text: .jsonl (the \"text\" field of each line) or plain text (repeatable)")]
    public IReadOnlyList<string> Input { get; set; } = [];

    /// <summary>Vocabulary size.</summary>
    [Description("vocabulary size including the 256 byte tokens and the special tokens: 8192 keeps the embedding small next to a ~6M-17M model")]
    public int VocabSize { get; set; } = 8192;

    /// <summary>Merge threshold.</summary>
    [Description("a pair must occur at least N times to be merged: 2, as Hugging Face's BPE trainer")]
    public int MinFrequency { get; set; } = 2;

    /// <summary>Output folder.</summary>
    [Description("folder to write tokenizer.json and tokenizer_config.json into (required)")]
    public string? Output { get; set; }

    /// <summary>Throws a <see cref="TailorException"/> naming the first missing or bad value.</summary>
    public void Validate()
    {
        if (Input.Count == 0) throw new TailorException("give at least one --input FILE.");
        if (string.IsNullOrEmpty(Output)) throw new TailorException("give --output DIR.");
        if (VocabSize < 257) throw new TailorException($"vocab_size = {VocabSize}: must be at least 257 (the 256 bytes and one merge).");
        if (MinFrequency < 1) throw new TailorException($"min_frequency = {MinFrequency}: must be 1 or more.");
    }
}

/// <summary>Every option of <c>tailor tokenizer encode</c>.</summary>
public sealed record TokenizerEncodeOptions
{
    /// <summary>Tokenizer.</summary>
    [Description("a tokenizer.json, or a model folder holding one (required)")]
    public string? Tokenizer { get; set; }

    /// <summary>Special tokens in the text.</summary>
    [Description("turn special tokens written in the text (<|im_start|>) into their ids")]
    public bool Special { get; set; }
}

/// <summary>Every option of <c>tailor tokenizer decode</c>.</summary>
public sealed record TokenizerDecodeOptions
{
    /// <summary>Tokenizer.</summary>
    [Description("a tokenizer.json, or a model folder holding one (required)")]
    public string? Tokenizer { get; set; }

    /// <summary>Leave special tokens out.</summary>
    [Description("leave special tokens out of the text")]
    public bool SkipSpecial { get; set; }
}
