using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Tailor.Generation;
using AI = Microsoft.Extensions.AI;
using Chat = Tailor.Text;

namespace Tailor.Serving;

/// <summary>
/// A Microsoft.Extensions.AI <see cref="IChatClient"/> over a <see cref="ServedModel"/>'s engine, so a .NET app can
/// use a Tailor model in-process exactly as it would use a remote one: the same prompt encoding, batching and sampling
/// as <c>tailor serve</c>'s <c>/v1/chat/completions</c>.
/// </summary>
/// <remarks>
/// Honours <see cref="ChatOptions.Temperature"/>, <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.TopK"/>,
/// <see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.StopSequences"/> and <see cref="ChatOptions.Seed"/>
/// (defaults as the server's: greedy, up to the rest of the context). <see cref="ChatOptions.Instructions"/> becomes a
/// leading system message. Tools, response formats and non-text content are refused with an
/// <see cref="ArgumentException"/> naming the option, rather than silently ignored. Messages with the tool role are refused too.
/// </remarks>
public sealed class TailorChatClient : IChatClient
{
    private readonly ServedModel _model;
    private readonly bool _ownsModel;

    /// <summary>Creates a client over <paramref name="model"/>; with <paramref name="ownsModel"/> disposing the client disposes the model.</summary>
    public TailorChatClient(ServedModel model, bool ownsModel = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _ownsModel = ownsModel;
        Metadata = new ChatClientMetadata("tailor", null, model.Id);
    }

    /// <summary>Provider "tailor" and the model's id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var (handle, id) = Submit(messages, options, cancellationToken);
        var result = await handle.CompleteAsync(cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new AI.ChatMessage(ChatRole.Assistant, result.Text))
        {
            ResponseId = id,
            ModelId = _model.Id,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Reason(result.FinishReason),
            Usage = Usage(result.PromptTokens, result.Ids.Count),
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AI.ChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (handle, id) = Submit(messages, options, cancellationToken);
        var created = DateTimeOffset.UtcNow;
        int generated = 0;
        await foreach (var e in handle.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (e.Id >= 0) generated++;
            if (e.Delta.Length > 0)
                yield return new ChatResponseUpdate(ChatRole.Assistant, e.Delta) { ResponseId = id, MessageId = id, ModelId = _model.Id, CreatedAt = created };
            if (e.FinishReason is not null)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(handle.PromptTokens, generated))])
                {
                    ResponseId = id,
                    MessageId = id,
                    ModelId = _model.Id,
                    CreatedAt = created,
                    FinishReason = Reason(e.FinishReason),
                };
            }
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_model)) return _model;
        return null;
    }

    /// <summary>Disposes the model when the client owns it.</summary>
    public void Dispose()
    {
        if (_ownsModel) _model.Dispose();
    }

    /// <summary>Maps chat options onto <see cref="SamplingOptions"/>; the message names the option that cannot be honoured.</summary>
    internal static SamplingOptions Sampling(ChatOptions? options, int promptTokens, int contextLength)
    {
        if (options is null) return new SamplingOptions { MaxNewTokens = Math.Max(0, contextLength - promptTokens) };
        if (options.Tools is { Count: > 0 }) throw new ArgumentException("ChatOptions.Tools: Tailor models do not call tools; leave Tools empty.", nameof(options));
        if (options.ResponseFormat is not null and not ChatResponseFormatText)
            throw new ArgumentException("ChatOptions.ResponseFormat: only text is supported; leave it null.", nameof(options));
        if (options.Seed is long seed && (seed < int.MinValue || seed > int.MaxValue))
            throw new ArgumentException($"ChatOptions.Seed {seed}: must fit in 32 bits.", nameof(options));
        var sampling = new SamplingOptions
        {
            MaxNewTokens = options.MaxOutputTokens ?? Math.Max(0, contextLength - promptTokens),
            Temperature = options.Temperature ?? 0,
            TopP = options.TopP ?? 1.0,
            TopK = options.TopK ?? 0,
            Seed = options.Seed is long s ? (int)s : null,
            Stop = options.StopSequences is { } stops ? [.. stops] : [],
        };
        try
        {
            sampling.Validate();
        }
        catch (TailorException e)
        {
            throw new ArgumentException($"ChatOptions: {e.Message}", nameof(options), e);
        }
        return sampling;
    }

    private (GenerationHandle Handle, string Id) Submit(IEnumerable<AI.ChatMessage> messages, ChatOptions? options, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var chat = new List<Chat.ChatMessage>();
        if (!string.IsNullOrEmpty(options?.Instructions)) chat.Add(new(Chat.ChatRole.System, options.Instructions));
        foreach (var message in messages)
        {
            if (message.Contents.Any(c => c is not TextContent))
                throw new ArgumentException($"a {message.Role} message has {message.Contents.First(c => c is not TextContent).GetType().Name}; Tailor models read text only.", nameof(messages));
            Chat.ChatRole role = message.Role == ChatRole.System ? Chat.ChatRole.System
                : message.Role == ChatRole.User ? Chat.ChatRole.User
                : message.Role == ChatRole.Assistant ? Chat.ChatRole.Assistant
                : throw new ArgumentException($"message role '{message.Role}': use system, user or assistant.", nameof(messages));
            chat.Add(new(role, message.Text));
        }
        var prompt = _model.EncodeChat(chat);
        var sampling = Sampling(options, prompt.Count, _model.ContextLength);
        return (_model.Engine.Submit(prompt, sampling, cancel), "chatcmpl-" + Guid.NewGuid().ToString("N"));
    }

    private static ChatFinishReason Reason(string reason) => reason == "length" ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(int prompt, int completion) =>
        new() { InputTokenCount = prompt, OutputTokenCount = completion, TotalTokenCount = prompt + completion };
}
