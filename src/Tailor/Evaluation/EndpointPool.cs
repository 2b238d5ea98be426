using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Evaluation;

/// <summary>What one server of an <see cref="EndpointPool"/> did.</summary>
/// <param name="Address">The server's base URL.</param>
/// <param name="Requests">Requests it answered.</param>
/// <param name="Failures">Requests it failed (connection error, timeout, HTTP 5xx/429, unreadable body); each was retried elsewhere.</param>
/// <param name="CompletionTokens">Completion tokens it reported (usage.completion_tokens).</param>
/// <param name="ItemsPerSecond">Requests answered per second of the pool's wall time.</param>
/// <param name="TokensPerSecond">Completion tokens per second of the pool's wall time.</param>
public sealed record EndpointStats(string Address, int Requests, int Failures, long CompletionTokens, double ItemsPerSecond, double TokensPerSecond);

/// <summary>
/// Several OpenAI-compatible servers of one model (vLLM, llama.cpp, Ollama, <c>tailor serve</c> replicas) used as one:
/// each request goes to the server with the fewest requests in flight, a request that fails on one server for a reason
/// another might not share (connection refused or reset, timeout, HTTP 5xx or 429, a body that is not JSON) is sent to
/// another, and a server that fails three times in a row is left out while any other is up. The caller keeps the items'
/// order, so with greedy decoding the results equal one server's.
/// </summary>
/// <remarks>
/// An HTTP 4xx other than 408/429 is the request's fault, not the server's, and is not retried: the same model would
/// refuse it anywhere. When every server has failed an item the pool throws one line naming each server's error.
/// </remarks>
public sealed class EndpointPool : IDisposable
{
    /// <summary>Requests kept in flight per server: enough to keep a batching server busy, few enough not to queue long.</summary>
    public const int RequestsPerServer = 4;

    /// <summary>Consecutive failures after which a server is left out while another is up.</summary>
    public const int FailuresBeforeDown = 3;

    private readonly Server[] _servers;
    private readonly Lock _gate = new();
    private readonly Stopwatch _clock = new();
    private int _next;

