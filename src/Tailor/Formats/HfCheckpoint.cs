using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>Options for <see cref="HfCheckpoint.Save(string, IReadOnlyDictionary{string, Tensor}, string, HfSaveOptions?)"/>.</summary>
public sealed record HfSaveOptions
{
    /// <summary>
    /// The model ties <c>lm_head.weight</c> to <c>model.embed_tokens.weight</c> (HF <c>tie_word_embeddings</c>).
    /// Then only the embedding is written, as HF writes tied checkpoints. Default false.
    /// </summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>Store floating-point weights as this dtype (Float32, Float16 or BFloat16). Null (default): keep each tensor's dtype.</summary>
    public ScalarType? Dtype { get; init; }

    /// <summary>
    /// More files to put in the folder, file name → UTF-8 text: typically <c>tokenizer.json</c>,
    /// <c>tokenizer_config.json</c>, <c>generation_config.json</c>. Names must be plain file names and must not be
    /// <c>config.json</c> or a weights file.
    /// </summary>
    public IReadOnlyDictionary<string, string>? ExtraFiles { get; init; }

    /// <summary>
    /// Called with the staging folder after the weights and config are written, for files a caller writes itself
    /// (for example a tokenizer that saves to a path). Whatever it writes there becomes part of the checkpoint.
    /// </summary>
    public Action<string>? WriteExtraFiles { get; init; }

    /// <summary>Flush every file to the disk before the folder is swapped in (default true); tests may turn it off.</summary>
    public bool FlushToDisk { get; init; } = true;
}

/// <summary>
/// A Hugging Face checkpoint folder: <c>config.json</c>, <c>model.safetensors</c> (or shards listed by
/// <c>model.safetensors.index.json</c> when reading), and the tokenizer and generation files callers add.
/// </summary>
/// <remarks>
/// <para><b>Saving is atomic per folder.</b> Everything is written to a hidden sibling folder first; only then is the
/// old folder renamed away, the new one renamed in, and the old one deleted. A crash at any point leaves either the
/// old checkpoint or the new one at <c>folder</c>, never a mix. (The one gap is the instant between the two renames;
/// a crash there leaves <c>folder</c> absent and the old checkpoint at <c>.{name}.replaced-*</c> beside it, which the
/// next save and the training recipes' <c>--resume</c> rename back (<see cref="RecoverInterruptedSave"/>) and
/// <see cref="LoadInto"/>'s error message points at.)</para>
/// <para><b>Loading is strict.</b> Names and shapes are checked against the module's own <c>state_dict()</c> before any
/// weight is copied, so a mismatched checkpoint leaves the model untouched.</para>
/// </remarks>
public static class HfCheckpoint
{
    /// <summary>The model config file.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>The single (unsharded) weights file.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>The tokenizer file (HF <c>tokenizers</c> JSON).</summary>
    public const string TokenizerFile = "tokenizer.json";

    /// <summary>The tokenizer config (special tokens, chat template).</summary>
    public const string TokenizerConfigFile = "tokenizer_config.json";

    /// <summary>The default generation settings.</summary>
    public const string GenerationConfigFile = "generation_config.json";

    /// <summary>The input embedding's state-dict key in HF Llama checkpoints.</summary>
    public const string EmbedTokensWeight = "model.embed_tokens.weight";

