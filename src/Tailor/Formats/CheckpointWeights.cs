namespace Tailor.Formats;

/// <summary>
/// The weights of an HF folder as one name → (file, entry) map, whether they sit in <c>model.safetensors</c> or in
/// shards listed by <c>model.safetensors.index.json</c>. Opening validates every file and, for shards, that each one
/// holds exactly the tensors the index assigns to it.
/// </summary>
internal sealed class CheckpointWeights : IDisposable
{
    private readonly List<SafetensorsReader> _readers = [];
    private readonly Dictionary<string, SafetensorsReader> _owner = new(StringComparer.Ordinal);

    private CheckpointWeights(string source) => Source = source;

    /// <summary>The file that lists the weights: <c>model.safetensors</c> or the index. Missing tensors are reported against it.</summary>
    public string Source { get; }

    /// <summary>All tensors, in file order (shard by shard).</summary>
    public IEnumerable<(SafetensorsReader Reader, SafetensorsTensorInfo Info)> Tensors =>
        _readers.SelectMany(r => r.Header.Tensors.Select(t => (r, t)));

    public bool TryGet(string name, out SafetensorsReader reader, out SafetensorsTensorInfo info)
    {
        if (_owner.TryGetValue(name, out SafetensorsReader? owner) && owner.Header.TryGet(name, out SafetensorsTensorInfo? entry))
        {
            reader = owner;
            info = entry;
            return true;
        }

        reader = null!;
        info = null!;
        return false;
    }

    public static CheckpointWeights Open(string folder, SafetensorsReadMode mode)
    {
        HfCheckpoint.ThrowIfFolderMissing(folder);
        string single = Path.Combine(folder, HfCheckpoint.WeightsFile);
        string index = Path.Combine(folder, SafetensorsIndex.FileName);
        if (System.IO.File.Exists(single))
        {
            var weights = new CheckpointWeights(single);
            try
            {
                weights.Add(SafetensorsReader.Open(single, mode));
                return weights;
            }
            catch
            {
                weights.Dispose();
                throw;
            }
        }

        if (System.IO.File.Exists(index))
            return OpenSharded(SafetensorsIndex.Read(index), mode);

        FormatThrow.File(folder, $"the folder has neither {HfCheckpoint.WeightsFile} nor {SafetensorsIndex.FileName}. Point at an HF checkpoint folder (the one holding config.json and the weights).");
        return null; // unreachable
    }

    private static CheckpointWeights OpenSharded(SafetensorsIndex index, SafetensorsReadMode mode)
    {
        var weights = new CheckpointWeights(index.FilePath);
        try
        {
            foreach (string shard in index.ShardFiles)
            {
                SafetensorsReader reader = SafetensorsReader.Open(index.ShardPath(shard), mode);
                weights.Add(reader);
                foreach (SafetensorsTensorInfo info in reader.Header.Tensors)
                {
                    if (!index.WeightMap.TryGetValue(info.Name, out string? listedShard))
                        FormatThrow.Tensor(reader.FilePath, info.Name, $"the shard holds this tensor but {SafetensorsIndex.FileName} does not list it. The index and the shards come from different saves; re-download the checkpoint.");
                    if (listedShard != shard)
                        FormatThrow.Tensor(reader.FilePath, info.Name, $"the shard holds this tensor but {SafetensorsIndex.FileName} puts it in '{CheckpointFormatException.Printable(listedShard)}'. The index and the shards come from different saves; re-download the checkpoint.");
                }
            }

            foreach ((string name, string shard) in index.WeightMap)
            {
                if (!weights._owner.ContainsKey(name))
                    FormatThrow.Tensor(index.ShardPath(shard), name, $"{SafetensorsIndex.FileName} puts this tensor in this shard but the shard does not hold it. The shard is from another save or damaged; re-download it.");
            }

            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private void Add(SafetensorsReader reader)
    {
        _readers.Add(reader);
        foreach (SafetensorsTensorInfo info in reader.Header.Tensors)
            _owner[info.Name] = reader;
    }

    public void Dispose()
    {
        foreach (SafetensorsReader reader in _readers)
            reader.Dispose();
        _readers.Clear();
    }
}
