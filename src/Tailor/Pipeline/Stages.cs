using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Training;

namespace Tailor.Pipeline;

/// <summary>
/// The main job's stage bookkeeping: each stage's folder holds a <c>stage.json</c> (fingerprint, status, seconds); a
/// stage whose fingerprint (sha256 of its options, inputs and the code's build id) matches a finished one is skipped;
/// the run folder's <c>manifest.json</c> lists every stage. Folder hashes are cached by path, size and time.
/// </summary>
internal static class Stages
{
    /// <summary>The manifest file of a run folder.</summary>
    public const string ManifestFile = "manifest.json";

    private const string StageFile = "stage.json";

    public static string ChooseFolder(RunOptions o)
    {
        if (o.Output is not null) return o.Output;
        const string root = "runs";
        if (!o.New && Directory.Exists(root))
        {
            // The newest run of this profile that did not finish, or whose stages may be reused.
            foreach (var dir in Directory.GetDirectories(root, "run-*").OrderDescending(StringComparer.Ordinal))
            {
                string manifest = Path.Combine(dir, ManifestFile);
                if (!File.Exists(manifest)) continue;
                try
                {
                    var m = JsonNode.Parse(File.ReadAllText(manifest));
                    if (m?["profile"]?.GetValue<string>() == RecipeOptions.Name(o.Profile)) return dir;
                }
                catch (JsonException)
                {
                }
                break;
            }
        }
        return Path.Combine(root, "run-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
    }

    /// <summary>A stage's recorded state.</summary>
    /// <param name="Fingerprint">sha256 of its inputs (16 hex digits).</param>
    /// <param name="Status">running or done.</param>
    /// <param name="Seconds">Wall time of the attempt that finished it.</param>
    public sealed record StageState(string Fingerprint, string Status, double Seconds);

    public static StageState? ReadStage(string dir)
    {
        string path = Path.Combine(dir, StageFile);
        if (!File.Exists(path)) return null;
        try
        {
            var n = JsonNode.Parse(File.ReadAllText(path));
            return new StageState(n?["fingerprint"]?.GetValue<string>() ?? "", n?["status"]?.GetValue<string>() ?? "", n?["seconds"]?.GetValue<double>() ?? 0);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;   // a torn write: the stage runs again
        }
    }

    public static void WriteStage(string dir, string fingerprint, string status, double seconds)
    {
        var n = new JsonObject { ["fingerprint"] = fingerprint, ["status"] = status, ["seconds"] = Math.Round(seconds, 2) };
        string tmp = Path.Combine(dir, StageFile + ".tmp");
        File.WriteAllText(tmp, n.ToJsonString() + "\n");
        File.Move(tmp, Path.Combine(dir, StageFile), overwrite: true);
    }

    /// <summary>The fingerprint a finished stage recorded (its downstream stages hash it as their input).</summary>
    public static string StagePrint(string folder, string stage) => ReadStage(Path.Combine(folder, "stages", stage))?.Fingerprint ?? "missing";

    public static void WriteManifest(string folder, RunOptions o, IReadOnlyList<StageRecord> stages, TimeSpan elapsed, bool finished)
    {
        var m = new JsonObject
        {
            ["profile"] = RecipeOptions.Name(o.Profile),
            ["finished"] = finished,
            ["elapsed_seconds"] = Math.Round(elapsed.TotalSeconds, 1),
            ["code_version"] = CodeVersion(),
            ["options"] = JsonNode.Parse(RecipeOptions.ToJson(o)),
            ["stages"] = new JsonArray([.. stages.Select(s => (JsonNode)new JsonObject
            {
                ["name"] = s.Name, ["kind"] = s.Kind, ["fingerprint"] = s.Fingerprint, ["seconds"] = Math.Round(s.Seconds, 1), ["skipped"] = s.Skipped,
            })]),
        };
        string tmp = Path.Combine(folder, ManifestFile + ".tmp");
        File.WriteAllText(tmp, m.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(tmp, Path.Combine(folder, ManifestFile), overwrite: true);
    }

    /// <summary>The library's build identity: its module version id (deterministic builds give the same id for the same code).</summary>
    public static string CodeVersion() => typeof(Stages).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..16];

    public static string Hash(params string[] parts) => StableHash.Sha256(parts.Select(p => p + "\u0000"))[..16];
}

/// <summary>
/// sha256 over the relative names and contents of every file in some folders, for stage fingerprints. One instance per
/// run: a file's hash is cached by its path, size and modification time, so a folder read by many stages is hashed once.
/// </summary>
public sealed class FolderHashes
{
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);

    /// <summary>The first 16 hex digits of the hash of <paramref name="folders"/> (a missing folder hashes as its name).</summary>
    public string Of(IEnumerable<string> folders)
    {
        ArgumentNullException.ThrowIfNull(folders);
        return StableHash.Sha256(Parts(folders))[..16];
    }

    private IEnumerable<string> Parts(IEnumerable<string> folders)
    {
        foreach (string folder in folders)
        {
            if (!Directory.Exists(folder))
            {
                yield return "missing:" + folder;
                continue;
            }
            foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var info = new FileInfo(file);
                string key = $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
                if (!_files.TryGetValue(key, out string? h)) _files[key] = h = StableHash.Sha256File(file);
                yield return Path.GetRelativePath(folder, file) + ":" + h + "\n";
            }
        }
    }
}
