using System.ComponentModel;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tailor.Serving;

namespace Tailor.Server;

/// <summary>Where and how <see cref="TailorServer"/> listens; each default says why.</summary>
public sealed record ServerOptions
{
    /// <summary>IP address to bind. Loopback by default: a model server with no key should not be reachable from the network by accident.</summary>
    [Description("address to bind: loopback (this machine only) by default, so a server with no key is not reachable by accident; 0.0.0.0 for every interface (without --api-key that logs a warning)")]
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (see <see cref="TailorServer.BaseAddress"/>). 8080 as llama.cpp's and vLLM's servers use nearby ports.</summary>
    [Description("TCP port (0 picks a free one): 8080, near llama.cpp's and vLLM's")]
    public int Port { get; init; } = 8080;

    /// <summary>When set, every /v1 request needs <c>Authorization: Bearer KEY</c> (401 otherwise). /health stays open.</summary>
    [Description("require 'Authorization: Bearer KEY' on /v1 requests (401 otherwise; /health stays open); null = the TAILOR_API_KEY environment variable, else no key")]
    public string? ApiKey { get; init; }

    /// <summary>On shutdown, how long running and queued requests may take to finish before they are cancelled.</summary>
    [Description("seconds running and queued requests may take to finish on shutdown before they are cancelled: 10 lets a typical small-model answer finish while keeping Ctrl-C prompt")]
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Log each request to the console (ASP.NET Core's logger at Information); off keeps the console to warnings.</summary>
    [Description("log each HTTP request to the console (ASP.NET Core's request log); off keeps the console to warnings")]
    public bool LogRequests { get; init; }

    /// <summary>A further log destination besides the console (tests read the log through it); null for none.</summary>
    public ILoggerProvider? ExtraLogger { get; init; }

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host)) throw new TailorException("host is empty: give an IP address to bind (127.0.0.1, 0.0.0.0).");
        if (Port is < 0 or > 65535) throw new TailorException($"port = {Port}: must be between 0 and 65535.");
        if (ApiKey is "") throw new TailorException("api_key = '': give a key or leave the option out.");
        if (Drain < TimeSpan.Zero || Drain > TimeSpan.FromHours(1)) throw new TailorException($"drain = {Drain.TotalSeconds}: must be between 0 and 3600 seconds.");
    }
}

