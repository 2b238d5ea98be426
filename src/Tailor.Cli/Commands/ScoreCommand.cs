using System.Globalization;
using System.Text.Json;
using Tailor.Evaluation;

namespace Tailor.Cli.Commands;

/// <summary>`tailor score`: a metric over hypothesis and reference files, like the sacrebleu command line.</summary>
public sealed class ScoreCommand : Command
{
    public override string Name => "score";

    public override string Summary => "score hypotheses against references: BLEU, chrF, chrF++, ROUGE, accuracy, macro-F1";

    private static readonly OptionSpec[] Specs =
    [
        new("--metric", "NAME", "bleu|chrf|chrf++|rouge1|rouge2|rougeL|rougeLsum|accuracy|macro-f1"),
        new("--hyp", "FILE", "hypotheses, one segment per line"),
        new("--ref", "FILE", "references aligned with --hyp (repeat for several references)", Repeatable: true),
        new("--json", null, "print {\"metric\", \"score\", ...} as JSON"),
        new("--sentence", null, "also give a score per line"),
        new("--tokenize", "13a|none|intl|char", "BLEU tokenizer (default 13a)"),
        new("--smooth", "exp|none|floor|add-k", "BLEU smoothing (default exp)"),
        new("--smooth-value", "X", "value for floor (default 0.1) or add-k (default 1)"),
        new("--lowercase", null, "lowercase before scoring (BLEU, chrF)"),
        new("--effective-order", null, "BLEU: ignore n-gram orders the hypothesis is too short for (default on with --sentence)"),
        new("--char-order", "N", "chrF character n-gram order (default 6)"),
        new("--word-order", "N", "chrF word n-gram order (default 0 for chrf, 2 for chrf++)"),
        new("--beta", "N", "chrF beta (default 2)"),
        new("--eps-smoothing", null, "chrF: eps smoothing as chrF++.py (default off, as sacreBLEU)"),
        new("--stemmer", null, "ROUGE: Porter-stem tokens (rouge-score's use_stemmer)"),
    ];

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor score --metric NAME --hyp FILE --ref FILE [--ref FILE ...] [options]",
            "One segment per line in each file. BLEU and chrF are corpus scores on 0-100 with sacreBLEU 2.6.0's signature;\n" +
            "ROUGE is the mean F-measure over lines on 0-1 as rouge-score 0.1.2 (for rougeLsum, sentences inside a\n" +
            "segment are separated by the two characters \\n); accuracy and macro-F1 compare label lines.", Specs);
        if (cl is null) return 0;
        string metric = cl.Choice("--metric", "", [.. MetricRunner.Metrics]);
        string hypPath = cl.Required("--hyp");
        var refPaths = cl.All("--ref");
        if (refPaths.Count == 0) throw new UsageException("give at least one --ref FILE.");
        var hyps = MetricRunner.ReadSegments(hypPath);
        var refs = refPaths.Select(MetricRunner.ReadSegments).ToList();
        for (int i = 0; i < refs.Count; i++)
            if (refs[i].Count != hyps.Count)
                throw new TailorException($"{refPaths[i]} has {refs[i].Count} lines but {hypPath} has {hyps.Count}; files must align line by line.");
        bool sentence = cl.Flag("--sentence");
        var options = new MetricOptions
        {
            Tokenize = cl.Choice("--tokenize", "13a", "13a", "none", "intl", "char"),
            Smooth = cl.Choice("--smooth", "exp", "exp", "none", "floor", "add-k"),
            SmoothValue = cl.Has("--smooth-value") ? cl.Double("--smooth-value", 0, 0) : null,
            Lowercase = cl.Flag("--lowercase"),
            EffectiveOrder = cl.Flag("--effective-order") ? true : null,
            CharOrder = cl.Int("--char-order", 6, 0),
            WordOrder = cl.IntOrNull("--word-order", 0),
            Beta = cl.Double("--beta", 2, 0),
            EpsSmoothing = cl.Flag("--eps-smoothing"),
            Stemmer = cl.Flag("--stemmer"),
        };
        var result = MetricRunner.Score(metric, hyps, refs, options, sentence);
        if (cl.Flag("--json"))
        {
            var obj = new Dictionary<string, object?> { ["metric"] = result.Metric, ["score"] = result.Score };
            if (result.Signature is not null) obj["signature"] = result.Signature;
            foreach (var (k, v) in result.Details) obj[k] = v;
            if (result.PerLine is not null) obj["sentences"] = result.PerLine;
            Console.WriteLine(JsonSerializer.Serialize(obj));
            return 0;
        }
        Console.WriteLine(result.Text);
        if (result.PerLine is not null)
            for (int i = 0; i < result.PerLine.Count; i++)
                Console.WriteLine($"{i + 1}\t{result.PerLine[i].ToString("F4", CultureInfo.InvariantCulture)}");
        return 0;
    }
}
