using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Evaluation.Answering;

/// <summary>
/// A model behind an OpenAI-compatible server: chat completions for chat models (the server applies its own chat
/// template), completions with the base prompt otherwise (--format base). Greedy (temperature 0), the task's
/// answer cap as max_tokens, stop at a newline; four requests in flight.
/// </summary>
internal sealed class EndpointAnswerer : Answerer
{
    private readonly EvalOptions _o;
    private readonly HttpClient _http;
    private readonly string _model;

    public EndpointAnswerer(EvalOptions o, Action<string> say)
    {
        _o = o;
        if (!Uri.TryCreate(o.Endpoint!.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new TailorException($"endpoint = {o.Endpoint}: give an http(s) base URL such as http://127.0.0.1:8080/v1.");
        _http = new HttpClient { BaseAddress = uri, Timeout = TimeSpan.FromMinutes(5) };
        string? key = o.ApiKey ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY");
        if (!string.IsNullOrEmpty(key)) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        _model = o.EndpointModel ?? FirstModel();
        Format = o.Format is "auto" or "chatml" ? "chatml" : "base";
        Kind = Format == "chatml" ? "chat" : "base";
        Name = o.Name ?? _model;
        say($"endpoint {uri}: model {_model}, {(Format == "chatml" ? "chat completions" : "completions")}");
    }

    public override string Name { get; }
    public override string Source => _o.Endpoint! + "#" + _model;
    public override string Hash => "endpoint";
    public override string Kind { get; }
    public override string Format { get; }

    private string FirstModel()
    {
        JsonNode? models;
        try
        {
            models = JsonNode.Parse(_http.GetStringAsync("models").GetAwaiter().GetResult());
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException)
        {
            throw new TailorException($"endpoint {_http.BaseAddress}: GET models failed ({e.Message}); check the URL (it should end in /v1) or give --endpoint-model.");
        }
        return models?["data"]?[0]?["id"]?.GetValue<string>()
            ?? throw new TailorException($"endpoint {_http.BaseAddress}: /models lists no model; give --endpoint-model.");
    }

    public override IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel)
    {
        int maxNew = Math.Max(1, (int)Math.Round(task.MaxNewTokens * _o.MaxNewTokensScale));
        var answers = new Answer[questions.Count];
        int finished = 0;
        Parallel.For(0, questions.Count, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancel }, i =>
        {
            var p = questions[i].Render(questions[i].Record.Input, questions[i].Shots);
            JsonObject body;
            string path, shown;
            if (Format == "chatml")
            {
                var messages = new JsonArray([.. p.Messages!.Select(m => (JsonNode)new JsonObject { ["role"] = m.RoleName, ["content"] = m.Content })]);
                body = new JsonObject { ["model"] = _model, ["messages"] = messages };
                path = "chat/completions";
                shown = string.Join("\n", p.Messages!.Select(m => m.RoleName + ": " + m.Content));
            }
            else
            {
                body = new JsonObject { ["model"] = _model, ["prompt"] = p.Text };
                path = "completions";
                shown = p.Text!;
            }
            body["temperature"] = 0;
            body["max_tokens"] = maxNew;
            body["stop"] = new JsonArray("\n");
            body["seed"] = 0;
            using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = _http.PostAsync(path, content, cancel).GetAwaiter().GetResult();
            string text = response.Content.ReadAsStringAsync(cancel).GetAwaiter().GetResult();
            if (!response.IsSuccessStatusCode)
                throw new TailorException($"endpoint {_http.BaseAddress}{path}: HTTP {(int)response.StatusCode} for item {questions[i].Record.Id}: {text[..Math.Min(300, text.Length)]}");
            var json = JsonNode.Parse(text);
            var choice = json?["choices"]?[0];
            string answer = (Format == "chatml" ? choice?["message"]?["content"] : choice?["text"])?.GetValue<string>() ?? "";
            int tokens = json?["usage"]?["completion_tokens"]?.GetValue<int>() ?? 0;
            answers[i] = new Answer(shown, answer.Split('\n')[0].Trim(), tokens);
            done(Interlocked.Increment(ref finished));
        });
        return answers;
    }

    public override void Dispose() => _http.Dispose();
}
