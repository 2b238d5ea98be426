using Tailor.Text;

namespace Tailor.Data.Instructions;

/// <summary>How an example is laid out as tokens.</summary>
public enum PromptFormat
{
    /// <summary>ChatML (<see cref="ChatTemplate"/>): every message as <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>.
    /// Trained: the content of every assistant message and the <c>&lt;|im_end|&gt;</c> that closes it.</summary>
    ChatMl,

    /// <summary>
    /// No chat tokens, for task fine-tuning of a base model: <c>prompt + "\n\n### Response:\n" + response + EOS</c>, where
    /// prompt is the system and user contents joined by a blank line and response the one assistant message. Trained:
    /// the response and EOS. Raw text (no prompt) is just <c>text + EOS</c>, all trained.
    /// </summary>
    Plain,
}

/// <summary>What to do with an example longer than the maximum length.</summary>
public enum TruncationPolicy
{
    /// <summary>Leave it out (counted in <see cref="EncodingStats.DroppedTooLong"/>).</summary>
    Drop,

    /// <summary>
    /// Cut the prompt from the left (its end, nearest the response, stays) so that the whole response fits. When the
    /// response alone does not fit, the prompt keeps at most half of the length and the response is cut on the right;
    /// such an example has lost its end-of-turn token and is counted in <see cref="EncodingStats.ResponseTruncated"/>.
    /// </summary>
    TruncatePromptLeft,
}

/// <summary>
/// One tokenized example. <see cref="Trained"/>[i] says whether token i is a training target (predicted from tokens
/// 0..i-1); token 0 is never predicted, whatever its flag. Labels for a causal LM are built from these flags by
/// <see cref="Packing"/>, already shifted.
/// </summary>
/// <param name="Ids">Token ids.</param>
/// <param name="Trained">Same length as <paramref name="Ids"/>: true where the loss is taken.</param>
public sealed record EncodedExample(int[] Ids, bool[] Trained)
{
    /// <summary>Number of tokens.</summary>
    public int Length => Ids.Length;

    /// <summary>Number of tokens the loss is taken on (positions 1.., since nothing predicts token 0).</summary>
    public int TargetCount
    {
        get
        {
            int n = 0;
            for (int i = 1; i < Trained.Length; i++) if (Trained[i]) n++;
            return n;
        }
    }
}

/// <summary>Counts from encoding a data set with a maximum length.</summary>
/// <param name="Examples">Examples given.</param>
/// <param name="Kept">Examples returned.</param>
/// <param name="DroppedTooLong">Left out because they were longer than the maximum (policy <see cref="TruncationPolicy.Drop"/>).</param>
/// <param name="DroppedNoTargets">Left out because no token was left to train on (empty response, or truncation left none).</param>
/// <param name="PromptTruncated">Kept with the start of the prompt cut off (whole response kept).</param>
/// <param name="ResponseTruncated">Kept with the end of the response cut off (no end-of-turn token: the model does not learn to stop).</param>
/// <param name="LongestBeforeTruncation">Longest example in tokens before truncation.</param>
/// <param name="MaxLength">The maximum length used.</param>
/// <param name="Policy">The truncation policy used.</param>
public sealed record EncodingStats(int Examples, int Kept, int DroppedTooLong, int DroppedNoTargets, int PromptTruncated, int ResponseTruncated,
    int LongestBeforeTruncation, int MaxLength, TruncationPolicy Policy);

/// <summary>Encoded examples and the counts of what truncation did.</summary>
public sealed record EncodedDataset(IReadOnlyList<EncodedExample> Examples, EncodingStats Stats);

/// <summary>
/// Turns <see cref="ChatExample"/>s into token ids with loss masks (<see cref="EncodedExample"/>), in ChatML or the
/// plain format (<see cref="PromptFormat"/>). System, user and template tokens are never trained.
/// </summary>
/// <remarks>
/// <para>The ids are exactly those of encoding the rendered conversation with special tokens parsed, as Hugging Face's
/// <c>apply_chat_template(tokenize=True)</c> does, with one deliberate difference: text inside a message that spells a
/// special token (a literal <c>&lt;|im_end|&gt;</c> in user data) is encoded as text, so data cannot end a turn.</para>
/// <para>Special tokens split the text before BPE (Hugging Face's order), so each message is encoded as the piece
/// <c>role\ncontent</c> between its delimiters, and the content's tokens are those after the role line's. In the rare
/// case that a token spans the boundary (content starting with newlines, which BPE may merge with the role line's
/// newline), that token counts as content and is trained.</para>
/// </remarks>
public sealed class ExampleEncoder
{
    /// <summary>Between prompt and response in <see cref="PromptFormat.Plain"/>.</summary>
    public const string PlainSeparator = "\n\n### Response:\n";

