using System.Globalization;
using Tailor.Model;
using Tailor.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Training;

/// <summary>
/// TRL's <c>setup_chat_format</c> for a base whose tokenizer lacks the ChatML tokens (GPT-2, or a user's Llama/Qwen2
/// base): the tokens added (<see cref="ChatTokens.AddTo"/>), the embedding and head grown to them
/// (<see cref="EmbeddingResize.Resize"/>, transformers' mean resizing), config.json's eos_token_id led by
/// <c>&lt;|im_end|&gt;</c> and its pad_token_id the tokenizer's. Owns the grown model.
/// </summary>
/// <remarks>
/// Full tuning trains every row of the grown embedding, like any weight. LoRA freezes the base, so the new rows would
/// stay at their initial values, all near the same mean: <c>&lt;|im_start|&gt;</c> and <c>&lt;|im_end|&gt;</c> could
/// not be told apart. So under LoRA the new rows train too and the old rows stay frozen, as PEFT's
/// <c>trainable_token_indices</c> does (<see cref="TrainNewRows"/>): the gradient of the old rows is zeroed each step and
/// the embedding is left out of weight decay, so old rows are bit for bit the base's. The adapter then carries the whole
/// grown embedding and head, as PEFT saves them when the vocabulary was resized (<c>save_embedding_layers</c>).
/// </remarks>
public sealed class ChatVocabulary : IDisposable
{
    private ChatVocabulary(CausalLM model, TextTokenizer tokenizer, int firstNewId, IReadOnlyList<string> added)
    {
        Model = model;
        Tokenizer = tokenizer;
        FirstNewId = firstNewId;
        Added = added;
    }

    /// <summary>The grown model (owned).</summary>
    public CausalLM Model { get; }

    /// <summary>The tokenizer with the ChatML tokens, EOS <c>&lt;|im_end|&gt;</c> and the ChatML chat_template.</summary>
    public TextTokenizer Tokenizer { get; }

    /// <summary>The id of the first added token: rows below it are the base's.</summary>
    public int FirstNewId { get; }

    /// <summary>The added tokens, in id order.</summary>
    public IReadOnlyList<string> Added { get; }

    /// <summary>
    /// Adds the ChatML tokens when <paramref name="tokenizer"/> lacks them and grows a copy of <paramref name="model"/>
    /// to match; null (nothing done, nothing drawn from any random generator) when the tokenizer has them. New rows are
    /// drawn with a generator seeded from <paramref name="seed"/>, so the same seed gives the same model. Says what it
    /// did in one line.
    /// </summary>
    /// <exception cref="TailorException">The tokenizer's chat_template is set and is not ChatML.</exception>
    public static ChatVocabulary? Setup(CausalLM model, TextTokenizer tokenizer, long seed, string source, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(say);
        if (!ChatTokens.AreMissing(tokenizer)) return null;
        var grown = ChatTokens.AddTo(tokenizer, out var added, source);
        int firstNew = tokenizer.VocabSize;
        int oldRows = model.DecoderConfig.VocabSize;
        int rows = Math.Max(oldRows, grown.VocabSize);
        var generator = new Generator(unchecked((ulong)seed));
        var resized = EmbeddingResize.Resize(model, rows, Math.Min(firstNew, oldRows), generator, EmbeddingResize.TokenIdsOf(grown));
        string ids = string.Join(", ", added.Select(t => $"{t} {grown.TokenToId(t)}"));
        say($"ChatML: {source} has no {string.Join(" or ", added.Where(t => t != ChatTokens.PadToken))}, so (as TRL's setup_chat_format) added {ids} as special tokens, "
            + $"grew the embedding{(model.DecoderConfig.TieWordEmbeddings ? " (tied head)" : " and the head")} from {oldRows.ToString("N0", CultureInfo.InvariantCulture)} to {rows.ToString("N0", CultureInfo.InvariantCulture)} rows "
            + "(new rows drawn near the mean of the old ones, as transformers' resize_token_embeddings), "
            + $"EOS {ChatTemplate.EndToken}, pad {grown.IdToToken(grown.PadId ?? -1)}, the ChatML chat_template");
        return new ChatVocabulary(resized, grown, firstNew, added);
    }

    /// <summary>
    /// Under LoRA: makes the embedding and head trainable again (LoRA froze them) so that the added tokens' rows learn;
    /// <see cref="MaskOldRows"/> keeps the base's rows fixed. Returns the parameters to keep out of weight decay.
    /// </summary>
    public IReadOnlyList<Parameter> TrainNewRows()
    {
        var layers = EmbeddingResize.Layers(Model).Select(l => l.Weight).Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>().ToList();
        foreach (var p in layers) p.requires_grad = true;
        return layers;
    }

    /// <summary>Zeroes the gradient of the base's rows of the embedding and head (call after backward, before the step).</summary>
    public void MaskOldRows()
    {
        using var _ = no_grad();
        foreach (var (_, weight) in EmbeddingResize.Layers(Model))
            weight.grad?.narrow(0, 0, FirstNewId).zero_();
    }

    /// <summary>The trainable rows' count, for the log: new rows × width of each distinct layer.</summary>
    public long NewRowParameters() =>
        EmbeddingResize.Layers(Model).Select(l => l.Weight).Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>().Sum(w => (w.shape[0] - FirstNewId) * w.shape[1]);

    /// <summary>Frees the grown model.</summary>
    public void Dispose() => Model.Dispose();
}
