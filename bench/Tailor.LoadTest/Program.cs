using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

// Load test for `tailor serve`: C concurrent clients each send R chat completions (one at a time, back to back) and
// the run reports failures, latency percentiles and generated tokens per second. bench/load-test.sh starts the server.
var options = Options.Parse(args);
using var http = new HttpClient { BaseAddress = new Uri(options.Url.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(10) };
if (options.ApiKey is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);

string model = options.Model ?? JsonDocument.Parse(await http.GetStringAsync("v1/models")).RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
string[] topics = ["the old house", "the sea at night", "a small boat", "the winter market", "a letter from home", "the river", "an empty street", "the mountain road"];

var latencies = new List<double>();
var firstTokens = new List<double>();
var failures = new List<string>();
long promptTokens = 0, completionTokens = 0;
var gate = new Lock();
var wall = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(client => Task.Run(async () =>
{
    for (int i = 0; i < options.Requests; i++)
    {
        string topic = topics[(client * 31 + i) % topics.Length];
        string body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = model,
            ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = $"Tell me about {topic}." } },
            ["max_tokens"] = options.MaxTokens,
            ["temperature"] = 0.8,
            ["seed"] = client * 1000 + i,
            ["stream"] = options.Stream,
            ["stream_options"] = options.Stream ? new Dictionary<string, bool> { ["include_usage"] = true } : null!,
        }.Where(kv => kv.Value is not null).ToDictionary());
        var watch = Stopwatch.StartNew();
        double? firstToken = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            JsonElement usage;
            if (options.Stream)
            {
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                usage = default;
                bool done = false;
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                    string data = line["data: ".Length..];
                    if (data == "[DONE]") { done = true; break; }
                    var chunk = JsonDocument.Parse(data).RootElement;
                    if (chunk.TryGetProperty("error", out var error)) throw new InvalidOperationException(error.GetRawText());
                    if (firstToken is null && chunk.GetProperty("choices") is { ValueKind: JsonValueKind.Array } c && c.GetArrayLength() > 0
                        && c[0].GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                        firstToken = watch.Elapsed.TotalMilliseconds;
                    if (chunk.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object) usage = u.Clone();
                }
                if (!done || usage.ValueKind != JsonValueKind.Object) throw new InvalidOperationException("the stream ended without usage and [DONE]");
            }
            else
            {
                usage = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("usage").Clone();
            }
            double ms = watch.Elapsed.TotalMilliseconds;
            lock (gate)
            {
                latencies.Add(ms);
                if (firstToken is double ft) firstTokens.Add(ft);
                promptTokens += usage.GetProperty("prompt_tokens").GetInt64();
                completionTokens += usage.GetProperty("completion_tokens").GetInt64();
            }
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            lock (gate) failures.Add(e.Message);
        }
    }
})));
wall.Stop();

double seconds = wall.Elapsed.TotalSeconds;
latencies.Sort();
firstTokens.Sort();
var report = new Dictionary<string, object>
{
    ["clients"] = options.Clients,
    ["requests_per_client"] = options.Requests,
    ["requests"] = options.Clients * options.Requests,
    ["failures"] = failures.Count,
    ["max_tokens"] = options.MaxTokens,
    ["stream"] = options.Stream,
    ["wall_seconds"] = Math.Round(seconds, 2),
    ["requests_per_second"] = Math.Round(latencies.Count / seconds, 2),
    ["latency_ms_p50"] = Math.Round(Percentile(latencies, 50), 1),
    ["latency_ms_p95"] = Math.Round(Percentile(latencies, 95), 1),
    ["latency_ms_p99"] = Math.Round(Percentile(latencies, 99), 1),
    ["prompt_tokens"] = promptTokens,
    ["completion_tokens"] = completionTokens,
    ["generated_tokens_per_second"] = Math.Round(completionTokens / seconds, 1),
};
if (firstTokens.Count > 0)
{
    report["first_token_ms_p50"] = Math.Round(Percentile(firstTokens, 50), 1);
    report["first_token_ms_p95"] = Math.Round(Percentile(firstTokens, 95), 1);
}
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
foreach (var f in failures.Distinct().Take(5)) Console.Error.WriteLine($"failure: {f}");
return failures.Count == 0 ? 0 : 1;

// Nearest-rank percentile of sorted values.
static double Percentile(List<double> sorted, double p) =>
    sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

/// <summary>Command-line options of the load test.</summary>
internal sealed record Options(string Url, string? Model, string? ApiKey, int Clients, int Requests, int MaxTokens, bool Stream)
{
    public static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--stream") flags.Add(args[i]);
            else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length) values[args[i]] = args[++i];
            else throw new ArgumentException($"unexpected argument '{args[i]}'; usage: --url URL [--model ID] [--api-key KEY] [--clients 32] [--requests 50] [--max-tokens 32] [--stream]");
        }
        int Int(string name, int fallback) => values.TryGetValue(name, out var v)
            ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : throw new ArgumentException($"{name} {v}: expected a positive whole number.")
            : fallback;
        return new Options(values.GetValueOrDefault("--url", "http://127.0.0.1:8080"), values.GetValueOrDefault("--model"), values.GetValueOrDefault("--api-key"),
            Int("--clients", 32), Int("--requests", 50), Int("--max-tokens", 32), flags.Contains("--stream"));
    }
}
