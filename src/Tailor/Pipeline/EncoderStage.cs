using System.Globalization;
using System.Text.Json;
using Tailor.Evaluation.Report;
using Tailor.Formats;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Pipeline;

/// <summary>
/// The main job's fine-tuned BERT: a real pretrained encoder (all-MiniLM-L6-v2 by default) task-fine-tuned into a
/// sentiment classifier by <see cref="FinetuneEncoder"/> and evaluated on sentiment and sentiment-imdb beside the
/// decoders, in the role <see cref="EncoderClaim.Role"/> (claim 9). The smoke profile tunes a tiny random BERT with the
/// encoder's WordPiece vocabulary instead, so CI covers the stage in seconds.
/// </summary>
internal static class EncoderStage
{
    /// <summary>The only tasks an encoder classifier answers in the main job.</summary>
    public const string Tasks = "sentiment,sentiment-imdb";

    /// <summary>The task it is fine-tuned on.</summary>
    public const string Task = "sentiment";

    /// <summary>A short model name for stages and tables: minilm, arctic-xs, or the folder's name.</summary>
    public static string ShortName(string encoder) => encoder switch
    {
        "all-MiniLM-L6-v2" or "sentence-transformers/all-MiniLM-L6-v2" => "minilm",
        "snowflake-arctic-embed-xs" or "Snowflake/snowflake-arctic-embed-xs" => "arctic-xs",
        _ => new string([.. Path.GetFileName(Path.TrimEndingDirectorySeparator(encoder)).Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-')]),
    };

    /// <summary>
    /// What the encoder's fingerprint hashes: a catalogue name is its package and version (the conversion is a pure
    /// function of them), a folder its files.
    /// </summary>
    public static string Print(string encoder, FolderHashes hashes) =>
        PretrainedEncoders.Find(encoder) is { } spec ? $"{spec.Name}|{spec.Package}|{spec.Version}" : hashes.Of([encoder]);

    /// <summary>The tuning options of the stage: the recipe's defaults, the profile's example cap, the run's seed and data.</summary>
    public static EncoderTuneOptions Options(string model, string output, RunOptions o, RunProfile profile) => new()
    {
        Model = model, Output = output, Task = Task, TaskData = o.TaskData, Examples = profile.EncoderExamples, Seed = o.Seed, Runtime = o.Runtime,
    };

    /// <summary>
    /// Writes a 2-layer, width-32 random BERT with <paramref name="encoder"/>'s WordPiece vocabulary (from its NuGet
    /// package, or the folder's vocab.txt) into <paramref name="target"/>, with a card that says it was never trained.
    /// </summary>
    public static void MakeTinyBert(string encoder, string target, int seed)
    {
        byte[] vocab = PretrainedEncoders.Find(encoder) is { } spec
            ? PretrainedEncoders.ReadResource(PretrainedEncoders.FindAssembly(spec), spec.ResourcePrefix + "vocab.txt")
            : File.Exists(Path.Combine(encoder, "vocab.txt")) ? File.ReadAllBytes(Path.Combine(encoder, "vocab.txt"))
            : throw new TailorException($"encoder {encoder}: the smoke profile needs a catalogue name ({string.Join(", ", PretrainedEncoders.Names)}) or a BERT folder with vocab.txt.");
        int size = vocab.Count(b => b == (byte)'\n') + (vocab.Length > 0 && vocab[^1] != (byte)'\n' ? 1 : 0);
        var config = BertConfig.Parse(JsonSerializer.Serialize(new
        {
            architectures = new[] { "BertModel" }, model_type = "bert", vocab_size = size, hidden_size = 32, intermediate_size = 64,
            num_hidden_layers = 2, num_attention_heads = 2, max_position_embeddings = 512, type_vocab_size = 2, pad_token_id = 0,
        }));
        manual_seed(seed);
        using var model = new BertModel(config);
        HfCheckpoint.Save(target, model.state_dict(), config.ToJson(), new HfSaveOptions
        {
            WriteExtraFiles = staging =>
            {
                File.WriteAllBytes(Path.Combine(staging, "vocab.txt"), vocab);
                File.WriteAllText(Path.Combine(staging, "README.md"),
                    Provenance.RandomCard(Path.GetFileName(target), $"A tiny random BERT for the smoke profile of `tailor run`, with {encoder}'s vocabulary.", seed));
            },
        });
    }

    /// <summary>
    /// Runs the fine-tune into <paramref name="tune"/>'s output; a checkpoint left by an interrupted attempt with the same
    /// fingerprint is resumed, anything else there starts over (the folder is the run's own).
    /// </summary>
    public static void Train(EncoderTuneOptions tune, string fingerprint, RunEvents events, CancellationToken cancel)
    {
        string marker = Path.Combine(tune.Output, "run-fingerprint.txt");
        bool resume = File.Exists(marker) && File.ReadAllText(marker).Trim() == fingerprint && Directory.Exists(Path.Combine(tune.Output, "checkpoint"));
        if (!resume && Directory.Exists(tune.Output)) Directory.Delete(tune.Output, recursive: true);
        Directory.CreateDirectory(tune.Output);
        File.WriteAllText(marker, fingerprint + "\n");
        if (resume) events.Say?.Invoke($"resuming {tune.Output} from its checkpoint");
        var result = FinetuneEncoder.Run(tune with { Resume = resume }, events.Train, cancel);
        if (result.Interrupted) throw new OperationCanceledException("interrupted; run `tailor run` again to resume.");
        if (result.Dev is var (devAccuracy, _) && result.Test is var (testAccuracy, _))
            events.Say?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(tune.Output)}: dev accuracy {devAccuracy:0.0000}, test accuracy {testAccuracy:0.0000} (whole splits)"));
    }
}
