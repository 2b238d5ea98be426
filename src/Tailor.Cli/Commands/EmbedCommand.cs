using System.Globalization;
using System.Text.Json;
using Tailor.Model;

namespace Tailor.Cli.Commands;

/// <summary>`tailor embed --model ENCODER TEXT...`: one sentence embedding per text, as a JSON array per line.</summary>
public sealed class EmbedCommand : Command
{
    public override string Name => "embed";

    public override string Summary => "print sentence embeddings of texts with a BERT/RoBERTa encoder (all-MiniLM-L6-v2, snowflake-arctic-embed-xs or a folder)";

    private static readonly OptionSpec[] Specs =
    [
        new("--model", "DIR|NAME", $"encoder folder (BertModel/RobertaModel, sentence-transformers or plain HF), or {string.Join(" / ", PretrainedEncoders.Names)}"),
        new("--pooling", "MODE", "mean | cls | max (default: the folder's 1_Pooling/config.json; mean without one)"),
        new("--normalize", "true|false", "L2-normalise each embedding (default: whether modules.json has a Normalize module)"),
        new("--json", null, "print one JSON document {model, pooling, normalize, dimension, data: [{index, text, tokens, embedding}]}"),
        new("--batch-size", "N", "texts per forward pass (default 32)"),
    ];

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor embed --model DIR|NAME [--pooling mean|cls|max] [--normalize true|false] [--json] TEXT...",
            "Encodes each TEXT (or each line of stdin when no TEXT is given) and prints its sentence embedding as one JSON\n" +
            "array per line, in order. Pooling and normalisation come from the folder's sentence-transformers files unless given.",
            Specs, int.MaxValue);
        if (cl is null) return 0;
        string? pooling = cl.String("--pooling");
        if (pooling is not null && !EncoderPooling.Modes.Contains(pooling))
            throw new UsageException($"--pooling must be one of {string.Join(", ", EncoderPooling.Modes)} (got '{pooling}').");
        bool? normalize = cl.String("--normalize") switch
        {
            null => null,
            "true" => true,
            "false" => false,
            var v => throw new UsageException($"--normalize must be true or false (got '{v}')."),
        };
        int batch = cl.Int("--batch-size", 32, 1, 4096);
        var texts = cl.Positionals.Count > 0 ? cl.Positionals.ToList() : ReadLines(Console.In);
        if (texts.Count == 0) throw new UsageException("give at least one TEXT, or lines on stdin.");
        using var encoder = PretrainedEncoder.Load(cl.Required("--model"));
        var vectors = encoder.Embed(texts, pooling, normalize, batch);
        if (cl.Flag("--json"))
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = encoder.Folder,
                pooling = pooling ?? encoder.Pooling.Mode,
                normalize = normalize ?? encoder.Pooling.Normalize,
                dimension = encoder.Dimension,
                data = texts.Select((t, i) => new { index = i, text = t, tokens = encoder.Tokenizer.Encode(t, encoder.MaxTokens).Ids.Length, embedding = vectors[i] }),
            }));
            return 0;
        }
        foreach (var v in vectors)
            Console.WriteLine("[" + string.Join(",", v.Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]");
        return 0;
    }

    private static List<string> ReadLines(TextReader reader)
    {
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) if (line.Length > 0) lines.Add(line);
        return lines;
    }
}
