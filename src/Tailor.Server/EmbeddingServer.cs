using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tailor.Serving;

namespace Tailor.Server;

/// <summary>
/// <c>tailor serve</c> for a BERT/RoBERTa encoder: OpenAI's <c>POST /v1/embeddings</c> over a
/// <see cref="TailorEmbeddingGenerator"/> (the same code path as the in-process IEmbeddingGenerator and `tailor embed`),
/// plus <c>GET /v1/models</c> and <c>GET /health</c>. Chat and completions answer 404 with a message saying so.
/// </summary>
/// <remarks>
/// Request: <c>model</c> (the served id), <c>input</c> (a string or an array of up to <see cref="MaxInputs"/> strings;
/// token-id arrays are refused), <c>encoding_format</c> <c>float</c> (default) or <c>base64</c> (little-endian float32,
/// as OpenAI sends it), <c>dimensions</c> (only the model's own width: these models were not trained for truncation, so
/// Tailor refuses rather than truncating as OpenAI's v3 models allow), <c>user</c> (ignored). Each input may have at
/// most <see cref="MaxCharsPerToken"/> × the model's max tokens characters, checked before anything is tokenized; the
/// tokens past the model's limit are cut, as sentence-transformers and `tailor embed` do. Errors are OpenAI's
/// <c>{"error": {...}}</c> with 400 for bad input.
/// </remarks>
public sealed class EmbeddingServer : IAsyncDisposable
{
    /// <summary>Most inputs in one request: OpenAI's own limit.</summary>
    public const int MaxInputs = 2048;

    /// <summary>Characters allowed per token of the model's limit: a WordPiece or BPE token rarely covers more than a few, so 16 leaves room for any real text and bounds the work.</summary>
    public const int MaxCharsPerToken = 16;

    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly WebApplication _app;
    private readonly TailorEmbeddingGenerator _generator;
    private readonly string _id;
    private readonly int _dimension, _maxChars;
    private readonly string? _apiKey;
    private readonly long _created;

    private EmbeddingServer(WebApplication app, TailorEmbeddingGenerator generator, int dimension, int maxTokens, string? apiKey, long created)
    {
        _app = app;
        _generator = generator;
        _id = generator.ModelId;
        _dimension = dimension;
        _maxChars = MaxCharsPerToken * maxTokens;
        _apiKey = apiKey;
        _created = created;
    }

    /// <summary>The address it listens on (the real port when 0 was asked for).</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>Binds and starts serving <paramref name="generator"/>'s encoder; the generator is not owned.</summary>
    public static async Task<EmbeddingServer> StartAsync(TailorEmbeddingGenerator generator, ServerOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(options);
        var encoder = (Tailor.Model.PretrainedEncoder)generator.GetService(typeof(Tailor.Model.PretrainedEncoder))!;
        IPAddress address = options.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(options.Host, out var ip) ? ip
            : throw new TailorException($"--host {options.Host}: give an IP address to bind (127.0.0.1 for this machine only, 0.0.0.0 for every interface).");
        if (options.Port is < 0 or > 65535) throw new TailorException($"--port {options.Port}: must be between 0 and 65535.");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        // Room for 64 inputs at their character limit with every character JSON-escaped (6 bytes), plus 64 KiB for the rest; Kestrel answers 413 beyond.
        long maxBody = Math.Min(64L << 20, (64 << 10) + 6L * MaxCharsPerToken * encoder.MaxTokens * 64);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(address, options.Port);
            k.Limits.MaxRequestBodySize = maxBody;
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        if (options.ExtraLogger is not null) builder.Logging.AddProvider(options.ExtraLogger);
        builder.Logging.SetMinimumLevel(options.LogRequests ? LogLevel.Information : LogLevel.Warning);
        var app = builder.Build();
        var server = new EmbeddingServer(app, generator, encoder.Dimension, encoder.MaxTokens, options.ApiKey,
            new DateTimeOffset(Directory.GetLastWriteTimeUtc(encoder.Folder)).ToUnixTimeSeconds());
        server.Map();
        if (options.ApiKey is null && !IPAddress.IsLoopback(address))
            app.Logger.LogWarning("Listening on {Host} without an API key: anyone who can reach port {Port} can use the model.", options.Host, options.Port);
        await app.StartAsync(cancel).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        server.BaseAddress = new Uri(addresses.First().Replace("[::]", "localhost", StringComparison.Ordinal).TrimEnd('/') + "/");
        return server;
    }

