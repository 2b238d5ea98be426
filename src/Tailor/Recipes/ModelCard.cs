using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Tailor.Data;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Recipes;

/// <summary>
/// Turns a finished pre-training run folder into a shippable model: the final weights in the chosen dtype (bf16 by
/// default) and a README.md model card with the recipe, the corpus manifest hash, tokens seen, final validation
/// perplexity per source, training speed, and ten sampled continuations. Everything on the card is read from the run
/// folder or measured while writing it; nothing is typed in.
/// </summary>
public static class ModelCard
{
    /// <summary>Writes <paramref name="destination"/> (an HF folder + README.md) from the run in <paramref name="runFolder"/>.</summary>
    public static void Ship(string runFolder, string destination, string name, ScalarType dtype = ScalarType.BFloat16)
    {
        string final = Path.Combine(runFolder, "final");
        if (!Directory.Exists(final)) throw new TailorException($"{final}: not found; the run has not finished (no final model).");
        string recipePath = Path.Combine(runFolder, "recipe.json");
        var recipe = JsonNode.Parse(File.ReadAllText(recipePath))?.AsObject()
                     ?? throw new TailorException($"{recipePath}: empty recipe.");
        var metrics = File.ReadLines(Path.Combine(runFolder, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        long steps = metrics.Max(m => m["step"]!.GetValue<long>());
        long tokensPerStep = recipe["batch"]!.GetValue<long>() * recipe["sequence"]!.GetValue<long>() * recipe["grad_accum"]!.GetValue<long>();
        var speeds = metrics.Where(m => m["tokens_per_s"] is not null).Select(m => m["tokens_per_s"]!.GetValue<double>()).Order().ToList();
        double medianSpeed = speeds.Count == 0 ? 0 : speeds[speeds.Count / 2];
        var lastVal = metrics.LastOrDefault(m => m["val_loss"] is not null);
        string data = recipe["data"]!.GetValue<string>();
        string? manifest = FindManifest(data);

        using var model = PretrainedModel.Load(final);
        var bySource = new SortedDictionary<string, double>(StringComparer.Ordinal);
        string tokensDir = Path.Combine(runFolder, "tokens");
        foreach (string file in Directory.Exists(tokensDir) ? Directory.GetFiles(tokensDir, "valid.*.tok") : [])
        {
            using var tokens = TokenFile.Open(file);
            if (tokens.Count < 3) continue;
            string source = Path.GetFileName(file)["valid.".Length..^".tok".Length];
            bySource[source] = TokenWindows.MeanLoss(model.Model, tokens, (int)recipe["sequence"]!.GetValue<long>(), 48, 16, model.Model.Device);
        }

        var languages = LanguageMix(manifest, tokensDir, bySource);

        // Ten continuations of the openings of validation documents (held out from training), sampled with a fixed seed.
        var prompts = Corpus.Read(Path.Combine(data, "valid.jsonl"))
            .Where(d => d.Text.Length > 60).GroupBy(d => d.Source).SelectMany(g => g.Take(2)).Take(10)
            .Select(d => Opening(d.Text)).ToList();
        var generator = model.CreateGenerator();
        var samples = prompts.Select((p, i) => (Prompt: p, Text: generator.Generate(model.Tokenizer.Encode(p),
            new SamplingOptions { MaxNewTokens = 48, Temperature = 0.8, TopP = 0.95, Seed = 1000 + i }).Text)).ToList();

        ModelFolder.Save(destination, model.Model, model.Tokenizer, dtype, staging =>
        {
            File.Copy(recipePath, Path.Combine(staging, "recipe.json"));
            File.WriteAllText(Path.Combine(staging, "README.md"), Card(name, model, recipe, steps, steps * tokensPerStep,
                medianSpeed, lastVal, bySource, samples, manifest, languages, dtype));
        });
    }

    /// <summary>The "tokens seen" of a model folder's card (README.md), where it has one: the total a continued run adds to.</summary>
    internal static long? TokensSeen(string folder)
    {
        string card = Path.Combine(folder, "README.md");
        if (!File.Exists(card)) return null;
        foreach (string line in File.ReadLines(card))
        {
            if (!line.StartsWith("| tokens seen | ", StringComparison.Ordinal)) continue;
            string digits = new([.. line["| tokens seen | ".Length..].TakeWhile(ch => char.IsDigit(ch) || ch == ',').Where(char.IsDigit)]);
            return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;
        }
        return null;
    }

    private static string Card(string name, PretrainedModel model, JsonObject recipe, long steps, long tokens, double speed,
        JsonObject? lastVal, IReadOnlyDictionary<string, double> bySource, List<(string Prompt, string Text)> samples,
        string? manifest, IReadOnlyList<LanguageShare>? languages, ScalarType dtype)
    {
        var c = (LlamaConfig)model.Config;   // pre-training builds Llama models only
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"# {name}").AppendLine();
        var names = languages?.Select(l => LanguageName(l.Language)).ToList() ?? ["English"];
        string corpus = names.Count == 1 ? names[0] : string.Join(", ", names.Take(names.Count - 1)) + " and " + names[^1];
        string? initFrom = recipe["init_from"]?.GetValue<string>();
        string how = initFrom is null ? "pre-trained from scratch" : $"pre-trained further from `{initFrom}` (continued pre-training, `--init-from`)";
        sb.AppendLine($"A {c.ParameterCount() / 1e6:F1}M-parameter Llama-style base model {how} by Tailor's `pretrain` recipe " +
                      $"on the {corpus} corpus built by `scripts/data/build-all.sh` (Debian and npm sources only; see data/PROVENANCE.md). " +
                      "It is a base model: it continues text, it does not follow instructions.").AppendLine();
        sb.AppendLine("| | |").AppendLine("|---|---|");
        sb.AppendLine(inv, $"| architecture | {c.Architectures[0]}: d {c.HiddenSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads} heads ({c.KeyValueHeads} KV), ff {c.IntermediateSize}, vocab {c.VocabSize}, tied embeddings |");
        sb.AppendLine(inv, $"| parameters | {c.ParameterCount():N0} |");
        string precision = recipe["precision"]?.GetValue<string>() switch
        {
            "bf16" => "trained with bf16 autocast, fp32 master weights",
            "auto" => "trained with precision auto: bf16 autocast where the CPU has native bf16, else fp32; fp32 master weights",
            _ => "trained in fp32",
        };
        sb.AppendLine(inv, $"| weights | {dtype.ToString().ToLowerInvariant()} safetensors ({precision}) |");
        sb.AppendLine(inv, $"| steps | {steps:N0} x {recipe["batch"]} sequences x {recipe["sequence"]} tokens |");
        long? before = initFrom is null ? null : TokensSeen(initFrom);
        // "| tokens seen | N |" is the total from random weights (the report's provenance reads it); a continued run whose
        // starting model gives no count says only what it added.
        if (initFrom is null || before is not null) sb.AppendLine(inv, $"| tokens seen | {tokens + (before ?? 0):N0} |");
        else sb.AppendLine(inv, $"| tokens seen in this run | {tokens:N0} |");
        if (initFrom is not null)
            sb.AppendLine(before is long b ? string.Create(inv, $"| continued from | `{initFrom}` after its {b:N0} tokens (its card); {tokens:N0} in this run |")
                : $"| continued from | `{initFrom}`, whose card gives no count of tokens seen |");
        sb.AppendLine(inv, $"| training speed | {speed:F0} tokens/s (median of the logged windows) |");
        if (lastVal is not null)
            sb.AppendLine(inv, $"| final validation loss | {lastVal["val_loss"]!.GetValue<double>():F4} (perplexity {lastVal["val_ppl"]!.GetValue<double>():F2}) |");
        sb.AppendLine(inv, $"| corpus manifest | {(manifest is null ? "not found" : $"`{Path.GetFileName(manifest)}` sha256 {Sha256(manifest)}")} |");
        sb.AppendLine(inv, $"| corpus files | `{recipe["data"]}/train.jsonl` sha256 {Sha256(Path.Combine(recipe["data"]!.GetValue<string>(), "train.jsonl"))} |");
        sb.AppendLine();
        sb.AppendLine("## Validation perplexity per source").AppendLine();
        sb.AppendLine("Measured on the held-out split of each source (the same 48 windows of the recipe's sequence length per source).").AppendLine();
        sb.AppendLine("| source | loss | perplexity |").AppendLine("|---|---|---|");
        foreach (var (source, loss) in bySource) sb.AppendLine(inv, $"| {source} | {loss:F4} | {Math.Exp(loss):F2} |");
        sb.AppendLine();
        if (languages is not null)
        {
            sb.AppendLine("## Languages").AppendLine();
            sb.AppendLine("Training tokens per language, estimated per source as the manifest's training characters times the tokens per " +
                          "character of that source's validation split; validation loss is the mean over the language's sources above.").AppendLine();
            sb.AppendLine("| language | training characters | training tokens (estimated) | share of tokens | validation loss |").AppendLine("|---|---:|---:|---:|---:|");
            double total = languages.Sum(l => l.Tokens);
            foreach (var l in languages)
                sb.AppendLine(inv, $"| {LanguageName(l.Language)} | {l.Characters:N0} | {l.Tokens:N0} | {l.Tokens / total:P1} | {(double.IsNaN(l.ValidationLoss) ? "-" : l.ValidationLoss.ToString("F4", inv))} |");
            sb.AppendLine();
        }
        sb.AppendLine("## Recipe").AppendLine();
        sb.AppendLine("Reproduce with `./tailor pretrain --config recipes/<this model>.yaml`; the full option set it ran with:").AppendLine();
        sb.AppendLine("```json").AppendLine(recipe.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })).AppendLine("```").AppendLine();
        sb.AppendLine("## Ten sampled continuations").AppendLine();
        sb.AppendLine("Openings of held-out validation documents; temperature 0.8, top-p 0.95, 48 new tokens, seeds 1000-1009.").AppendLine();
        foreach (var (prompt, text) in samples)
            sb.AppendLine($"- **{Escape(prompt)}**{Escape(text)}");
        return sb.ToString();
    }

    /// <summary>One language of a multilingual corpus on the card.</summary>
    internal sealed record LanguageShare(string Language, long Characters, long Tokens, double ValidationLoss);

    /// <summary>
    /// Per language (from a manifest whose sources carry a "language"): training characters, training tokens estimated
    /// from each source's validation tokens per character, and the mean validation loss of its sources. Null for a
    /// single-language or missing manifest.
    /// </summary>
    internal static IReadOnlyList<LanguageShare>? LanguageMix(string? manifest, string tokensDir, IReadOnlyDictionary<string, double> bySource)
    {
        if (manifest is null) return null;
        var sources = JsonNode.Parse(File.ReadAllText(manifest))?["sources"]?.AsObject();
        if (sources is null || sources.Any(s => s.Value?["language"] is null)) return null;
        var rows = new List<LanguageShare>();
        foreach (var group in sources.GroupBy(s => s.Value!["language"]!.GetValue<string>()).OrderBy(g => g.Key == "en" ? "" : g.Key, StringComparer.Ordinal))
        {
            long chars = 0;
            double tokens = 0;
            var losses = new List<double>();
            foreach (var (name, entry) in group)
            {
                long trainChars = entry!["train"]!["characters"]!.GetValue<long>();
                long validChars = entry["valid"]!["characters"]!.GetValue<long>();
                chars += trainChars;
                string file = Path.Combine(tokensDir, $"valid.{name}.tok");
                if (validChars > 0 && File.Exists(file))
                {
                    using var t = TokenFile.Open(file);
                    tokens += (double)trainChars * t.Count / validChars;
                }
                if (bySource.TryGetValue(name, out double loss)) losses.Add(loss);
            }
            rows.Add(new LanguageShare(group.Key, chars, (long)Math.Round(tokens), losses.Count == 0 ? double.NaN : losses.Average()));
        }
        return rows.Count > 1 ? rows : null;
    }

    private static string LanguageName(string code) => code switch
    {
        "en" => "English", "de" => "German", "fr" => "French", "es" => "Spanish", "it" => "Italian", _ => code,
    };

    private static string Opening(string text)
    {
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return string.Join(' ', words.Take(Math.Min(8, Math.Max(3, words.Length / 3))));
    }

    private static string Escape(string s) => s.Replace("\n", " ⏎ ", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal);

    private static string? FindManifest(string data)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(data)); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "MANIFEST.json");
            if (File.Exists(candidate)) return candidate;
            if (dir.Name == "data") break;
        }
        return null;
    }

    private static string Sha256(string path)
    {
        if (!File.Exists(path)) return "(missing)";
        return StableHash.Sha256File(path)[..16];
    }
}