    private readonly TextTokenizer _tokenizer;
    private readonly int _imStart, _imEnd, _eos;
    private readonly int[] _newline;
    private readonly Dictionary<ChatRole, int[]> _roleLine = [];

    /// <summary>
    /// Creates an encoder. ChatML needs <c>&lt;|im_start|&gt;</c> and <c>&lt;|im_end|&gt;</c> in the vocabulary and a
    /// tokenizer whose chat_template is ChatML or unset (<see cref="ChatTemplate.EnsureChatMl"/>); the plain format
    /// needs an EOS token. <paramref name="source"/> names the tokenizer's folder in error messages.
    /// </summary>
    /// <exception cref="TailorException">The tokenizer lacks a needed token or has another chat format.</exception>
    public ExampleEncoder(TextTokenizer tokenizer, PromptFormat format = PromptFormat.ChatMl, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        Format = format;
        string where = source ?? "the tokenizer";
        if (format == PromptFormat.ChatMl)
        {
            ChatTemplate.EnsureChatMl(tokenizer, source);
            _imStart = tokenizer.TokenToId(ChatTemplate.StartToken)
                ?? throw new TailorException($"{where} has no {ChatTemplate.StartToken} token; ChatML needs {ChatTemplate.StartToken} and {ChatTemplate.EndToken}. Train the tokenizer with BpeTrainerOptions' default special tokens, or use the plain format.");
            _imEnd = tokenizer.TokenToId(ChatTemplate.EndToken)
                ?? throw new TailorException($"{where} has no {ChatTemplate.EndToken} token; ChatML needs {ChatTemplate.StartToken} and {ChatTemplate.EndToken}. Train the tokenizer with BpeTrainerOptions' default special tokens, or use the plain format.");
            StopId = _imEnd;
            foreach (ChatRole role in Enum.GetValues<ChatRole>())
                _roleLine[role] = [.. tokenizer.Encode(ChatMessage.Name(role) + "\n")];
            _newline = [.. tokenizer.Encode("\n")];
        }
        else
        {
            _eos = tokenizer.EosId
                ?? throw new TailorException($"{where} has no end-of-sequence token (eos_token in tokenizer_config.json); the plain format ends every response with it.");
            StopId = _eos;
            _newline = [];
        }
    }

    /// <summary>The layout used.</summary>
    public PromptFormat Format { get; }

    /// <summary>The token that ends a response: <c>&lt;|im_end|&gt;</c> for ChatML, EOS for the plain format. Generation stops on it.</summary>
    public int StopId { get; }

    /// <summary>Encodes one example, whole (no length limit).</summary>
    /// <exception cref="TailorException">The plain format got an example it cannot lay out (several assistant messages).</exception>
    public EncodedExample Encode(ChatExample example) => Build(example).Example;

    /// <summary>
    /// The ids a model is prompted with to answer <paramref name="messages"/> (which should not contain the answer):
    /// ChatML rendered with the generation prompt, or the plain format's prompt and separator.
    /// </summary>
    public int[] EncodePrompt(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (Format == PromptFormat.Plain)
        {
            string prompt = PlainPrompt(messages);
            return prompt.Length == 0 ? [] : [.. _tokenizer.Encode(prompt + PlainSeparator)];
        }

        List<int> ids = [];
        foreach (ChatMessage message in messages)
        {
            ids.Add(_imStart);
            ids.AddRange(_tokenizer.Encode(message.RoleName + "\n" + message.Content));
            ids.Add(_imEnd);
            ids.AddRange(_newline);
        }

        ids.Add(_imStart);
        ids.AddRange(_roleLine[ChatRole.Assistant]);
        return [.. ids];
    }