    /// <summary>The output projection's state-dict key, absent from checkpoints of models with tied embeddings.</summary>
    public const string LmHeadWeight = "lm_head.weight";

    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>
    /// Saves tensors and config as an HF checkpoint folder, atomically replacing whatever was at <paramref name="folder"/>.
    /// </summary>
    /// <param name="folder">The checkpoint folder to create or replace; its parent is created if needed.</param>
    /// <param name="tensors">State-dict key → tensor (any device); only read.</param>
    /// <param name="configJson">The text of <c>config.json</c>; must be a JSON object.</param>
    /// <param name="options">Tied embeddings, dtype, extra files; defaults when null.</param>
    /// <exception cref="ArgumentException">The config is not a JSON object, an extra file name is not allowed, or with
    /// <see cref="HfSaveOptions.TiedEmbeddings"/> the lm_head differs from the embedding.</exception>
    public static void Save(string folder, IReadOnlyDictionary<string, Tensor> tensors, string configJson, HfSaveOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(configJson);
        options ??= new HfSaveOptions();
        CheckConfigJson(configJson);
        CheckExtraFileNames(options.ExtraFiles);
        IReadOnlyDictionary<string, Tensor> toWrite = options.TiedEmbeddings ? WithoutTiedHead(tensors) : tensors;

        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string parent = Path.GetDirectoryName(target) ?? throw new ArgumentException($"'{folder}' is a root directory; save the checkpoint into a folder.", nameof(folder));
        string name = Path.GetFileName(target);
        if (System.IO.File.Exists(target))
            throw new IOException($"{target} is a file; a checkpoint is a folder. Choose another path or remove the file.");
        Directory.CreateDirectory(parent);
        RecoverInterruptedSave(target);

        string staging = Path.Combine(parent, $".{name}.saving-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            Safetensors.Save(Path.Combine(staging, WeightsFile), toWrite, new SafetensorsWriteOptions
            {
                Dtype = options.Dtype,
                FlushToDisk = options.FlushToDisk,
            });
            WriteText(Path.Combine(staging, ConfigFile), configJson, options.FlushToDisk);
            if (options.ExtraFiles is { } extra)
            {
                foreach ((string file, string text) in extra)
                    WriteText(Path.Combine(staging, file), text, options.FlushToDisk);
            }

            options.WriteExtraFiles?.Invoke(staging);
            SwapIn(staging, target, parent, name);
        }
        catch
        {
            TryDeleteFolder(staging);
            throw;
        }
    }

    /// <summary>Saves a module's <c>state_dict()</c> and config as an HF checkpoint folder (see the dictionary overload).</summary>
    public static void Save(string folder, nn.Module model, string configJson, HfSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        Save(folder, model.state_dict(), configJson, options);
    }

    /// <summary>
    /// Loads an HF checkpoint's weights into <paramref name="model"/> in place: reads <c>model.safetensors</c> (or, when
    /// there is none, the shards of <c>model.safetensors.index.json</c>), checks names and shapes against the module's own
    /// <c>state_dict()</c>, converts each tensor to the dtype (and device) of the parameter it fills, and copies under
    /// <c>no_grad</c>.
    /// </summary>
    /// <param name="model">The module to fill; its parameter names are the HF state-dict keys.</param>
    /// <param name="folder">The checkpoint folder.</param>
    /// <param name="tiedEmbeddings">The model ties <c>lm_head.weight</c> to <c>model.embed_tokens.weight</c>; the
    /// checkpoint may then omit <c>lm_head.weight</c> (as HF checkpoints do), and one it has is ignored.</param>
    /// <param name="mode">Memory-mapped (default) or streamed reads.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="CheckpointFormatException">A file is invalid, or a tensor is missing, extra, or of another
    /// shape than the model's; nothing has been copied into the model in that case.</exception>
    /// <exception cref="ArgumentException"><paramref name="tiedEmbeddings"/> is true but the model's lm_head does not
    /// share the embedding's storage (the model is not really tied).</exception>
    public static void LoadInto(nn.Module model, string folder, bool tiedEmbeddings = false, SafetensorsReadMode mode = SafetensorsReadMode.MemoryMapped)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        using CheckpointWeights weights = CheckpointWeights.Open(folder, mode);
        Dictionary<string, Tensor> expected = model.state_dict();

        // TorchSharp lists a parameter object once, so a model tied by sharing one Parameter shows only the embedding;
        // a model tied by sharing storage shows both keys and lm_head is filled through the embedding.
        Tensor? separateHead = null;
        if (tiedEmbeddings)
        {
            if (!expected.ContainsKey(EmbedTokensWeight))
                throw new ArgumentException($"tiedEmbeddings is true but the model has no '{EmbedTokensWeight}'.", nameof(tiedEmbeddings));
            expected.Remove(LmHeadWeight, out separateHead);
        }

        foreach ((string name, Tensor parameter) in expected)
        {
            if (!weights.TryGet(name, out SafetensorsReader reader, out SafetensorsTensorInfo info))
                FormatThrow.Missing(weights.Source, name);
            if (!info.Shape.AsSpan().SequenceEqual(parameter.shape))
                FormatThrow.ShapeMismatch(reader.FilePath, name, info.Shape, parameter.shape);
        }

        foreach ((SafetensorsReader reader, SafetensorsTensorInfo info) in weights.Tensors)
        {
            if (expected.ContainsKey(info.Name))
                continue;
            if (!tiedEmbeddings || info.Name != LmHeadWeight)
                FormatThrow.Unexpected(reader.FilePath, info.Name);
            long[] embedShape = expected[EmbedTokensWeight].shape;
            if (!info.Shape.AsSpan().SequenceEqual(embedShape))
                FormatThrow.ShapeMismatch(reader.FilePath, info.Name, info.Shape, embedShape);
        }

        foreach ((string name, Tensor parameter) in expected)
        {
            weights.TryGet(name, out SafetensorsReader reader, out _);
            reader.ReadInto(name, parameter);
        }

        if (separateHead is not null)
        {
            using IDisposable noGrad = torch.no_grad();
            if (!separateHead.Equals(expected[EmbedTokensWeight]))
                throw new ArgumentException($"tiedEmbeddings is true but the model's '{LmHeadWeight}' does not share storage with '{EmbedTokensWeight}', so it was not loaded. Tie the parameters in the model, or pass tiedEmbeddings: false with a checkpoint that has {LmHeadWeight}.", nameof(tiedEmbeddings));
        }
    }

    /// <summary>
    /// Loads an HF checkpoint whose tensor names need mapping onto the module's keys (GPT-2 checkpoints with or without
    /// the <c>transformer.</c> prefix, say). <paramref name="keyOf"/> maps a tensor name in the file to the module's
    /// state-dict key, or to null for a tensor the module does not keep (a causal-mask buffer an old checkpoint saved, a
    /// tied head). Strict like <see cref="LoadInto(nn.Module, string, bool, SafetensorsReadMode)"/>: every module key
    /// must be filled exactly once with the right shape, and nothing is copied unless all checks pass.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A tensor is missing, extra, given twice under two names, or of another shape.</exception>
    public static void LoadIntoMapped(nn.Module model, string folder, Func<string, string?> keyOf, SafetensorsReadMode mode = SafetensorsReadMode.MemoryMapped)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(keyOf);
        using CheckpointWeights weights = CheckpointWeights.Open(folder, mode);
        Dictionary<string, Tensor> expected = model.state_dict();
        var source = new Dictionary<string, (SafetensorsReader Reader, string Name)>(StringComparer.Ordinal);
        foreach ((SafetensorsReader reader, SafetensorsTensorInfo info) in weights.Tensors)
        {
            if (keyOf(info.Name) is not string key)
                continue;
            if (!expected.TryGetValue(key, out Tensor? parameter))
                FormatThrow.Unexpected(reader.FilePath, info.Name);
            if (!info.Shape.AsSpan().SequenceEqual(parameter!.shape))
                FormatThrow.ShapeMismatch(reader.FilePath, info.Name, info.Shape, parameter.shape);
            if (!source.TryAdd(key, (reader, info.Name)))
                FormatThrow.Tensor(reader.FilePath, info.Name, $"fills '{key}', which '{source[key].Name}' already fills; a checkpoint holds each weight once. Remove one of them.");
        }
        foreach (string name in expected.Keys)
        {
            if (!source.ContainsKey(name))
                FormatThrow.Missing(weights.Source, name);
        }
        foreach ((string key, (SafetensorsReader reader, string name)) in source)
            reader.ReadInto(name, expected[key]);
    }

    /// <summary>
    /// Reads all weights of an HF checkpoint folder (single file or sharded) into new CPU tensors with the file's
    /// dtypes, keyed by state-dict name. The caller owns the tensors. For export tools that have no module.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="CheckpointFormatException">A file is invalid or the shards disagree with the index.</exception>
    public static Dictionary<string, Tensor> LoadTensors(string folder, SafetensorsReadMode mode = SafetensorsReadMode.MemoryMapped)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        using CheckpointWeights weights = CheckpointWeights.Open(folder, mode);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach ((SafetensorsReader reader, SafetensorsTensorInfo info) in weights.Tensors)
                tensors.Add(info.Name, reader.Read(info));
            return tensors;
        }
        catch
        {
            foreach (Tensor tensor in tensors.Values)
                tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Tidies what an interrupted <see cref="Save(string, IReadOnlyDictionary{string, Tensor}, string, HfSaveOptions?)"/>
    /// of <paramref name="folder"/> left beside it, touching only folders whose names this class gives its own
    /// (<c>.{name}.saving-{32 hex digits}</c>, <c>.{name}.replaced-{32 hex digits}</c>): when <paramref name="folder"/> is
    /// missing because the crash fell between the two renames, the replaced checkpoint (complete: it was the live one) is
    /// renamed back to it; then unfinished staging folders and replaced checkpoints that a finished save superseded are
    /// deleted. Called by every save, and by training recipes before they look for a checkpoint to resume. Not safe
    /// against another process saving the same folder at the same moment (which is unsafe anyway).
    /// </summary>
    /// <returns>One line per action taken (for a log); empty when there was nothing to do.</returns>
    public static IReadOnlyList<string> RecoverInterruptedSave(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string? parent = Path.GetDirectoryName(target);
        var actions = new List<string>();
        if (parent is null || !Directory.Exists(parent)) return actions;
        var ours = new System.Text.RegularExpressions.Regex(
            "^\\." + System.Text.RegularExpressions.Regex.Escape(Path.GetFileName(target)) + "\\.(saving|replaced)-[0-9a-f]{32}$");
        var leftovers = Directory.EnumerateDirectories(parent).Where(d => ours.IsMatch(Path.GetFileName(d))).ToList();
        var replaced = leftovers.Where(d => Path.GetFileName(d).Contains(".replaced-", StringComparison.Ordinal))
            .OrderByDescending(Directory.GetLastWriteTimeUtc).ToList();
        if (!Directory.Exists(target) && !System.IO.File.Exists(target) && replaced.Count > 0)
        {
            Directory.Move(replaced[0], target);
            actions.Add($"recovered {target} from {Path.GetFileName(replaced[0])}, the checkpoint an interrupted save was replacing");
            leftovers.Remove(replaced[0]);
        }
        foreach (string leftover in leftovers)
        {
            TryDeleteFolder(leftover);
            if (!Directory.Exists(leftover)) actions.Add($"deleted {leftover}, left by an interrupted save");
        }
        return actions;
    }

    /// <summary>Throws a <see cref="DirectoryNotFoundException"/> for a missing folder, pointing at a checkpoint an interrupted save left beside it.</summary>
    internal static void ThrowIfFolderMissing(string folder)
    {
        if (Directory.Exists(folder))
            return;

        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string? parent = Path.GetDirectoryName(target);
        string? replaced = parent is not null && Directory.Exists(parent)
            ? Directory.EnumerateDirectories(parent, $".{Path.GetFileName(target)}.replaced-*").FirstOrDefault()
            : null;
        throw new DirectoryNotFoundException(replaced is null
            ? $"{target}: checkpoint folder not found. Check the path."
            : $"{target}: checkpoint folder not found, but {replaced} holds the checkpoint an interrupted save was replacing. Rename it to {target} to recover it.");
    }

    private static Dictionary<string, Tensor> WithoutTiedHead(IReadOnlyDictionary<string, Tensor> tensors)
    {
        var kept = new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
        if (!kept.Remove(LmHeadWeight, out Tensor? head))
            return kept;
        if (!kept.TryGetValue(EmbedTokensWeight, out Tensor? embed))
            throw new ArgumentException($"TiedEmbeddings is true but there is no '{EmbedTokensWeight}' to stand for '{LmHeadWeight}'.", nameof(tensors));

        using IDisposable noGrad = torch.no_grad();
        if (!head.shape.AsSpan().SequenceEqual(embed.shape) || !head.Equals(embed))
            throw new ArgumentException($"TiedEmbeddings is true but '{LmHeadWeight}' differs from '{EmbedTokensWeight}'; saving only the embedding would lose the head. Pass TiedEmbeddings = false or tie the model.", nameof(tensors));
        return kept;
    }

    private static void CheckConfigJson(string configJson)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(configJson);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ArgumentException($"config.json must be a JSON object, not a {document.RootElement.ValueKind}.", nameof(configJson));
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"config.json is not valid JSON: {e.Message}", nameof(configJson), e);
        }
    }

    private static void CheckExtraFileNames(IReadOnlyDictionary<string, string>? extraFiles)
    {
        if (extraFiles is null)
            return;
        foreach (string file in extraFiles.Keys)
        {
            bool plain = file.Length > 0 && file is not ("." or "..") && file.IndexOfAny(['/', '\\', '\0']) < 0;
            bool reserved = file is ConfigFile or WeightsFile or SafetensorsIndex.FileName;
            if (!plain || reserved)
                throw new ArgumentException($"Extra file '{file}' must be a plain file name other than {ConfigFile}, {WeightsFile} and {SafetensorsIndex.FileName}.", nameof(extraFiles));
        }
    }

    private static void WriteText(string path, string text, bool flushToDisk)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        stream.Write(Utf8NoBom.GetBytes(text));
        stream.Flush(flushToDisk);
    }

    /// <summary>Renames the old folder away, the staged one in, then deletes the old one.</summary>
    internal static void SwapIn(string staging, string target, string parent, string name)
    {
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return;
        }

        string replaced = Path.Combine(parent, $".{name}.replaced-{Guid.NewGuid():N}");
        Directory.Move(target, replaced);
        try
        {
            Directory.Move(staging, target);
        }
        catch
        {
            // Put the old checkpoint back so a failed save changes nothing.
            Directory.Move(replaced, target);
            throw;
        }

        TryDeleteFolder(replaced);
    }

    internal static void TryDeleteFolder(string path)
    {
        try
        {
            if (Directory.Exists(path))
                Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover hidden folder is harmless; the save itself has succeeded or failed already.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