    /// <summary>Opens one HTTP client per URL of the comma-separated <paramref name="endpoints"/> list.</summary>
    /// <exception cref="TailorException">A URL is not an absolute http(s) URL, or one is given twice.</exception>
    public EndpointPool(string endpoints, string? apiKey, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var urls = endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0) throw new TailorException("endpoint: give one or more http(s) base URLs, comma-separated, such as http://127.0.0.1:8080/v1.");
        _servers = new Server[urls.Length];
        for (int i = 0; i < urls.Length; i++)
        {
            if (!Uri.TryCreate(urls[i].TrimEnd('/') + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new TailorException($"endpoint = {urls[i]}: give an http(s) base URL such as http://127.0.0.1:8080/v1.");
            if (_servers.Take(i).Any(s => s.Http.BaseAddress == uri)) throw new TailorException($"endpoint {uri} is listed twice; list each server once.");
            var http = new HttpClient { BaseAddress = uri, Timeout = timeout };
            if (!string.IsNullOrEmpty(apiKey)) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            _servers[i] = new Server(http);
        }
    }

    /// <summary>The servers' base URLs, in the order given.</summary>
    public IReadOnlyList<string> Addresses => [.. _servers.Select(s => s.Address)];

    /// <summary>Requests worth keeping in flight over the whole pool.</summary>
    public int Parallelism => RequestsPerServer * _servers.Length;

    /// <summary>The model ids server <paramref name="index"/> lists under GET models.</summary>
    /// <exception cref="TailorException">The server cannot be reached or does not answer with a model list.</exception>
    public IReadOnlyList<string> Models(int index)
    {
        var http = _servers[index].Http;
        JsonNode? models;
        try
        {
            models = JsonNode.Parse(http.GetStringAsync("models").GetAwaiter().GetResult());
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException)
        {
            throw new TailorException($"endpoint {http.BaseAddress}: GET models failed ({e.Message}); check the URL (it should end in /v1) or give --endpoint-model.");
        }
        return [.. (models?["data"] as JsonArray ?? []).Select(m => m?["id"]?.GetValue<string>()).OfType<string>()];
    }

    /// <summary>
    /// POSTs <paramref name="body"/> to <paramref name="path"/> on the least busy server, retrying on the others as
    /// described on the class, and returns the parsed response.
    /// </summary>
    /// <param name="path">Relative to the base URL, e.g. <c>chat/completions</c>.</param>
    /// <param name="body">The JSON request.</param>
    /// <param name="item">The item's id, for error messages.</param>
    /// <param name="cancel">Stops waiting; nothing is retried after it fires.</param>
    public JsonNode Post(string path, string body, string item, CancellationToken cancel)
    {
        lock (_gate) if (!_clock.IsRunning) _clock.Start();
        var tried = new List<(Server Server, string Error)>();
        while (true)
        {
            var server = Choose(tried.Select(t => t.Server));
            if (server is null)
                throw new TailorException($"item {item}: every endpoint failed ({string.Join("; ", tried.Select(t => $"{t.Server.Address}{path}: {t.Error}"))}); "
                    + "check that the servers are up and serve the same model.");
            string? error = null;
            try
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = server.Http.PostAsync(path, content, cancel).GetAwaiter().GetResult();
                string text = response.Content.ReadAsStringAsync(cancel).GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode)
                {
                    var json = JsonNode.Parse(text) ?? throw new JsonException("the body is JSON null");
                    server.Succeeded(json["usage"]?["completion_tokens"]?.GetValue<int>() ?? 0);
                    return json;
                }
                string shown = text[..Math.Min(300, text.Length)];
                if ((int)response.StatusCode is >= 400 and < 500 && response.StatusCode is not (HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests))
                {
                    server.Done();
                    throw new TailorException($"endpoint {server.Address}{path}: HTTP {(int)response.StatusCode} for item {item}: {shown}");
                }
                error = $"HTTP {(int)response.StatusCode} {shown}";
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or InvalidOperationException
                                      || (e is TaskCanceledException && !cancel.IsCancellationRequested))
            {
                error = e is TaskCanceledException ? $"no answer within {server.Http.Timeout.TotalSeconds:0} s" : e.Message.Split('\n')[0];
            }
            catch
            {
                server.Done();
                throw;
            }
            server.Failed();
            tried.Add((server, error));
        }
    }

    /// <summary>What each server did so far, in the order given.</summary>
    public IReadOnlyList<EndpointStats> Stats()
    {
        double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
        return [.. _servers.Select(s => new EndpointStats(s.Address, s.Requests, s.Failures, s.Tokens, s.Requests / seconds, s.Tokens / seconds))];
    }

    /// <summary>One line per server for the log: requests, failures, items/s and tokens/s.</summary>
    public IEnumerable<string> Describe() => Stats().Select(s => string.Create(CultureInfo.InvariantCulture,
        $"endpoint {s.Address}: {s.Requests} requests, {s.Failures} failed and retried elsewhere, {s.ItemsPerSecond:0.##} items/s, {s.TokensPerSecond:0.#} tokens/s"));

    /// <summary>Closes the HTTP clients.</summary>
    public void Dispose()
    {
        foreach (var s in _servers) s.Http.Dispose();
    }

    /// <summary>The least busy server that has not failed this item, preferring servers that are up; rotating on ties.</summary>
    private Server? Choose(IEnumerable<Server> exclude)
    {
        var skip = exclude.ToHashSet();
        lock (_gate)
        {
            Server? best = null;
            for (int k = 0; k < _servers.Length; k++)
            {
                var s = _servers[(_next + k) % _servers.Length];
                if (skip.Contains(s)) continue;
                if (best is null || (best.Down && !s.Down) || (best.Down == s.Down && s.InFlight < best.InFlight)) best = s;
            }
            _next = (_next + 1) % _servers.Length;
            best?.Start();
            return best;
        }
    }

    private sealed class Server(HttpClient http)
    {
        private int _consecutiveFailures;

        public HttpClient Http { get; } = http;

        public string Address => Http.BaseAddress!.ToString();

        public int InFlight;
        public int Requests;
        public int Failures;
        public long Tokens;

        public bool Down => Volatile.Read(ref _consecutiveFailures) >= FailuresBeforeDown;

        public void Start() => Interlocked.Increment(ref InFlight);

        public void Done() => Interlocked.Decrement(ref InFlight);

        public void Succeeded(int tokens)
        {
            Done();
            Interlocked.Increment(ref Requests);
            Interlocked.Add(ref Tokens, tokens);
            Volatile.Write(ref _consecutiveFailures, 0);
        }

        public void Failed()
        {
            Done();
            Interlocked.Increment(ref Failures);
            Interlocked.Increment(ref _consecutiveFailures);
        }
    }
}
