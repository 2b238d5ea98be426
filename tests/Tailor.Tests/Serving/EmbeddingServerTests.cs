using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Embeddings;
using Tailor.Model;
using Tailor.Server;
using Tailor.Serving;

using Tailor.Tests.Model;

namespace Tailor.Tests.Serving;

/// <summary>
/// `tailor serve` with an encoder: POST /v1/embeddings on a real socket, driven by the official OpenAI .NET SDK's
/// EmbeddingClient (base64 on the wire) and raw HTTP (float), against the encoder's own embeddings (`tailor embed`'s code).
/// </summary>
[Collection("TorchSharp")]
public sealed class EmbeddingServerTests : IClassFixture<PretrainedEncoderTests.Converted>
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(120) };
    private readonly PretrainedEncoderTests.Converted _converted;

    public EmbeddingServerTests(PretrainedEncoderTests.Converted converted) => _converted = converted;

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Post(EmbeddingServer server, string path, string json)
    {
        using var response = await Http.PostAsync(new Uri(server.BaseAddress, path), new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>
    /// Equal up to float32 rounding: the server embeds on a thread-pool thread, whose OpenMP team (a per-thread setting)
    /// may split the sums differently from the test thread's; 1e-6 is far below any real difference (values are ~0.05).
    /// </summary>
    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst < 1e-6, $"max |diff| {worst:E2}");
    }

    [Fact]
    public async Task The_openai_sdk_and_raw_float_requests_get_the_encoders_own_embeddings_with_usage_and_bad_requests_get_openai_errors()
    {
        string folder = _converted.Folder(PretrainedEncoders.Find("all-MiniLM-L6-v2")!);
        using var encoder = PretrainedEncoder.Load(folder);
        using var generator = new TailorEmbeddingGenerator(encoder, "all-MiniLM-L6-v2");
        await using var server = await EmbeddingServer.StartAsync(generator, new ServerOptions { Port = 0 });
        string[] texts = ["The new movie is awesome!", "x", "A man is eating food."];
        var expected = encoder.Embed(texts);

        var client = new EmbeddingClient("all-MiniLM-L6-v2", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") });
        var batch = (await client.GenerateEmbeddingsAsync(texts)).Value;
        Assert.Equal(3, batch.Count);
        for (int i = 0; i < texts.Length; i++) AssertClose(expected[i], batch[i].ToFloats().ToArray());
        int tokens = texts.Sum(t => encoder.Tokenizer.Encode(t, encoder.MaxTokens).Ids.Length);
        Assert.Equal(tokens, batch.Usage.InputTokenCount);
        var single = (await client.GenerateEmbeddingAsync("x")).Value;
        AssertClose(expected[1], single.ToFloats().ToArray());

        var (status, body) = await Post(server, "v1/embeddings", """{"model": "all-MiniLM-L6-v2", "input": ["The new movie is awesome!", "x"], "encoding_format": "float"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("list", body.GetProperty("object").GetString());
        AssertClose(expected[0], body.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray());
        Assert.Equal(1, body.GetProperty("data")[1].GetProperty("index").GetInt32());
        Assert.Equal(body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        (status, body) = await Post(server, "v1/embeddings", """{"input": "x", "encoding_format": "base64"}""");
        var bytes = Convert.FromBase64String(body.GetProperty("data")[0].GetProperty("embedding").GetString()!);
        AssertClose(expected[1], Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray());

        foreach (var (json, param) in new[]
        {
            ("""{"input": "x", "dimensions": 128}""", "dimensions"),
            ("""{"input": []}""", "input"),
            ("""{"input": ["a", 5]}""", "input[1]"),
            ("""{"input": [[1, 2, 3]]}""", "input[0]"),
            ("""{"input": ""}""", "input"),
            ("""{"input": "x", "encoding_format": "int8"}""", "encoding_format"),
            ("""{"input": [""" + string.Join(",", Enumerable.Repeat("\"a\"", EmbeddingServer.MaxInputs + 1)) + "]}", "input"),
            ("{\"input\": \"" + new string('a', EmbeddingServer.MaxCharsPerToken * encoder.MaxTokens + 1) + "\"}", "input"),
        })
        {
            (status, body) = await Post(server, "v1/embeddings", json);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
            Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
        }
        (status, body) = await Post(server, "v1/embeddings", "{not json");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        (status, body) = await Post(server, "v1/chat/completions", """{"model": "all-MiniLM-L6-v2", "messages": [{"role": "user", "content": "hi"}]}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("/v1/embeddings", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        var models = JsonDocument.Parse(await Http.GetStringAsync(new Uri(server.BaseAddress, "v1/models"))).RootElement;
        Assert.Equal("all-MiniLM-L6-v2", models.GetProperty("data")[0].GetProperty("id").GetString());
    }
}
