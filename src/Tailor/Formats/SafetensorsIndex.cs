using System.Text.Json;
using System.Text.Unicode;

namespace Tailor.Formats;

/// <summary>
/// The index of a sharded HF checkpoint, <c>model.safetensors.index.json</c>:
/// <c>{"metadata": {"total_size": bytes}, "weight_map": {tensor name: shard file name}}</c>.
/// </summary>
/// <remarks>
/// <see cref="Read"/> checks the index itself and that every shard it names exists beside it. Whether the shards hold
/// exactly the tensors the map assigns to them is checked when they are opened (<see cref="HfCheckpoint.LoadInto"/>,
/// <see cref="HfCheckpoint.LoadTensors"/>).
/// </remarks>
public sealed class SafetensorsIndex
{
    /// <summary>The index's file name in an HF folder.</summary>
    public const string FileName = "model.safetensors.index.json";

    // Real indexes are a few hundred kB; the cap keeps a wrong path (a weights file) from being read whole.
    private const long MaxIndexBytes = 64L << 20;

    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 16 };

    private SafetensorsIndex(string filePath, IReadOnlyDictionary<string, string> weightMap, long? totalSize)
    {
        FilePath = filePath;
        Folder = Path.GetDirectoryName(Path.GetFullPath(filePath))!;
        WeightMap = weightMap;
        TotalSize = totalSize;
        ShardFiles = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The index file.</summary>
    public string FilePath { get; }

    /// <summary>The folder that holds the index and its shards.</summary>
    public string Folder { get; }

    /// <summary>Tensor name → shard file name (a plain file name in <see cref="Folder"/>).</summary>
    public IReadOnlyDictionary<string, string> WeightMap { get; }

    /// <summary>The distinct shard file names, sorted.</summary>
    public IReadOnlyList<string> ShardFiles { get; }

    /// <summary><c>metadata.total_size</c> when present as an integer (HF: total bytes of all tensors), else null.</summary>
    public long? TotalSize { get; }

    /// <summary>The full path of a shard named in the index.</summary>
    public string ShardPath(string shardFile) => Path.Combine(Folder, shardFile);

    /// <summary>Reads and validates an index file.</summary>
    /// <exception cref="FileNotFoundException">The index file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The JSON is invalid, the map is empty or malformed, a shard name is
    /// not a plain file name, or a shard file is missing.</exception>
    public static SafetensorsIndex Read(string indexPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(indexPath);
        long length = new FileInfo(indexPath).Length;
        if (length > MaxIndexBytes)
            FormatThrow.File(indexPath, $"the index is {length} bytes, far more than any sharded checkpoint's index. Check that the path names a model.safetensors.index.json.");

        byte[] bytes = System.IO.File.ReadAllBytes(indexPath);
        if (!Utf8.IsValid(bytes))
            FormatThrow.File(indexPath, "the index is not valid UTF-8 text. Re-download the checkpoint or re-save it.");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, JsonOptions);
        }
        catch (JsonException e)
        {
            FormatThrow.File(indexPath, $"the index is not valid JSON ({e.Message}). Re-download the checkpoint or re-save it.", e);
            throw; // unreachable
        }

        using (document)
        {
            try
            {
                return FromJson(indexPath, document.RootElement);
            }
            catch (InvalidOperationException e)
            {
                // JsonDocument parses escapes lazily: a lone surrogate such as "\ud800" only fails when a string is read.
                FormatThrow.File(indexPath, $"the index holds a string that is not valid Unicode ({e.Message}). Re-download the checkpoint or re-save it.", e);
                throw; // unreachable
            }
        }
    }

    private static SafetensorsIndex FromJson(string indexPath, JsonElement root)
    {
        JsonElement map = default;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("weight_map", out map) || map.ValueKind != JsonValueKind.Object)
            FormatThrow.File(indexPath, "the index has no \"weight_map\" object. Re-download the checkpoint or re-save it.");

        long? totalSize = null;
        if (root.TryGetProperty("metadata", out JsonElement metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("total_size", out JsonElement total) && total.ValueKind == JsonValueKind.Number
            && total.TryGetInt64(out long totalBytes))
            totalSize = totalBytes;

        string folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        var checkedShards = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty entry in map.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                FormatThrow.Tensor(indexPath, entry.Name, $"the weight_map value must be a shard file name but is a {entry.Value.ValueKind}. Re-download the checkpoint or re-save it.");
            string shard = entry.Value.GetString()!;
            if (!weightMap.TryAdd(entry.Name, shard))
                FormatThrow.Tensor(indexPath, entry.Name, "the weight_map lists this tensor twice. Re-download the checkpoint or re-save it.");
            if (!IsPlainFileName(shard))
                FormatThrow.Tensor(indexPath, entry.Name, $"the weight_map names shard '{CheckpointFormatException.Printable(shard)}', which is not a plain file name beside the index. Shards must sit in the index's folder.");
            if (checkedShards.Add(shard) && !System.IO.File.Exists(Path.Combine(folder, shard)))
                FormatThrow.Tensor(indexPath, entry.Name, $"the weight_map puts this tensor in shard '{CheckpointFormatException.Printable(shard)}', which does not exist in {folder}. The download is incomplete; fetch the missing shard.");
        }

        if (weightMap.Count == 0)
            FormatThrow.File(indexPath, "the weight_map is empty, so the checkpoint has no weights. Re-download the checkpoint or re-save it.");

        return new SafetensorsIndex(indexPath, weightMap, totalSize);
    }

    private static bool IsPlainFileName(string name) =>
        name.Length > 0 && name is not ("." or "..") && name.IndexOfAny(['/', '\\', '\0']) < 0;
}
