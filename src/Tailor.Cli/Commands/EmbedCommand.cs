using System.Globalization;
using System.Text.Json;
using Tailor.Model;

using Tailor.Cli.Options;

namespace Tailor.Cli.Commands;

/// <summary>`tailor embed --model ENCODER TEXT...`: one sentence embedding per text, as a JSON array per line.</summary>
public sealed class EmbedCommand : Command
{
    public override string Name => "embed";

    public override string Summary => "print sentence embeddings of texts with a BERT/RoBERTa encoder (all-MiniLM-L6-v2, snowflake-arctic-embed-xs or a folder)";

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor embed --model DIR|NAME [--pooling mean|cls|max] [--normalize true|false] [--json] TEXT...",
            "Encodes each TEXT (or each line of stdin when no TEXT is given) and prints its sentence embedding as one JSON\n" +
            "array per line, in order. Pooling and normalisation come from the folder's sentence-transformers files unless given.",
            RecipeCommandLine.Specs<EmbedOptions>(), int.MaxValue);
        if (cl is null) return 0;
        var o = RecipeCommandLine.Load(cl, new EmbedOptions());
        RecipeCommandLine.Validate<EmbedOptions>(o.Validate);
        var (pooling, normalize, batch) = (o.Pooling, o.Normalize, o.BatchSize);
        var texts = cl.Positionals.Count > 0 ? cl.Positionals.ToList() : ReadLines(Console.In);
        if (texts.Count == 0) throw new UsageException("give at least one TEXT, or lines on stdin.");
        using var encoder = PretrainedEncoder.Load(o.Model!);
        var vectors = encoder.Embed(texts, pooling, normalize, batch);
        if (o.Json)
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
