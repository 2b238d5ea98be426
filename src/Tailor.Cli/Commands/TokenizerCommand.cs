using System.Diagnostics;
using System.Text.Json;
using Tailor.Data;
using Tailor.Text;

using Tailor.Cli.Options;

namespace Tailor.Cli.Commands;

/// <summary>`tailor tokenizer train|encode|decode`: byte-level BPE training and inspection.</summary>
public sealed class TokenizerCommand : Command
{
    public override string Name => "tokenizer";

    public override string Summary => "train a byte-level BPE tokenizer, or encode/decode text with any tokenizer.json";

    public override int Run(string[] args)
    {
        string usage = "tailor tokenizer train|encode|decode [options]   (tailor tokenizer SUBCOMMAND --help)";
        if (args.Length == 0 || args[0] is "--help" or "-h")
        {
            Console.WriteLine($"usage: {usage}\n\n  train   learn a byte-level BPE vocabulary from text files\n" +
                              "  encode  print the ids of a text as a JSON array\n  decode  print the text of ids");
            return args.Length == 0 ? 2 : 0;
        }
        return args[0] switch
        {
            "train" => Train(args[1..]),
            "encode" => Encode(args[1..]),
            "decode" => Decode(args[1..]),
            _ => throw new UsageException($"unknown subcommand '{args[0]}'; use train, encode or decode."),
        };
    }

    private int Train(string[] args)
    {
        var cl = Parse(args, "tailor tokenizer train --input FILE [--input FILE ...] --output DIR [--vocab-size N]",
            "Trains a byte-level BPE (GPT-2 pre-tokenization, all 256 bytes, special tokens <|endoftext|> <|im_start|>\n" +
            "<|im_end|> <|pad|>), deterministic, and writes a Hugging Face tokenizer.json. Reports time and peak memory.", RecipeCommandLine.Specs<TokenizerTrainOptions>());
        if (cl is null) return 0;
        var o = RecipeCommandLine.Load(cl, new TokenizerTrainOptions());
        RecipeCommandLine.Validate<TokenizerTrainOptions>(o.Validate);
        var inputs = o.Input;
        foreach (string f in inputs)
            if (!File.Exists(f)) throw new TailorException($"{f}: not found.");
        string output = o.Output!;
        var options = new BpeTrainerOptions(VocabSize: o.VocabSize, MinFrequency: o.MinFrequency);
        long bytes = inputs.Sum(f => new FileInfo(f).Length);
        var watch = Stopwatch.StartNew();
        var texts = inputs.SelectMany(f => f.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) ? Corpus.ReadTexts(f) : File.ReadLines(f));
        var tokenizer = BpeTrainer.Train(texts, options);
        tokenizer.Save(output);
        watch.Stop();
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        Console.WriteLine($"trained {tokenizer.VocabSize} tokens on {bytes / 1048576.0:F1} MiB in {watch.Elapsed.TotalSeconds:F1} s " +
                          $"(peak memory {peak / 1048576.0:F0} MiB); wrote {Path.Combine(output, "tokenizer.json")}");
        return 0;
    }

    private int Encode(string[] args)
    {
        var cl = Parse(args, "tailor tokenizer encode --tokenizer PATH TEXT", "Prints the ids of TEXT as a JSON array.", RecipeCommandLine.Specs<TokenizerEncodeOptions>(), 1);
        if (cl is null) return 0;
        if (cl.Positionals.Count != 1) throw new UsageException("give the text to encode as one argument.");
        var o = RecipeCommandLine.Load(cl, new TokenizerEncodeOptions());
        if (o.Tokenizer is null) throw new UsageException("'tailor tokenizer encode' needs --tokenizer.");
        var tokenizer = TextTokenizer.Load(o.Tokenizer);
        Console.WriteLine(JsonSerializer.Serialize(tokenizer.Encode(cl.Positionals[0], o.Special)));
        return 0;
    }

    private int Decode(string[] args)
    {
        var cl = Parse(args, "tailor tokenizer decode --tokenizer PATH IDS", "Prints the text of IDS, a JSON array such as [464, 2068].", RecipeCommandLine.Specs<TokenizerDecodeOptions>(), 1);
        if (cl is null) return 0;
        if (cl.Positionals.Count != 1) throw new UsageException("give the ids as one JSON array argument, e.g. '[464, 2068]'.");
        var o = RecipeCommandLine.Load(cl, new TokenizerDecodeOptions());
        if (o.Tokenizer is null) throw new UsageException("'tailor tokenizer decode' needs --tokenizer.");
        int[] ids;
        try { ids = JsonSerializer.Deserialize<int[]>(cl.Positionals[0]) ?? []; }
        catch (JsonException) { throw new UsageException($"'{cl.Positionals[0]}' is not a JSON array of integers."); }
        var tokenizer = TextTokenizer.Load(o.Tokenizer);
        // The library skips unknown ids, as Hugging Face's decode does; asked directly, an unknown id is an error.
        int unknown = Array.FindIndex(ids, id => tokenizer.IdToToken(id) is null);
        if (unknown >= 0)
            throw new TailorException($"id {ids[unknown]} (position {unknown} of the array) has no token in {o.Tokenizer}: ids run from 0 to {tokenizer.VocabSize - 1}.");
        Console.WriteLine(tokenizer.Decode(ids, o.SkipSpecial));
        return 0;
    }
}
