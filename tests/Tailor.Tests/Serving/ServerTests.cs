using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using Tailor.Generation;
using Tailor.Serving;
using Tailor.Tests.Data.Instructions;
using AI = Microsoft.Extensions.AI;
using Sdk = OpenAI.Chat;

namespace Tailor.Tests.Serving;

/// <summary>Model folders shared by the server tests: a 256-token and a 2048-token tiny chat model.</summary>
public sealed class ServingModels : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-serve-").FullName;

    /// <summary>Creates both folders.</summary>
    public ServingModels()
    {
        Short = ServingTestSupport.SaveChatModel(Path.Combine(_dir, "tiny-chat"), maxPositions: 256);
        Long = ServingTestSupport.SaveChatModel(Path.Combine(_dir, "tiny-long"), maxPositions: 2048);
    }

    /// <summary>Context 256: quick answers.</summary>
    public string Short { get; }

    /// <summary>Context 2048: requests that run for seconds, to be cancelled, queued behind or drained.</summary>
    public string Long { get; }

    /// <summary>Deletes the folders.</summary>
    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>`tailor serve` on a real Kestrel socket, driven by the official OpenAI .NET SDK and raw HTTP.</summary>
[Collection("TorchSharp")]
public sealed class ServerTests(ServingModels models) : IClassFixture<ServingModels>
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    private static readonly Sdk.ChatMessage[] SdkMessages = [new SystemChatMessage("You talk about boats."), new UserChatMessage("the weather and the sea")];

    private static readonly AI.ChatMessage[] AiMessages = [new(ChatRole.System, "You talk about boats."), new(ChatRole.User, "the weather and the sea")];

    private static Task<HttpResponseMessage> Post(Tailor.Server.TailorServer server, string path, string json, string? key = null, CancellationToken cancel = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, path)) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private static async Task<JsonElement> Health(Tailor.Server.TailorServer server) =>
        JsonDocument.Parse(await Http.GetStringAsync(new Uri(server.BaseAddress, "health"))).RootElement.Clone();

    [Fact]
    public async Task Serving_chat_through_the_OpenAI_SDK_gives_the_in_process_clients_text_and_counts_tokens()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Short);
        await using var _ = server;
        using var __ = model;
        var sdk = ServingTestSupport.Chat(server, model.Id);
        var remote = (await sdk.CompleteChatAsync(SdkMessages, new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 })).Value;

        using var local = new TailorChatClient(model);
        var inProcess = await local.GetResponseAsync(AiMessages, new ChatOptions { MaxOutputTokens = 8, Temperature = 0 });
        using var adapter = sdk.AsIChatClient();
        var throughAdapter = await adapter.GetResponseAsync(AiMessages, new ChatOptions { MaxOutputTokens = 8, Temperature = 0 });

        string text = remote.Content[0].Text;
        Assert.NotEmpty(text);
        Assert.Equal(inProcess.Text, text);
        Assert.Equal(inProcess.Text, throughAdapter.Text);
        var prompt = model.EncodeChat([new(Tailor.Text.ChatRole.System, "You talk about boats."), new(Tailor.Text.ChatRole.User, "the weather and the sea")]);
        Assert.Equal(prompt.Count, remote.Usage.InputTokenCount);
        Assert.Equal(inProcess.Usage!.OutputTokenCount, remote.Usage.OutputTokenCount);
        Assert.Equal(remote.Usage.InputTokenCount + remote.Usage.OutputTokenCount, remote.Usage.TotalTokenCount);
        Assert.Equal(remote.Usage.OutputTokenCount == 8 ? Sdk.ChatFinishReason.Length : Sdk.ChatFinishReason.Stop, remote.FinishReason);
        Assert.Equal(Sdk.ChatMessageRole.Assistant, remote.Role);
        Assert.Equal(model.Id, remote.Model);
    }

    [Fact]
    public async Task Streaming_chat_through_the_SDK_adds_up_to_the_whole_answer_and_ends_with_usage()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Short);
        await using var _ = server;
        using var __ = model;
        var sdk = ServingTestSupport.Chat(server, model.Id);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 };
        string whole = (await sdk.CompleteChatAsync(SdkMessages, options)).Value.Content[0].Text;

        var text = new StringBuilder();
        Sdk.ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in sdk.CompleteChatStreamingAsync(SdkMessages, new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 }))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(whole, text.ToString());
        Assert.True(updates > 2, $"{updates} updates: the answer was not streamed");
        Assert.NotNull(finish);
        Assert.NotNull(usage);
        Assert.InRange(usage.OutputTokenCount, 1, 12);

        // The in-process client streams the same text.
        using var local = new TailorChatClient(model);
        var localText = new StringBuilder();
        AI.ChatFinishReason? localFinish = null;
        await foreach (var update in local.GetStreamingResponseAsync(AiMessages, new ChatOptions { MaxOutputTokens = 12 }))
        {
            localText.Append(update.Text);
            localFinish ??= update.FinishReason;
        }
        Assert.Equal(whole, localText.ToString());
        Assert.Equal(finish == Sdk.ChatFinishReason.Length ? AI.ChatFinishReason.Length : AI.ChatFinishReason.Stop, localFinish);
    }

    [Fact]
    public async Task Server_sent_events_are_shaped_as_OpenAI_sends_them_for_chat_and_completions()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Short);
        await using var _ = server;
        using var __ = model;
        foreach (bool chat in new[] { true, false })
        {
            string input = chat ? "\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"the sea\"}]}]" : "\"prompt\": \"the sea\"";
            string path = chat ? "v1/chat/completions" : "v1/completions";
            using var plain = await Post(server, path, $"{{\"model\": \"{model.Id}\", {input}, \"max_tokens\": 6}}");
            var body = await Json(plain);
            Assert.Equal(chat ? "chat.completion" : "text_completion", body.GetProperty("object").GetString());
            var choice = body.GetProperty("choices")[0];
            string expected = chat ? choice.GetProperty("message").GetProperty("content").GetString()! : choice.GetProperty("text").GetString()!;

            using var streamed = await Post(server, path, $"{{\"model\": \"{model.Id}\", {input}, \"max_tokens\": 6, \"stream\": true, \"stream_options\": {{\"include_usage\": true}}}}");
            Assert.Equal("text/event-stream", streamed.Content.Headers.ContentType!.MediaType);
            string[] events = (await streamed.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
            Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
            Assert.Equal("data: [DONE]", events[^1]);
            var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToArray();
            Assert.All(chunks, c => Assert.Equal(chat ? "chat.completion.chunk" : "text_completion", c.GetProperty("object").GetString()));
            Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
            var usage = chunks[^1];
            Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
            Assert.Equal(body.GetProperty("usage").GetRawText(), usage.GetProperty("usage").GetRawText());
            Assert.All(chunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("usage").ValueKind));
            var choices = chunks[..^1].Select(c => c.GetProperty("choices")[0]).ToArray();
            Assert.Equal(choice.GetProperty("finish_reason").GetString(), choices[^1].GetProperty("finish_reason").GetString());
            Assert.All(choices[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind));
            if (chat)
            {
                Assert.Equal("assistant", choices[0].GetProperty("delta").GetProperty("role").GetString());
                Assert.Equal("{}", choices[^1].GetProperty("delta").GetRawText());
            }
            string text = string.Concat(choices.Select(c => chat
                ? (c.GetProperty("delta").TryGetProperty("content", out var d) ? d.GetString() : "")
                : c.GetProperty("text").GetString()));
            Assert.Equal(expected, text);
        }
    }

    [Fact]
    public async Task A_seed_makes_sampled_completions_repeatable_and_equal_to_the_engine_given_the_same_options()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Short);
        await using var _ = server;
        using var __ = model;
        string request = $"{{\"model\": \"{model.Id}\", \"prompt\": \"the weather\", \"max_tokens\": 10, \"temperature\": 1.3, \"top_p\": 0.95, \"seed\": 42, \"stop\": [\"zzz\"]}}";
        using var first = await Post(server, "v1/completions", request);
        using var second = await Post(server, "v1/completions", request);
        string a = (await Json(first)).GetProperty("choices")[0].GetProperty("text").GetString()!;
        string b = (await Json(second)).GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.Equal(a, b);
        var local = await model.Engine.GenerateAsync(model.EncodeText("the weather"),
            new SamplingOptions { MaxNewTokens = 10, Temperature = 1.3, TopP = 0.95, Seed = 42, Stop = ["zzz"] });
        Assert.Equal(local.Text, a);
        var greedy = await model.Engine.GenerateAsync(model.EncodeText("the weather"), new SamplingOptions { MaxNewTokens = 10 });
        Assert.NotEqual(greedy.Text, a);
    }

    [Fact]
    public async Task Bad_requests_get_400_with_an_OpenAI_error_object_naming_the_field()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Short);
        await using var _ = server;
        using var __ = model;
        string m = model.Id;
        string user = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
        (string Path, string Body, string? Param, string? Code, string Says)[] cases =
        [
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user, null, "invalid_json", "parse the JSON"),
            ("v1/chat/completions", "[1, 2]", null, null, "JSON object"),
            ("v1/chat/completions", "{\"model\": \"gpt-4o\", " + user + "}", "model", "model_not_found", "gpt-4o"),
            ("v1/chat/completions", "{" + user + "}", "model", "missing_required_parameter", "model"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user + ", \"temperature\": \"hot\"}", "temperature", "invalid_type", "must be a number"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user + ", \"temperature\": 3}", "temperature", "invalid_value", "between 0 and 2"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user + ", \"max_tokens\": 2.5}", "max_tokens", "invalid_type", "integer"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user + ", \"stop\": 5}", "stop", "invalid_type", "string or an array"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user + ", \"no_repeat_ngram_size\": -1}", "no_repeat_ngram_size", "invalid_value", "between 0 and 1024"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user + ", \"n\": 2}", "n", null, "only 1"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", \"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}", "messages[0].role", "invalid_value", "'tool'"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", \"messages\": \"hi\"}", "messages", "invalid_type", "array"),
            ("v1/chat/completions", "{\"model\": \"" + m + "\", " + user + ", \"max_completion_tokens\": 300}", "max_completion_tokens", "context_length_exceeded", "maximum context length is 256"),
            ("v1/completions", "{\"model\": \"" + m + "\", \"prompt\": 7}", "prompt", "invalid_type", "must be a string"),
            ("v1/completions", "{\"model\": \"" + m + "\", \"prompt\": \"" + string.Concat(Enumerable.Repeat("boats and sea ", 200)) + "\"}", "prompt", "context_length_exceeded", "maximum context length"),
        ];
        foreach (var c in cases)
        {
            using var response = await Post(server, c.Path, c.Body);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{c.Body[..Math.Min(80, c.Body.Length)]}: {response.StatusCode}");
            var error = (await Json(response)).GetProperty("error");
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
            Assert.Equal(c.Param, error.GetProperty("param").GetString());
            Assert.Equal(c.Code, error.GetProperty("code").GetString());
            Assert.Contains(c.Says, error.GetProperty("message").GetString()!, StringComparison.Ordinal);
        }
        // The SDK sees the same refusal as a 400.
        var wrongModel = ServingTestSupport.Chat(server, "gpt-4o");
        var thrown = await Assert.ThrowsAsync<ClientResultException>(() => wrongModel.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(400, thrown.Status);
        Assert.Equal(0, model.Engine.Stats.Completed);
    }

    [Fact]
    public async Task With_an_api_key_requests_without_it_get_401_and_health_stays_open()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Short, apiKey: "sesame");
        await using var _ = server;
        using var __ = model;
        var wrong = await Assert.ThrowsAsync<ClientResultException>(() => ServingTestSupport.Chat(server, model.Id, "open-up").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, wrong.Status);
        using var none = await Http.GetAsync(new Uri(server.BaseAddress, "v1/models"));
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("invalid_api_key", (await Json(none)).GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("ok", (await Health(server)).GetProperty("status").GetString());

        var right = await ServingTestSupport.Chat(server, model.Id, "sesame").CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });
        Assert.InRange(right.Value.Usage.OutputTokenCount, 1, 2);
        using var list = new HttpRequestMessage(HttpMethod.Get, new Uri(server.BaseAddress, "v1/models"));
        list.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sesame");
        using var listed = await Http.SendAsync(list);
        var data = (await Json(listed)).GetProperty("data");
        Assert.Equal(model.Id, data[0].GetProperty("id").GetString());
        Assert.Equal(256, data[0].GetProperty("context_length").GetInt32());
        Assert.StartsWith("model", data[0].GetProperty("chat_template").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_full_queue_answers_429_and_a_client_that_disconnects_cancels_its_generation()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Long, new EngineOptions { MaxBatch = 1, Queue = 0 });
        await using var _ = server;
        using var __ = model;
        // A long streamed request takes the only row.
        // Its own client, with no draining on dispose, so that leaving closes the connection at once.
        var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 });
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, "v1/completions"))
        {
            Content = new StringContent($"{{\"model\": \"{model.Id}\", \"prompt\": \"the sea\", \"max_tokens\": 2000, \"stream\": true}}", Encoding.UTF8, "application/json"),
        };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: {", await reader.ReadLineAsync(), StringComparison.Ordinal);

        var busy = await Assert.ThrowsAsync<ClientResultException>(() => ServingTestSupport.Chat(server, model.Id).CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(429, busy.Status);
        using var raw = await Post(server, "v1/completions", $"{{\"model\": \"{model.Id}\", \"prompt\": \"hi\", \"max_tokens\": 1}}");
        Assert.Equal((HttpStatusCode)429, raw.StatusCode);
        Assert.Equal("queue_full", (await Json(raw)).GetProperty("error").GetProperty("code").GetString());
        Assert.NotNull(raw.Headers.RetryAfter);

        // The client goes away mid-stream: the server notices and frees the row long before 2000 tokens.
        reader.Dispose();
        response.Dispose();
        client.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement health;
        do
        {
            await Task.Delay(50);
            health = await Health(server);
        }
        while (health.GetProperty("cancelled").GetInt64() == 0 && DateTime.UtcNow < deadline);
        Assert.True(health.GetProperty("cancelled").GetInt64() == 1, health.ToString());
        Assert.Equal(0, health.GetProperty("active").GetInt32());
        Assert.Equal(0, health.GetProperty("completed").GetInt64());
        Assert.Equal(2, health.GetProperty("rejected").GetInt64());
        Assert.True(health.GetProperty("generated_tokens").GetInt64() < 2000);
        // The freed row serves the next request.
        var after = await ServingTestSupport.Chat(server, model.Id).CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        Assert.InRange(after.Value.Usage.OutputTokenCount, 1, 3);
    }

    [Fact]
    public async Task Shutting_down_lets_an_in_flight_request_finish_and_then_refuses_connections()
    {
        var (model, server) = await ServingTestSupport.StartAsync(models.Long, drain: TimeSpan.FromSeconds(60));
        using var __ = model;
        var inFlight = Post(server, "v1/completions", $"{{\"model\": \"{model.Id}\", \"prompt\": \"the sea\", \"max_tokens\": 1500}}");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (model.Engine.Stats.Active == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(1, model.Engine.Stats.Active);
        await server.DisposeAsync();

        using var response = await inFlight;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await Json(response);
        Assert.Equal(1500, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.False(model.Engine.Accepting);
        await Assert.ThrowsAsync<HttpRequestException>(() => Http.GetAsync(new Uri(server.BaseAddress, "health")));
    }

    [Fact]
    public async Task The_shipped_base_model_has_no_chat_template_so_chat_falls_back_to_ChatML_as_v1_models_says()
    {
        string folder = Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small");
        var (model, server) = await ServingTestSupport.StartAsync(folder);
        await using var _ = server;
        using var __ = model;
        var listed = JsonDocument.Parse(await Http.GetStringAsync(new Uri(server.BaseAddress, "v1/models"))).RootElement.GetProperty("data")[0];
        Assert.Equal("tailor-base-small", listed.GetProperty("id").GetString());
        Assert.Contains("fallback", listed.GetProperty("chat_template").GetString(), StringComparison.Ordinal);
        Assert.Equal(ChatFormat.FallbackChatMl, model.ChatFormat);

        var answer = (await ServingTestSupport.Chat(server, model.Id).CompleteChatAsync([new UserChatMessage("The old house")],
            new ChatCompletionOptions { MaxOutputTokenCount = 4 })).Value;
        var tokenizer = model.Model.Tokenizer;
        // <|im_start|>user\nThe old house<|im_end|>\n<|im_start|>assistant\n, specials as single tokens.
        var expected = tokenizer.Encode("<|im_start|>user\nThe old house<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true);
        Assert.Equal(expected.Count, answer.Usage.InputTokenCount);
        Assert.InRange(answer.Usage.OutputTokenCount, 1, 4);
    }
}
