using System.Globalization;
using System.Text.Json;
using Tailor.Evaluation;

namespace Tailor.Cli.Commands;

/// <summary>`tailor score`: a metric over hypothesis and reference files, like the sacrebleu command line.</summary>
public sealed class ScoreCommand : Command
{
    public override string Name => "score";

    public override string Summary => "score hypotheses against references: BLEU, chrF, chrF++, ROUGE, accuracy, macro-F1";

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor score --metric NAME --hyp FILE --ref FILE [--ref FILE ...] [options]",
            "One segment per line in each file. BLEU and chrF are corpus scores on 0-100 with sacreBLEU 2.6.0's signature;\n" +
            "ROUGE is the mean F-measure over lines on 0-1 as rouge-score 0.1.2 (for rougeLsum, sentences inside a\n" +
            "segment are separated by the two characters \\n); accuracy and macro-F1 compare label lines.", RecipeCommandLine.Specs<ScoreOptions>());
        if (cl is null) return 0;
        var o = RecipeCommandLine.Load(cl, new ScoreOptions());
        RecipeCommandLine.Validate<ScoreOptions>(o.Validate);
        string metric = o.Metric!, hypPath = o.Hyp!;
        var refPaths = o.Ref;
        var hyps = MetricRunner.ReadSegments(hypPath);
        var refs = refPaths.Select(MetricRunner.ReadSegments).ToList();
        for (int i = 0; i < refs.Count; i++)
            if (refs[i].Count != hyps.Count)
                throw new TailorException($"{refPaths[i]} has {refs[i].Count} lines but {hypPath} has {hyps.Count}; files must align line by line.");
        bool sentence = o.Sentence;
        // --effective-order given as a switch means on; left out, sacreBLEU's own choice for corpus or sentence scores.
        var options = o.Metrics;
        var result = MetricRunner.Score(metric, hyps, refs, options, sentence);
        if (o.Json)
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
