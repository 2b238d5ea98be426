using Tailor.Model;
using Tailor.Server;
using Tailor.Serving;

namespace Tailor.Cli.Commands;

/// <summary>`tailor serve --model ENCODER`: OpenAI's /v1/embeddings over a BERT/RoBERTa folder (<see cref="EmbeddingServer"/>).</summary>
public static class ServeEncoder
{
    /// <summary>Loads the encoder, serves it until Ctrl-C / SIGTERM.</summary>
    public static int Run(string folder, string? name, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var encoder = PretrainedEncoder.Load(folder);
        using var generator = new TailorEmbeddingGenerator(encoder, name);
        var running = EmbeddingServer.StartAsync(generator, options).GetAwaiter().GetResult();
        Console.Error.WriteLine($"tailor serve: '{generator.ModelId}' at {running.BaseAddress}v1/embeddings ({encoder.Config.Architectures[0]}, {encoder.Dimension} dimensions, " +
            $"{encoder.Pooling.Mode} pooling{(encoder.Pooling.Normalize ? ", normalised" : "")}, inputs cut at {encoder.MaxTokens} tokens{(options.ApiKey is null ? "" : ", API key required")}). Ctrl-C stops.");
        running.WaitForShutdownAsync().GetAwaiter().GetResult();
        running.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.Error.WriteLine("tailor serve: stopped.");
        return 0;
    }
}