    /// <summary>
    /// Encodes a data set with a maximum length per example, applying <paramref name="policy"/> to longer ones and
    /// leaving out examples with nothing to train on. Order is kept.
    /// </summary>
    public EncodedDataset EncodeAll(IEnumerable<ChatExample> examples, int maxLength, TruncationPolicy policy = TruncationPolicy.TruncatePromptLeft)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        List<EncodedExample> kept = [];
        int total = 0, tooLong = 0, noTargets = 0, promptCut = 0, responseCut = 0, longest = 0;
        foreach (ChatExample example in examples)
        {
            total++;
            (EncodedExample full, int responseStart) = Build(example);
            longest = Math.Max(longest, full.Length);
            EncodedExample result = full;
            bool responseFits = true;
            if (full.Length > maxLength)
            {
                if (policy == TruncationPolicy.Drop)
                {
                    tooLong++;
                    continue;
                }

                int response = full.Length - responseStart;
                responseFits = response < maxLength;
                int promptKept = responseFits ? maxLength - response : Math.Min(responseStart, maxLength / 2);
                int from = responseStart - promptKept;
                int length = Math.Min(maxLength, full.Length - from);
                result = new EncodedExample(full.Ids[from..(from + length)], full.Trained[from..(from + length)]);
            }

            if (result.TargetCount == 0)
            {
                noTargets++;
                continue;
            }

            // Truncation counts describe kept examples only.
            if (!ReferenceEquals(result, full))
            {
                if (responseFits) promptCut++;
                else responseCut++;
            }

            kept.Add(result);
        }

        return new EncodedDataset(kept, new EncodingStats(total, kept.Count, tooLong, noTargets, promptCut, responseCut, longest, maxLength, policy));
    }

    // The full encoding and where the response (the last assistant message, with its header) starts.
    private (EncodedExample Example, int ResponseStart) Build(ChatExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        return Format == PromptFormat.ChatMl ? BuildChatMl(example) : BuildPlain(example);
    }

    private (EncodedExample, int) BuildChatMl(ChatExample example)
    {
        List<int> ids = [];
        List<bool> trained = [];
        int responseStart = 0;
        foreach (ChatMessage message in example.Messages)
        {
            bool assistant = message.Role == ChatRole.Assistant;
            if (assistant) responseStart = ids.Count;
            ids.Add(_imStart);
            trained.Add(false);
            int[] roleLine = _roleLine[message.Role];
            IReadOnlyList<int> piece = _tokenizer.Encode(message.RoleName + "\n" + message.Content);
            int contentFrom = CommonPrefix(roleLine, piece);
            for (int i = 0; i < piece.Count; i++)
            {
                ids.Add(piece[i]);
                trained.Add(assistant && i >= contentFrom);
            }

            ids.Add(_imEnd);
            trained.Add(assistant);
            foreach (int id in _newline)
            {
                ids.Add(id);
                trained.Add(false);
            }
        }

        return (new EncodedExample([.. ids], [.. trained]), responseStart);
    }

    private (EncodedExample, int) BuildPlain(ChatExample example)
    {
        IReadOnlyList<ChatMessage> messages = example.Messages;
        int assistants = messages.Count(m => m.Role == ChatRole.Assistant);
        if (assistants != 1 || messages[^1].Role != ChatRole.Assistant)
        {
            throw new TailorException(
                $"{example.Where}: the plain format takes system/user messages followed by one assistant message; this example has {assistants} assistant message(s)"
                + (messages.Count > 0 && messages[^1].Role != ChatRole.Assistant ? $" and ends with a {messages[^1].RoleName} message" : "")
                + ". Use the ChatML format for multi-turn data.");
        }

        string prompt = PlainPrompt(messages);
        string response = messages[^1].Content;
        List<int> ids;
        int responseFrom;
        if (prompt.Length == 0)
        {
            ids = [.. _tokenizer.Encode(response)];
            responseFrom = 0;
        }
        else
        {
            string head = prompt + PlainSeparator;
            IReadOnlyList<int> headIds = _tokenizer.Encode(head);
            ids = [.. _tokenizer.Encode(head + response)];
            responseFrom = CommonPrefix(headIds, ids);
        }

        ids.Add(_eos);
        bool[] trained = new bool[ids.Count];
        for (int i = responseFrom; i < ids.Count; i++) trained[i] = true;
        return (new EncodedExample([.. ids], trained), responseFrom);
    }

    private static string PlainPrompt(IReadOnlyList<ChatMessage> messages) =>
        string.Join("\n\n", messages.Where(m => m.Role != ChatRole.Assistant).Select(m => m.Content));

    private static int CommonPrefix(IReadOnlyList<int> prefix, IReadOnlyList<int> ids)
    {
        int n = 0;
        while (n < prefix.Count && n < ids.Count && prefix[n] == ids[n]) n++;
        return n;
    }
}
