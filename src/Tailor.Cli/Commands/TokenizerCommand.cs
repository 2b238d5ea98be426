using System.Diagnostics;
using System.Text.Json;
using Tailor.Data;
using Tailor.Text;

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
        OptionSpec[] specs =
        [
            new("--input", "FILE", "training text: .jsonl (the \"text\" field of each line) or plain text (repeatable)", Repeatable: true),
            new("--vocab-size", "N", "vocabulary size including the 256 byte tokens and the special tokens (default 8192)"),
            new("--min-frequency", "N", "a pair must occur at least N times to be merged (default 2)"),
            new("--output", "DIR", "folder to write tokenizer.json and tokenizer_config.json into"),
        ];
        var cl = Parse(args, "tailor tokenizer train --input FILE [--input FILE ...] --output DIR [--vocab-size N]",
            "Trains a byte-level BPE (GPT-2 pre-tokenization, all 256 bytes, special tokens <|endoftext|> <|im_start|>\n" +
            "<|im_end|> <|pad|>), deterministic, and writes a Hugging Face tokenizer.json. Reports time and peak memory.", specs);
        if (cl is null) return 0;
        var inputs = cl.All("--input");
        if (inputs.Count == 0) throw new UsageException("give at least one --input FILE.");
        foreach (string f in inputs)
            if (!File.Exists(f)) throw new TailorException($"{f}: not found.");
        string output = cl.Required("--output");
        var options = new BpeTrainerOptions(VocabSize: cl.Int("--vocab-size", 8192, 257), MinFrequency: cl.Int("--min-frequency", 2, 1));
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
        OptionSpec[] specs =
        [
            new("--tokenizer", "PATH", "a tokenizer.json, or a model folder holding one"),
            new("--special", null, "turn special tokens written in the text (<|im_start|>) into their ids"),
        ];
        var cl = Parse(args, "tailor tokenizer encode --tokenizer PATH TEXT", "Prints the ids of TEXT as a JSON array.", specs, 1);
        if (cl is null) return 0;
        if (cl.Positionals.Count != 1) throw new UsageException("give the text to encode as one argument.");
        var tokenizer = TextTokenizer.Load(cl.Required("--tokenizer"));
        Console.WriteLine(JsonSerializer.Serialize(tokenizer.Encode(cl.Positionals[0], cl.Flag("--special"))));
        return 0;
    }

    private int Decode(string[] args)
    {
        OptionSpec[] specs =
        [
            new("--tokenizer", "PATH", "a tokenizer.json, or a model folder holding one"),
            new("--skip-special", null, "leave special tokens out of the text"),
        ];
        var cl = Parse(args, "tailor tokenizer decode --tokenizer PATH IDS", "Prints the text of IDS, a JSON array such as [464, 2068].", specs, 1);
        if (cl is null) return 0;
        if (cl.Positionals.Count != 1) throw new UsageException("give the ids as one JSON array argument, e.g. '[464, 2068]'.");
        int[] ids;
        try { ids = JsonSerializer.Deserialize<int[]>(cl.Positionals[0]) ?? []; }
        catch (JsonException) { throw new UsageException($"'{cl.Positionals[0]}' is not a JSON array of integers."); }
        var tokenizer = TextTokenizer.Load(cl.Required("--tokenizer"));
        // The library skips unknown ids, as Hugging Face's decode does; asked directly, an unknown id is an error.
        int unknown = Array.FindIndex(ids, id => tokenizer.IdToToken(id) is null);
        if (unknown >= 0)
            throw new TailorException($"id {ids[unknown]} (position {unknown} of the array) has no token in {cl.Required("--tokenizer")}: ids run from 0 to {tokenizer.VocabSize - 1}.");
        Console.WriteLine(tokenizer.Decode(ids, cl.Flag("--skip-special")));
        return 0;
    }
}
