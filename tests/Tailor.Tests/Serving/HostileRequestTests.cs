using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tailor.Server;
using Tailor.Serving;

namespace Tailor.Tests.Serving;

/// <summary>`tailor serve` under hostile and careless clients: huge prompts, bad encodings, clients that go away.</summary>
[Collection("TorchSharp")]
public sealed class HostileRequestTests(ServingModels models) : IClassFixture<ServingModels>
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    private static async Task<(HttpStatusCode Status, JsonElement Error)> PostBytes(TailorServer server, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        using var response = await Http.PostAsync(new Uri(server.BaseAddress, "v1/chat/completions"), content);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, json.TryGetProperty("error", out var e) ? e : json);
    }

    private static byte[] Chat(string model, string content, int? maxTokens = null) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
    {
        ["model"] = model,
        ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = content } },
        ["max_tokens"] = maxTokens ?? 2,
    });

    [Fact]
    public async Task A_prompt_with_more_characters_than_its_tokens_could_hold_is_refused_by_length_before_tokenizing()
    {
        var log = new ListLogger();
        var (model, server) = await StartAsync(models.Short, log);
        await using var _ = server;
        using var __ = model;
        int perToken = model.Model.Tokenizer.MaxCharsPerToken!.Value;
        Assert.InRange(perToken, 2, 64);
        long bound = model.MaxPromptChars(256 - 16)!.Value;
        Assert.Equal(240L * perToken, bound);

        // One character past what 240 tokens (256 less max_tokens 16) can hold: refused, naming the count of characters.
        var (status, error) = await PostBytes(server, Chat(model.Id, new string('a', (int)bound + 1), maxTokens: 16));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("max_tokens", error.GetProperty("param").GetString());
        Assert.Contains($"{bound + 1} characters", error.GetProperty("message").GetString()!, StringComparison.Ordinal);

        // A body larger than the server reads at all: 413 with OpenAI's error shape, no stack in the log.
        long limit = TailorServer.MaxRequestBytes(model);
        Assert.True(limit < 1 << 20, $"{limit} bytes for a 256-token context");
        var (tooLarge, error413) = await PostBytes(server, Chat(model.Id, new string('a', (int)limit)));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge);
        Assert.Equal("request_too_large", error413.GetProperty("code").GetString());

        // A prompt that fits still gets an answer.
        var (ok, answer) = await PostBytes(server, Chat(model.Id, "the weather and the sea"));
        Assert.True(ok == HttpStatusCode.OK, answer.ToString());
        Assert.Empty(log.AtLeast(LogLevel.Warning));
    }

    [Fact]
    public async Task A_body_that_is_not_UTF8_gets_400_naming_the_byte_and_nothing_in_the_log()
    {
        var log = new ListLogger();
        var (model, server) = await StartAsync(models.Short, log);
        await using var _ = server;
        using var __ = model;
        byte[] good = Encoding.UTF8.GetBytes("{\"model\": \"" + model.Id + "\", \"messages\": [{\"role\": \"user\", \"content\": \"caf\u00e9 and the sea\"}], \"max_tokens\": 2}");
        byte[] bad = [.. good];
        int at = Array.IndexOf(bad, (byte)0xC3);
        bad[at] = 0xFF;                                              // é's lead byte made impossible
        var (status, error) = await PostBytes(server, bad);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_encoding", error.GetProperty("code").GetString());
        Assert.Contains($"byte {at}", error.GetProperty("message").GetString()!, StringComparison.Ordinal);
        Assert.Empty(log.AtLeast(LogLevel.Warning));
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_body_is_one_information_line_not_an_error_with_a_stack()
    {
        var log = new ListLogger();
        var (model, server) = await StartAsync(models.Short, log);
        await using var _ = server;
        using var __ = model;
        // Three clients send half a body: one closes its connection, one resets it, and one stalls until Kestrel's
        // minimum data rate (240 bytes/s after a 5 s grace) gives up on it.
        var sockets = new List<TcpClient>();
        foreach (string how in new[] { "close", "reset", "stall" })
        {
            var socket = new TcpClient();
            sockets.Add(socket);
            await socket.ConnectAsync(IPAddress.Loopback, server.BaseAddress.Port);
            var stream = socket.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"model\": \"x\", \"messa"));
            await stream.FlushAsync();
            await Task.Delay(200);
            if (how == "reset") socket.Client.LingerState = new LingerOption(true, 0);
            if (how != "stall") socket.Close();
        }
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (log.Entries.Count(e => e.Message.Contains("dropped", StringComparison.Ordinal)) < 3 && DateTime.UtcNow < deadline) await Task.Delay(50);
        foreach (var socket in sockets) socket.Dispose();
        Assert.Empty(log.AtLeast(LogLevel.Warning));
        var dropped = log.Entries.Where(e => e.Message.Contains("dropped", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, dropped.Count);
        Assert.All(dropped, e => Assert.True(e.Level == LogLevel.Information && e.Exception is null, e.ToString()));
        // The server keeps serving.
        var (ok, answer) = await PostBytes(server, Chat(model.Id, "hi"));
        Assert.True(ok == HttpStatusCode.OK, answer.ToString());
    }

    [Fact]
    public async Task Listening_beyond_loopback_without_an_api_key_logs_a_warning()
    {
        var log = new ListLogger();
        var (model, open) = await StartAsync(models.Short, log, host: "0.0.0.0");
        await open.DisposeAsync();
        model.Dispose();
        Assert.Contains(log.AtLeast(LogLevel.Warning), e => e.Message.Contains("without an API key", StringComparison.Ordinal) && e.Message.Contains("--api-key", StringComparison.Ordinal));

        var quiet = new ListLogger();
        var (model2, keyed) = await StartAsync(models.Short, quiet, host: "0.0.0.0", apiKey: "sesame");
        await keyed.DisposeAsync();
        model2.Dispose();
        var (model3, local) = await StartAsync(models.Short, quiet);
        await local.DisposeAsync();
        model3.Dispose();
        Assert.Empty(quiet.AtLeast(LogLevel.Warning));
    }

    /// <summary>
    /// The issue's probe: concurrent bodies of 28 MB each (14 million words) once cost the server about 700 MB of RSS
    /// apiece to tokenize. Run against `tailor serve` in its own process, so that the peak resident memory measured is
    /// the server's alone.
    /// </summary>
    [Fact]
    public async Task Concurrent_oversized_requests_are_refused_without_growing_the_server_process()
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "Tailor.Cli.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { cli, "serve", "--model", models.Short, "--port", "0", "--threads", "1" }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        try
        {
            var ready = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.ErrorDataReceived += (_, e) =>
            {
                int at = e.Data?.IndexOf(" at http", StringComparison.Ordinal) ?? -1;
                if (at >= 0) ready.TrySetResult(new Uri(e.Data![(at + 4)..e.Data!.IndexOf(' ', at + 4)]));
            };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            var v1 = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
            string id = Path.GetFileName(models.Short);
            using (var warm = new ByteArrayContent(Chat(id, "the weather")))
            {
                warm.Headers.ContentType = new("application/json");
                using var first = await Http.PostAsync(new Uri(v1 + "/chat/completions"), warm);
                Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            }
            long before = PeakRssBytes(process.Id);

            byte[] big = Chat(id, string.Concat(Enumerable.Repeat("a ", 14_000_000)));
            var statuses = new ConcurrentBag<string>();
            await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
            {
                try
                {
                    using var content = new ByteArrayContent(big);
                    content.Headers.ContentType = new("application/json");
                    using var response = await Http.PostAsync(new Uri(v1 + "/chat/completions"), content);
                    statuses.Add(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                catch (HttpRequestException)
                {
                    statuses.Add("closed");                   // the server may close the connection while the client still sends
                }
            }));
            long growth = PeakRssBytes(process.Id) - before;
            Assert.All(statuses, s => Assert.Contains(s, new[] { "413", "closed" }));
            Assert.True(growth < 150L << 20, $"peak RSS grew by {growth >> 20} MiB over 4 requests of {big.Length >> 20} MiB ({string.Join(", ", statuses)})");
            Assert.Equal("ok", JsonDocument.Parse(await Http.GetStringAsync(new Uri(v1, "/health"))).RootElement.GetProperty("status").GetString());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>The peak resident set (VmHWM) of a process, from /proc.</summary>
    private static long PeakRssBytes(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    private static async Task<(ServedModel Model, TailorServer Server)> StartAsync(string folder, ListLogger log, string host = "127.0.0.1", string? apiKey = null)
    {
        Tailor.Torch.TorchRuntime.SetThreads(1);
        var model = ServedModel.Load(folder);
        var server = await TailorServer.StartAsync(model, new ServerOptions { Host = host, Port = 0, ApiKey = apiKey, LogRequests = true, ExtraLogger = log });
        return (model, server);
    }

    /// <summary>Keeps every log entry in memory.</summary>
    private sealed class ListLogger : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, string Category, string Message, Exception? Exception)> Entries { get; } = new();

        public IEnumerable<(LogLevel Level, string Category, string Message, Exception? Exception)> AtLeast(LogLevel level) =>
            Entries.Where(e => e.Level >= level);

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(ListLogger owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((logLevel, category, formatter(state, exception), exception));
        }
    }
}
