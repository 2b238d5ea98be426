using Tailor.Generation;
using Tailor.Serving;
using Tailor.Server;
using Tailor.Torch;

namespace Tailor.Cli.Commands;

/// <summary>`tailor serve`: an OpenAI-compatible HTTP server over a model folder (Tailor.Server).</summary>
public sealed class ServeCommand : Command
{
    public override string Name => "serve";

    public override string Summary => "serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions; /v1/embeddings for an encoder)";

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor serve --model DIR [--adapter DIR] [--host IP] [--port N] [--api-key KEY] [options]",
            "Serves the model in DIR over HTTP with OpenAI's API: GET /v1/models, POST /v1/completions, POST /v1/chat/completions\n" +
            "(JSON or stream: true server-sent events) and GET /health. Requests wait in a bounded queue and are decoded\n" +
            "together in batches (continuous batching). Chat uses the model's ChatML chat_template, or ChatML when it has none\n" +
            "(a base model), as llama.cpp does; GET /v1/models says which. Ctrl-C stops taking requests, lets running ones\n" +
            "finish for --drain seconds, then cancels the rest. A BERT/RoBERTa folder (or all-MiniLM-L6-v2, snowflake-arctic-embed-xs)\n" +
            "is served with POST /v1/embeddings instead (docs/encoders.md).", RecipeCommandLine.Specs<ServeOptions>());
        if (cl is null) return 0;
        var o = RecipeCommandLine.Load(cl, new ServeOptions());
        if (o.Server.ApiKey is null && NonEmpty(Environment.GetEnvironmentVariable("TAILOR_API_KEY")) is { } key) o.Server = o.Server with { ApiKey = key };
        RecipeCommandLine.Validate<ServeOptions>(o.Validate);
        var (engine, server) = (o.Engine, o.Server);
        var device = TorchRuntime.SelectDevice(o.Runtime.Device);
        TorchRuntime.SetThreads(o.Runtime.Threads);
        if (Tailor.Model.BertConfig.IsEncoderFolder(o.Model!)) return ServeEncoder.Run(o.Model!, o.Name, server);
        var dtype = o.Dtype == WeightsDtype.Bfloat16 ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32;

        using var model = ServedModel.Load(o.Model!, o.Adapter, device, dtype, engine, o.Name);
        var running = TailorServer.StartAsync(model, server).GetAwaiter().GetResult();
        Console.Error.WriteLine($"tailor serve: '{model.Id}' at {running.BaseAddress}v1 (context {model.ContextLength}, max batch {engine.MaxBatch}, " +
            $"queue {engine.Queue}, chat: {(model.ChatFormat == ChatFormat.ModelChatMl ? "the model's ChatML template" : model.ChatFormat == ChatFormat.FallbackChatMl ? "ChatML fallback (no chat_template)" : "unsupported template, completions only")}" +
            $"{(server.ApiKey is null ? "" : ", API key required")}). Ctrl-C stops.");
        running.WaitForShutdownAsync().GetAwaiter().GetResult();
        running.DisposeAsync().AsTask().GetAwaiter().GetResult();
        var stats = model.Engine.Stats;
        Console.Error.WriteLine($"tailor serve: stopped; {stats.Completed} requests completed, {stats.Cancelled} cancelled, {stats.Rejected} rejected, {stats.GeneratedTokens} tokens generated.");
        return 0;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
