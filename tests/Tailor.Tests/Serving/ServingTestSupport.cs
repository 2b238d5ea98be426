using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;
using Tailor.Model;
using Tailor.Server;
using Tailor.Serving;
using Tailor.Text;

namespace Tailor.Tests.Serving;

/// <summary>A tiny random model folder with a ChatML chat_template, and a live server over it on a free loopback port.</summary>
internal static class ServingTestSupport
{
    /// <summary>Writes a tiny model (BPE tokenizer with ChatML specials and template) to <paramref name="folder"/>.</summary>
    public static string SaveChatModel(string folder, int maxPositions = 256, long seed = 3)
    {
        var texts = Enumerable.Range(0, 300).Select(i => $"sentence {i} about the weather, the sea and {i % 17} boats.");
        var tokenizer = BpeTrainer.Train(texts, new BpeTrainerOptions(VocabSize: 320));
        ChatTemplate.Install(tokenizer);
        var config = LlamaConfig.Preset("tiny", tokenizer.VocabSize);
        config.MaxPositionEmbeddings = maxPositions;
        config.EosTokenId = [tokenizer.EosId!.Value];
        using var model = LlamaForCausalLM.FromConfig(config, seed);
        ModelFolder.Save(folder, model, tokenizer, TorchSharp.torch.ScalarType.Float32);
        return folder;
    }

    /// <summary>Loads <paramref name="folder"/> with one torch thread and starts a server on 127.0.0.1, port 0.</summary>
    public static async Task<(ServedModel Model, TailorServer Server)> StartAsync(string folder, EngineOptions? engine = null,
        string? apiKey = null, TimeSpan? drain = null)
    {
        Tailor.Torch.TorchRuntime.SetThreads(1);
        var model = ServedModel.Load(folder, options: engine);
        var server = await TailorServer.StartAsync(model, new ServerOptions
        {
            Port = 0,
            ApiKey = apiKey,
            Drain = drain ?? TimeSpan.FromSeconds(10),
        });
        return (model, server);
    }

    /// <summary>The official SDK's chat client for the server, with retries off (so a 429 is seen, not retried).</summary>
    public static ChatClient Chat(TailorServer server, string model, string key = "unused") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri(server.BaseAddress, "v1"),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        });
}