    /// <summary>Completes when the server has stopped.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    /// <summary>Stops and frees the host.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private void Map()
    {
        _app.Use(async (context, next) =>
        {
            if (_apiKey is not null && context.Request.Path.StartsWithSegments("/v1")
                && !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                    Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString()), Encoding.UTF8.GetBytes("Bearer " + _apiKey)))
            {
                await Write(context, new ApiError(StatusCodes.Status401Unauthorized,
                    "Incorrect or missing API key. Send it as the header 'Authorization: Bearer KEY' (the --api-key the server was started with).",
                    "invalid_request_error", null, "invalid_api_key")).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
        });
        _app.MapGet("/health", context => WriteJson(context, 200, new JsonObject { ["status"] = "ok" }));
        _app.MapGet("/v1/models", context => WriteJson(context, 200, new JsonObject { ["object"] = "list", ["data"] = new JsonArray(ModelObject()) }));
        _app.MapGet("/v1/models/{id}", context => (string?)context.Request.RouteValues["id"] == _id
            ? WriteJson(context, 200, ModelObject())
            : Write(context, new ApiError(404, $"The model '{context.Request.RouteValues["id"]}' does not exist; this server serves '{_id}'.", "invalid_request_error", "model", "model_not_found")));
        foreach (string path in new[] { "/v1/chat/completions", "/v1/completions" })
            _app.MapPost(path, context => Write(context, new ApiError(404,
                $"'{_id}' is an embedding model (a BERT/RoBERTa encoder): it has no {path}. Use POST /v1/embeddings, or serve a Llama/Qwen2/GPT-2 folder for text generation.",
                "invalid_request_error", null, "unsupported_endpoint")));
        _app.MapPost("/v1/embeddings", Embeddings);
        _app.MapFallback(context => Write(context, new ApiError(404,
            $"No route {context.Request.Method} {context.Request.Path}. This server answers GET /v1/models, POST /v1/embeddings and GET /health.",
            "invalid_request_error", null, "unknown_url")));
    }

    private JsonObject ModelObject() => new()
    {
        ["id"] = _id,
        ["object"] = "model",
        ["created"] = _created,
        ["owned_by"] = "tailor",
        ["dimensions"] = _dimension,
    };

    private async Task Embeddings(HttpContext context)
    {
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);   // bounded by Kestrel's MaxRequestBodySize
            JsonObject body;
            try
            {
                body = JsonNode.Parse(buffer.ToArray()) as JsonObject
                    ?? throw new ApiException(ApiError.BadRequest("The request body must be a JSON object."));
            }
            catch (JsonException e)
            {
                throw new ApiException(ApiError.BadRequest($"The request body is not valid JSON ({e.Message.Split('\n')[0]})."));
            }
            var texts = Inputs(body);
            string format = body["encoding_format"] switch
            {
                null => "float",
                JsonValue v when v.TryGetValue(out string? s) && s is "float" or "base64" => s!,
                var other => throw new ApiException(ApiError.BadRequest($"'encoding_format' is {other?.ToJsonString()}; use \"float\" or \"base64\".", "encoding_format")),
            };
            if (body["model"] is JsonValue m && m.TryGetValue(out string? model) && model != _id)
                throw new ApiException(new ApiError(404, $"The model '{model}' does not exist; this server serves '{_id}'.", "invalid_request_error", "model", "model_not_found"));
            if (body["dimensions"] is { } dims && !(dims is JsonValue dv && dv.TryGetValue(out int d) && d == _dimension))
                throw new ApiException(ApiError.BadRequest($"'dimensions' is {dims.ToJsonString()}, but '{_id}' makes {_dimension}-dimensional embeddings and was not trained for shorter ones; leave 'dimensions' out or give {_dimension}.", "dimensions"));
            var result = await _generator.GenerateAsync(texts, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            var data = new JsonArray();
            for (int i = 0; i < result.Count; i++)
            {
                var vector = result[i].Vector;
                JsonNode embedding = format == "base64"
                    ? JsonValue.Create(Convert.ToBase64String(LittleEndianBytes(vector.Span)))
                    : new JsonArray([.. vector.ToArray().Select(x => JsonValue.Create(x))]);
                data.Add(new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = embedding });
            }
            long tokens = result.Usage?.InputTokenCount ?? 0;
            await WriteJson(context, 200, new JsonObject
            {
                ["object"] = "list",
                ["data"] = data,
                ["model"] = _id,
                ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
            }).ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await Write(context, e.Error).ConfigureAwait(false);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await Write(context, new ApiError(413, "The request body is larger than this server reads; send fewer or shorter inputs.", "invalid_request_error")).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
    }

    /// <summary>The input strings, checked for count and length before any tokenizing.</summary>
    private List<string> Inputs(JsonObject body)
    {
        var node = body["input"] ?? throw new ApiException(ApiError.BadRequest("'input' is missing: give a string or an array of strings.", "input"));
        List<JsonNode?> items = node is JsonArray array ? [.. array] : [node];
        if (items.Count == 0) throw new ApiException(ApiError.BadRequest("'input' is an empty array; give at least one string.", "input"));
        if (items.Count > MaxInputs) throw new ApiException(ApiError.BadRequest($"'input' has {items.Count} items; at most {MaxInputs} per request.", "input"));
        var texts = new List<string>(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            string where = node is JsonArray ? $"input[{i}]" : "input";
            if (items[i] is not JsonValue v || !v.TryGetValue(out string? text))
                throw new ApiException(ApiError.BadRequest(items[i] is JsonArray || (items[i] is JsonValue n && n.TryGetValue(out long _))
                    ? $"'{where}' is a token-id array; this server takes strings only."
                    : $"'{where}' must be a string.", where));
            if (text.Length == 0) throw new ApiException(ApiError.BadRequest($"'{where}' is an empty string; every input needs text.", where));
            if (text.Length > _maxChars)
                throw new ApiException(ApiError.BadRequest($"'{where}' has {text.Length} characters; at most {_maxChars} ({MaxCharsPerToken} per token of the model's limit). Longer text is cut to the model's tokens anyway: send less.", where));
            texts.Add(text);
        }
        return texts;
    }

    /// <summary>float32 values as little-endian bytes, OpenAI's base64 layout.</summary>
    public static byte[] LittleEndianBytes(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    private static Task Write(HttpContext context, ApiError error) => WriteJson(context, error.Status, error.ToJson());

    private static async Task WriteJson(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(Json), Encoding.UTF8, context.RequestAborted).ConfigureAwait(false);
    }
}