/// <summary>
/// <c>tailor serve</c>: an OpenAI-compatible HTTP server (Kestrel) over a <see cref="ServedModel"/>. A thin shell: it
/// parses requests, submits them to the model's <see cref="GenerationEngine"/> and writes OpenAI-shaped JSON or
/// server-sent events. Endpoints: <c>GET /health</c>, <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>,
/// <c>POST /v1/completions</c>, <c>POST /v1/chat/completions</c>.
/// </summary>
public sealed class TailorServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly WebApplication _app;
    private readonly ServedModel _model;
    private readonly ServerOptions _options;
    private readonly long _created;
    private Task _engineStop = Task.CompletedTask;
    private readonly long _maxRequestBytes;

    private TailorServer(WebApplication app, ServedModel model, ServerOptions options, long maxRequestBytes)
    {
        _app = app;
        _model = model;
        _options = options;
        _maxRequestBytes = maxRequestBytes;
        _created = new DateTimeOffset(Directory.GetLastWriteTimeUtc(model.Model.Folder)).ToUnixTimeSeconds();
    }

    /// <summary>The address it listens on, e.g. <c>http://127.0.0.1:8080/</c> (the real port when 0 was asked for).</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>Binds and starts serving; returns once the socket listens. The model is not owned.</summary>
    /// <exception cref="TailorException">The host is not an IP address (or "localhost"), or the port is out of range.</exception>
    public static async Task<TailorServer> StartAsync(ServedModel model, ServerOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        IPAddress address = options.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(options.Host, out var ip) ? ip
            : throw new TailorException($"--host {options.Host}: give an IP address to bind (127.0.0.1 for this machine only, 0.0.0.0 for every interface).");
        if (options.Port is < 0 or > 65535) throw new TailorException($"--port {options.Port}: must be between 0 and 65535.");

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        long maxBody = MaxRequestBytes(model);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(address, options.Port);
            k.Limits.MaxRequestBodySize = maxBody;
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        if (options.ExtraLogger is not null) builder.Logging.AddProvider(options.ExtraLogger);
        builder.Logging.SetMinimumLevel(options.LogRequests ? LogLevel.Information : LogLevel.Warning);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.Drain + TimeSpan.FromSeconds(5));
        var app = builder.Build();
        var server = new TailorServer(app, model, options, maxBody);
        server.Map();
        if (options.ApiKey is null && !IPAddress.IsLoopback(address))
            app.Logger.LogWarning("Listening on {Host} without an API key: anyone who can reach port {Port} can use the model. "
                + "Give --api-key KEY (or set TAILOR_API_KEY), or bind 127.0.0.1.", options.Host, options.Port);
        // Stop taking requests at once; let the running ones finish (or be cancelled after the drain time) while Kestrel
        // waits for their responses to complete.
        app.Lifetime.ApplicationStopping.Register(() => server._engineStop = model.Engine.StopAsync(options.Drain));
        await app.StartAsync(cancel).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        server.BaseAddress = new Uri(addresses.First().Replace("[::]", "localhost", StringComparison.Ordinal).TrimEnd('/') + "/");
        return server;
    }

    /// <summary>
    /// The largest request body the server reads (Kestrel answers 413 beyond it): room for a prompt that fills the
    /// context (<see cref="ServedModel.MaxPromptChars"/>) with every character JSON-escaped (<c>\uXXXX</c>, 6 bytes), 128
    /// bytes of JSON per message for as many messages as the context has tokens (each takes at least one), and 64 KiB
    /// for the other fields. 8 MiB when the tokenizer gives no character bound. Kestrel's own default, 30 MB, lets one
    /// request cost hundreds of megabytes to tokenize.
    /// </summary>
    public static long MaxRequestBytes(ServedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.MaxPromptChars(model.ContextLength) is long chars
            ? (64 << 10) + 6 * chars + 128L * model.ContextLength
            : 8L << 20;
    }

    /// <summary>Completes when the server has stopped (Ctrl-C, SIGTERM or <see cref="StopAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    /// <summary>Graceful stop: no new requests; running ones finish within the drain time or are cancelled.</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _engineStop.ConfigureAwait(false);
    }

    /// <summary>Stops (gracefully) and frees the host.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private void Map()
    {
        _app.Use(async (context, next) =>
        {
            if (_options.ApiKey is not null && context.Request.Path.StartsWithSegments("/v1") && !Authorized(context.Request))
            {
                await WriteError(context, new ApiError(StatusCodes.Status401Unauthorized,
                    "Incorrect or missing API key. Send it as the header 'Authorization: Bearer KEY' (the --api-key the server was started with).",
                    "invalid_request_error", null, "invalid_api_key")).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
        });
        _app.MapGet("/health", Health);
        _app.MapGet("/v1/models", context => WriteJson(context, 200, new JsonObject { ["object"] = "list", ["data"] = new JsonArray(ModelObject()) }));
        _app.MapGet("/v1/models/{id}", context => (string?)context.Request.RouteValues["id"] == _model.Id
            ? WriteJson(context, 200, ModelObject())
            : WriteError(context, new ApiError(404, $"The model '{context.Request.RouteValues["id"]}' does not exist; this server serves '{_model.Id}'.", "invalid_request_error", "model", "model_not_found")));
        _app.MapPost("/v1/completions", context => Guarded(context, Completions));
        _app.MapPost("/v1/chat/completions", context => Guarded(context, ChatCompletions));
        _app.MapFallback(context => WriteError(context, new ApiError(404,
            $"Invalid URL ({context.Request.Method} {context.Request.Path}); this server has GET /v1/models, POST /v1/completions, POST /v1/chat/completions and GET /health.",
            "invalid_request_error", null, "unknown_url")));
    }

    private bool Authorized(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim()), Encoding.UTF8.GetBytes(_options.ApiKey!));
    }

    private Task Health(HttpContext context)
    {
        var stats = _model.Engine.Stats;
        return WriteJson(context, 200, new JsonObject
        {
            ["status"] = _model.Engine.Accepting ? "ok" : "stopping",
            ["model"] = _model.Id,
            ["active"] = stats.Active,
            ["queued"] = stats.Queued,
            ["completed"] = stats.Completed,
            ["cancelled"] = stats.Cancelled,
            ["rejected"] = stats.Rejected,
            ["generated_tokens"] = stats.GeneratedTokens,
            ["max_batch"] = _model.Engine.Options.MaxBatch,
            ["queue_capacity"] = _model.Engine.Options.Queue,
        });
    }

    private JsonObject ModelObject() => new()
    {
        ["id"] = _model.Id,
        ["object"] = "model",
        ["created"] = _created,
        ["owned_by"] = "tailor",
        ["context_length"] = _model.ContextLength,
        // How chat messages are turned into a prompt: the model's own ChatML template, ChatML as a fallback for a model
        // without one (as llama.cpp does), or unsupported (another template: use /v1/completions).
        ["chat_template"] = _model.ChatFormat switch
        {
            ChatFormat.ModelChatMl => "model (chatml)",
            ChatFormat.FallbackChatMl => "chatml (fallback: the model has no chat_template)",
            _ => "unsupported (the model's chat_template is not ChatML; use /v1/completions)",
        },
    };

    /// <summary>Runs a handler, answering its <see cref="ApiException"/>s and the engine's refusals as OpenAI-style errors.</summary>
    private async Task Guarded(HttpContext context, Func<HttpContext, JsonElement, Task> handler)
    {
        try
        {
            await GuardedCore(context, handler).ConfigureAwait(false);
        }
        catch (Exception e) when (ClientGone(context, e))
        {
            // A client that disconnects, or sends its body too slowly for Kestrel's minimum data rate, is the client's
            // business: one line at Information (shown with --log-requests), no stack, nothing to answer.
            _app.Logger.LogInformation("{Method} {Path} from {Client}: dropped, the client went away or sent too slowly ({Reason})",
                context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress, e.Message);
        }
    }

    private static bool ClientGone(HttpContext context, Exception e) => e switch
    {
        BadHttpRequestException bad => bad.StatusCode != StatusCodes.Status413PayloadTooLarge,
        IOException => true,
        OperationCanceledException => context.RequestAborted.IsCancellationRequested,
        _ => false,
    };

    private async Task GuardedCore(HttpContext context, Func<HttpContext, JsonElement, Task> handler)
    {
        byte[] body;
        try
        {
            body = await ReadBody(context.Request, context.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteError(context, new ApiError(StatusCodes.Status413PayloadTooLarge,
                $"The request body is larger than this server reads ({_maxRequestBytes} bytes, room for a prompt that fills the model's "
                + $"{_model.ContextLength}-token context). Shorten the prompt or messages.", "invalid_request_error", null, "request_too_large")).ConfigureAwait(false);
            return;
        }
        int bom = body.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        if (!Utf8.IsValid(body.AsSpan(bom)))
        {
            await WriteError(context, ApiError.BadRequest(
                $"The request body is not valid UTF-8 (at byte {bom + FirstInvalidUtf8(body.AsSpan(bom))}). Send JSON encoded as UTF-8 with Content-Type: application/json.",
                null, "invalid_encoding")).ConfigureAwait(false);
            return;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.AsMemory(bom));
        }
        catch (JsonException e)
        {
            await WriteError(context, ApiError.BadRequest(
                $"We could not parse the JSON body of your request ({e.Message}). Send a JSON object with Content-Type: application/json.",
                null, "invalid_json")).ConfigureAwait(false);
            return;
        }
        using (document)
        {
            try
            {
                await handler(context, document.RootElement).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away; its generation was cancelled through the same token. Nothing to answer.
            }
            catch (Exception e) when (!context.Response.HasStarted && ToApiError(e) is { } error)
            {
                if (error.Status == StatusCodes.Status429TooManyRequests) context.Response.Headers.RetryAfter = "1";
                await WriteError(context, error).ConfigureAwait(false);
            }
            catch (Exception e) when (!context.Response.HasStarted)
            {
                // A bug or a native failure, not the client's doing: log it whole, answer OpenAI's 500 shape.
                _app.Logger.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
                await WriteError(context, new ApiError(StatusCodes.Status500InternalServerError,
                    $"The server failed while processing the request ({e.GetType().Name}: {e.Message}); see the server log.", "server_error")).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The whole body; Kestrel throws a 413 <see cref="BadHttpRequestException"/> past <see cref="MaxRequestBytes"/>.</summary>
    private static async Task<byte[]> ReadBody(HttpRequest request, CancellationToken cancel)
    {
        using var buffer = new MemoryStream(request.ContentLength is long n and > 0 and <= 1 << 20 ? (int)n : 0);
        await request.Body.CopyToAsync(buffer, cancel).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>The offset of the first byte that does not start a well-formed UTF-8 sequence (for an error message).</summary>
    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int at = 0;
        while (at < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[at..], out _, out int consumed) != System.Buffers.OperationStatus.Done) return at;
            at += consumed;
        }
        return at;
    }

    private static ApiError? ToApiError(Exception e) => e switch
    {
        ApiException api => api.Error,
        EngineBusyException => new ApiError(StatusCodes.Status429TooManyRequests, e.Message, "rate_limit_error", null, "queue_full"),
        EngineStoppedException => new ApiError(StatusCodes.Status503ServiceUnavailable, e.Message, "server_error", null, "shutting_down"),
        ContextLengthException => ApiError.BadRequest($"This model's maximum context length is {((ContextLengthException)e).ContextLength} tokens. {e.Message}", "messages", "context_length_exceeded"),
        OperationCanceledException => new ApiError(StatusCodes.Status503ServiceUnavailable, "the server shut down before the request finished; retry.", "server_error", null, "shutting_down"),
        TailorException => ApiError.BadRequest(e.Message),
        _ => null,
    };

    private async Task ChatCompletions(HttpContext context, JsonElement body)
    {
        var request = OpenAiRequest.ParseChat(body);
        CheckModel(request);
        CheckPromptChars(request.Messages.Sum(m => (long)m.Content.Length), request, chat: true);
        IReadOnlyList<int> prompt;
        try
        {
            prompt = _model.EncodeChat(request.Messages);
        }
        catch (TailorException e)
        {
            throw new ApiException(ApiError.BadRequest(e.Message, "messages", "unsupported_chat_template"));
        }
        await Generate(context, request, prompt, chat: true).ConfigureAwait(false);
    }

    private async Task Completions(HttpContext context, JsonElement body)
    {
        var request = OpenAiRequest.ParseCompletion(body);
        CheckModel(request);
        if (request.PromptText is { } text) CheckPromptChars(text.Length, request, chat: false);
        IReadOnlyList<int> prompt = request.PromptIds ?? _model.EncodeText(request.PromptText!);
        if (request.PromptIds?.FirstOrDefault(id => id >= _model.Model.Config.VocabSize) is int bad && bad >= _model.Model.Config.VocabSize)
            throw new ApiException(ApiError.BadRequest($"prompt: token id {bad} is outside the vocabulary (0..{_model.Model.Config.VocabSize - 1}).", "prompt", "invalid_value"));
        if (prompt.Count == 0) throw new ApiException(ApiError.BadRequest("prompt is empty; give at least one character.", "prompt", "invalid_value"));
        await Generate(context, request, prompt, chat: false).ConfigureAwait(false);
    }

    private void CheckModel(OpenAiRequest request)
    {
        if (request.Model != _model.Id)
            throw new ApiException(ApiError.BadRequest($"The model '{request.Model}' does not exist; this server serves '{_model.Id}' (GET /v1/models).", "model", "model_not_found"));
    }

    /// <summary>
    /// Refuses, before tokenizing, a prompt with more characters than the tokens left for it could hold (the context
    /// less max_tokens, or less 1 without it): tokenizing costs memory and time in proportion to the text, and such a
    /// prompt could only end in the context-length error anyway.
    /// </summary>
    private void CheckPromptChars(long chars, OpenAiRequest request, bool chat)
    {
        int budget = _model.ContextLength - (request.MaxTokens ?? 1);
        if (_model.MaxPromptChars(budget) is not long max || chars <= max) return;
        string what = chat ? "messages" : "prompt";
        string reserved = request.MaxTokens is null ? "1 for the completion" : $"{request.MaxTokens} for {request.MaxTokensField}";
        throw new ApiException(ApiError.BadRequest(
            $"This model's maximum context length is {_model.ContextLength} tokens. However, your {what} {(chat ? "have" : "has")} {chars} characters, more than "
            + $"the {max} that the {Math.Max(0, budget)} tokens left ({reserved}) can hold with this tokenizer ({max / Math.Max(1, budget)} characters per token at most). "
            + $"Please reduce the length of the {what}{(request.MaxTokens is null ? "" : $" or {request.MaxTokensField}")}.",
            request.MaxTokens is null ? what : request.MaxTokensField, "context_length_exceeded"));
    }

    private async Task Generate(HttpContext context, OpenAiRequest request, IReadOnlyList<int> prompt, bool chat)
    {
        // Without a limit a chat answer may use the rest of the context (as OpenAI's chat API); the legacy completions
        // API's documented default is 16 tokens.
        int maxTokens = request.MaxTokens ?? (chat ? Math.Max(1, _model.ContextLength - prompt.Count) : 16);
        if ((long)prompt.Count + maxTokens > _model.ContextLength)
            throw new ApiException(ApiError.BadRequest(
                $"This model's maximum context length is {_model.ContextLength} tokens. However, you requested {prompt.Count + (long)maxTokens} tokens "
                + $"({prompt.Count} in the {(chat ? "messages" : "prompt")}, {maxTokens} in {(request.MaxTokens is null ? "the completion" : request.MaxTokensField)}). "
                + $"Please reduce the length of the {(chat ? "messages" : "prompt")} or {request.MaxTokensField}.",
                request.MaxTokens is null ? (chat ? "messages" : "prompt") : request.MaxTokensField, "context_length_exceeded"));
        var sampling = request.Sampling with { MaxNewTokens = maxTokens };
        var handle = _model.Engine.Submit(prompt, sampling, context.RequestAborted);
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (request.Stream) await Stream(context, request, handle, id, created, chat).ConfigureAwait(false);
        else
        {
            var result = await handle.CompleteAsync(context.RequestAborted).ConfigureAwait(false);
            JsonObject choice = chat
                ? new() { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = result.Text, ["refusal"] = null }, ["logprobs"] = null, ["finish_reason"] = result.FinishReason }
                : new() { ["text"] = result.Text, ["index"] = 0, ["logprobs"] = null, ["finish_reason"] = result.FinishReason };
            await WriteJson(context, 200, new JsonObject
            {
                ["id"] = id,
                ["object"] = chat ? "chat.completion" : "text_completion",
                ["created"] = created,
                ["model"] = _model.Id,
                ["choices"] = new JsonArray(choice),
                ["usage"] = Usage(result.PromptTokens, result.Ids.Count),
            }).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Server-sent events as OpenAI sends them: <c>data: {chunk}</c> per piece of text, a chunk with the finish_reason,
    /// with include_usage a last chunk with empty choices and the usage (every other chunk then has "usage": null), and
    /// <c>data: [DONE]</c>. A failure after the first byte is sent as <c>data: {"error": ...}</c> and ends the stream.
    /// </summary>
    private async Task Stream(HttpContext context, OpenAiRequest request, GenerationHandle handle, string id, long created, bool chat)
    {
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var cancel = context.RequestAborted;

        JsonObject Chunk(JsonObject? delta, string? text, string? finish)
        {
            JsonObject choice = chat
                ? new() { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish }
                : new() { ["text"] = text, ["index"] = 0, ["logprobs"] = null, ["finish_reason"] = finish };
            var chunk = new JsonObject
            {
                ["id"] = id,
                ["object"] = chat ? "chat.completion.chunk" : "text_completion",
                ["created"] = created,
                ["model"] = _model.Id,
                ["choices"] = new JsonArray(choice),
            };
            if (request.IncludeUsage) chunk["usage"] = null;
            return chunk;
        }

        int generated = 0;
        try
        {
            if (chat) await Send(response, Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null), cancel).ConfigureAwait(false);
            await foreach (var e in handle.ReadAllAsync(cancel).ConfigureAwait(false))
            {
                if (e.Id >= 0) generated++;
                if (e.Delta.Length > 0)
                    await Send(response, Chunk(chat ? new JsonObject { ["content"] = e.Delta } : null, e.Delta, null), cancel).ConfigureAwait(false);
                if (e.FinishReason is not null)
                    await Send(response, Chunk(chat ? new JsonObject() : null, "", e.FinishReason), cancel).ConfigureAwait(false);
            }
            if (request.IncludeUsage)
            {
                await Send(response, new JsonObject
                {
                    ["id"] = id,
                    ["object"] = chat ? "chat.completion.chunk" : "text_completion",
                    ["created"] = created,
                    ["model"] = _model.Id,
                    ["choices"] = new JsonArray(),
                    ["usage"] = Usage(handle.PromptTokens, generated),
                }, cancel).ConfigureAwait(false);
            }
            await response.WriteAsync("data: [DONE]\n\n", cancel).ConfigureAwait(false);
            await response.Body.FlushAsync(cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancel.IsCancellationRequested && ToApiError(e) is { } error)
        {
            await response.WriteAsync($"data: {error.ToJson().ToJsonString(Json)}\n\n", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task Send(HttpResponse response, JsonObject chunk, CancellationToken cancel)
    {
        await response.WriteAsync($"data: {chunk.ToJsonString(Json)}\n\n", cancel).ConfigureAwait(false);
        await response.Body.FlushAsync(cancel).ConfigureAwait(false);
    }

    private static JsonObject Usage(int prompt, int completion) => new()
    {
        ["prompt_tokens"] = prompt,
        ["completion_tokens"] = completion,
        ["total_tokens"] = prompt + completion,
    };

    private static Task WriteError(HttpContext context, ApiError error) => WriteJson(context, error.Status, error.ToJson());

    private static async Task WriteJson(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(body.ToJsonString(Json), context.RequestAborted).ConfigureAwait(false);
    }
}
