using Tailor.Lora;
using Tailor.Model;
using Tailor.Text;
using static TorchSharp.torch;
using Tailor.Data.Instructions;

namespace Tailor.Serving;

/// <summary>Which chat format a served model is prompted with.</summary>
public enum ChatFormat
{
    /// <summary>The model's own chat_template (tokenizer_config.json), which is ChatML.</summary>
    ModelChatMl,

    /// <summary>
    /// The model has no chat_template (a base model): ChatML is used, as llama.cpp's server does for a model without
    /// one. Its tokenizer must have <c>&lt;|im_start|&gt;</c> and <c>&lt;|im_end|&gt;</c> (every Tailor tokenizer does).
    /// </summary>
    FallbackChatMl,

    /// <summary>
    /// The model's chat_template is another format, which Tailor cannot render: chat requests are refused (completions
    /// still work), because prompting it with ChatML would not match how it was trained.
    /// </summary>
    Unsupported,
}

/// <summary>
/// A model ready to serve: weights (with a LoRA adapter merged in, if one was given), tokenizer, chat prompt encoding,
/// and a <see cref="GenerationEngine"/> over them. What the HTTP server and <see cref="TailorChatClient"/> share.
/// Owns the model and the engine.
/// </summary>
public sealed class ServedModel : IDisposable
{
    private readonly ExampleEncoder? _chat;
    private readonly string? _chatError;

    /// <summary>Wraps a loaded model (taking ownership) and starts an engine over it.</summary>
    /// <param name="model">The model; disposed with this object.</param>
    /// <param name="id">The name clients use (<c>model</c> in requests).</param>
    /// <param name="options">Engine limits.</param>
    public ServedModel(PretrainedModel model, string id, EngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        Model = model;
        Id = id;
        if (model.Tokenizer.ChatTemplate is not null && !ChatTemplate.IsChatMl(model.Tokenizer.ChatTemplate))
        {
            ChatFormat = ChatFormat.Unsupported;
            _chatError = $"{model.Folder}: the model's chat_template is not ChatML, the only chat format Tailor renders; "
                + "use /v1/completions with a prompt you format yourself, or serve a model whose chat_template is ChatML or unset.";
        }
        else
        {
            ChatFormat = model.Tokenizer.ChatTemplate is null ? ChatFormat.FallbackChatMl : ChatFormat.ModelChatMl;
            try
            {
                _chat = new ExampleEncoder(model.Tokenizer, PromptFormat.ChatMl, model.Folder);
            }
            catch (TailorException e)
            {
                ChatFormat = ChatFormat.Unsupported;
                _chatError = e.Message;
            }
        }
        Engine = new GenerationEngine(model.Model, ids => model.Tokenizer.Decode(ids, skipSpecial: true), model.StopIds, options);
    }

    /// <summary>The name clients use for this model.</summary>
    public string Id { get; }

    /// <summary>The loaded model.</summary>
    public PretrainedModel Model { get; }

    /// <summary>The engine that decodes requests.</summary>
    public GenerationEngine Engine { get; }

    /// <summary>How chat messages become a prompt.</summary>
    public ChatFormat ChatFormat { get; }

    /// <summary>The model's context in tokens.</summary>
    public int ContextLength => Engine.ContextLength;

    /// <summary>
    /// The most characters of prompt text (summed over chat messages) that can encode to at most
    /// <paramref name="tokens"/> tokens: <c>tokens × </c><see cref="TextTokenizer.MaxCharsPerToken"/>. A longer prompt
    /// cannot fit, so it is refused before it is tokenized (tokenizing costs memory and time in proportion to its
    /// length). Null when the tokenizer gives no such bound.
    /// </summary>
    public long? MaxPromptChars(int tokens) =>
        Model.Tokenizer.MaxCharsPerToken is int perToken ? (long)Math.Max(0, tokens) * perToken : null;

    /// <summary>
    /// Loads the HF folder <paramref name="folder"/> (see <see cref="PretrainedModel.Load"/>), loads and merges the PEFT
    /// LoRA adapter in <paramref name="adapter"/> when given, and starts an engine. The id is the adapter's folder name
    /// when there is one, else the model's.
    /// </summary>
    /// <exception cref="TailorException">A folder is missing or malformed, or the adapter does not fit the model.</exception>
    public static ServedModel Load(string folder, string? adapter = null, Device? device = null, ScalarType dtype = ScalarType.Float32,
        EngineOptions? options = null, string? id = null)
    {
        var model = adapter is null ? PretrainedModel.Load(folder, device, dtype) : AdapterEmbeddings.LoadBase(folder, adapter, device, dtype);
        try
        {
            if (adapter is not null)
            {
                LoraAdapter.Load(model.Model, adapter);
                LoraAdapter.Merge(model.Model);                       // plain Linear layers again: no adapter cost per token
                model.Model.eval();
            }
            return new ServedModel(model, id ?? FolderName(adapter ?? folder), options);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The prompt ids for a completion: the text as the tokenizer encodes it (special-token text stays text).</summary>
    public IReadOnlyList<int> EncodeText(string prompt) => Model.Tokenizer.Encode(prompt);

    /// <summary>
    /// The prompt ids for a chat: ChatML with the generation prompt, each message's content encoded as text (a literal
    /// <c>&lt;|im_end|&gt;</c> in a message cannot end it).
    /// </summary>
    /// <exception cref="TailorException">The model's chat format is <see cref="ChatFormat.Unsupported"/>.</exception>
    public IReadOnlyList<int> EncodeChat(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (_chat is null) throw new TailorException(_chatError!);
        return _chat.EncodePrompt(messages);
    }

    /// <summary>Stops the engine (cancelling what runs) and frees the weights.</summary>
    public void Dispose()
    {
        Engine.Dispose();
        Model.Dispose();
    }

    private static string FolderName(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));
}
