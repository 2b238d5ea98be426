using Tailor.Serving;
using Tailor.Server;
using Tailor.Torch;

namespace Tailor.Cli.Commands;

/// <summary>`tailor serve`: an OpenAI-compatible HTTP server over a model folder (Tailor.Server).</summary>
public sealed class ServeCommand : Command
{
    public override string Name => "serve";

    public override string Summary => "serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions; /v1/embeddings for an encoder)";

    private static readonly OptionSpec[] Specs =
    [
        new("--model", "DIR", "Hugging Face model folder (config.json, model.safetensors, tokenizer.json)"),
        new("--adapter", "DIR", "PEFT LoRA adapter folder to load onto the model and merge (the served id is then its folder name)"),
        new("--name", "ID", "the model id clients send (default: the adapter's or model's folder name)"),
        new("--host", "IP", "address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for every interface: without --api-key that logs a warning)"),
        new("--port", "N", "TCP port (default 8080; 0 picks a free one)"),
        new("--api-key", "KEY", "require 'Authorization: Bearer KEY' on /v1 requests (default: no key; env TAILOR_API_KEY also sets it)"),
        new("--max-batch", "N", "most requests decoded together (default 8)"),
        new("--queue", "N", "most requests waiting for a free batch row; more get 429 (default 64)"),
        new("--drain", "SECONDS", "on shutdown, how long running requests may take to finish before they are cancelled (default 10)"),
        new("--dtype", "float32|bfloat16", "weights dtype in memory (default float32)"),
        new("--log-requests", null, "log each HTTP request to the console"),
        .. CommandLine.RuntimeOptions,
    ];

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor serve --model DIR [--adapter DIR] [--host IP] [--port N] [--api-key KEY] [options]",
            "Serves the model in DIR over HTTP with OpenAI's API: GET /v1/models, POST /v1/completions, POST /v1/chat/completions\n" +
            "(JSON or stream: true server-sent events) and GET /health. Requests wait in a bounded queue and are decoded\n" +
            "together in batches (continuous batching). Chat uses the model's ChatML chat_template, or ChatML when it has none\n" +
            "(a base model), as llama.cpp does; GET /v1/models says which. Ctrl-C stops taking requests, lets running ones\n" +
            "finish for --drain seconds, then cancels the rest. A BERT/RoBERTa folder (or all-MiniLM-L6-v2, snowflake-arctic-embed-xs)\n" +
            "is served with POST /v1/embeddings instead (docs/encoders.md).", Specs);
        if (cl is null) return 0;
        var engine = new EngineOptions
        {
            MaxBatch = cl.Int("--max-batch", 8, 1, 1024),
            QueueCapacity = cl.Int("--queue", 64, 0),
        };
        var server = new ServerOptions
        {
            Host = cl.String("--host", "127.0.0.1")!,
            Port = cl.Int("--port", 8080, 0, 65535),
            ApiKey = cl.String("--api-key") ?? NonEmpty(Environment.GetEnvironmentVariable("TAILOR_API_KEY")),
            DrainTimeout = TimeSpan.FromSeconds(cl.Double("--drain", 10, 0, 3600)),
            LogRequests = cl.Flag("--log-requests"),
        };
        if (server.ApiKey is "") throw new UsageException("--api-key is empty; give a key or leave the option out.");
        var device = TorchRuntime.SelectDevice(cl.String("--device", "cpu")!);
        TorchRuntime.SetThreads(cl.IntOrNull("--threads", 1));
        if (Tailor.Model.BertConfig.IsEncoderFolder(cl.Required("--model"))) return ServeEncoder.Run(cl.Required("--model"), cl.String("--name"), server);
        var dtype = cl.Choice("--dtype", "float32", "float32", "bfloat16") == "bfloat16"
            ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32;

        using var model = ServedModel.Load(cl.Required("--model"), cl.String("--adapter"), device, dtype, engine, cl.String("--name"));
        var running = TailorServer.StartAsync(model, server).GetAwaiter().GetResult();
        Console.Error.WriteLine($"tailor serve: '{model.Id}' at {running.BaseAddress}v1 (context {model.ContextLength}, max batch {engine.MaxBatch}, " +
            $"queue {engine.QueueCapacity}, chat: {(model.ChatFormat == ChatFormat.ModelChatMl ? "the model's ChatML template" : model.ChatFormat == ChatFormat.FallbackChatMl ? "ChatML fallback (no chat_template)" : "unsupported template, completions only")}" +
            $"{(server.ApiKey is null ? "" : ", API key required")}). Ctrl-C stops.");
        running.WaitForShutdownAsync().GetAwaiter().GetResult();
        running.DisposeAsync().AsTask().GetAwaiter().GetResult();
        var stats = model.Engine.Stats;
        Console.Error.WriteLine($"tailor serve: stopped; {stats.Completed} requests completed, {stats.Cancelled} cancelled, {stats.Rejected} rejected, {stats.GeneratedTokens} tokens generated.");
        return 0;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
