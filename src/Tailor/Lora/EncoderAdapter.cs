using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Formats;
using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Lora;

/// <summary>
/// An encoder classifier's LoRA adapter in PEFT's layout for sequence classification (<c>task_type: SEQ_CLS</c>), as
/// <c>PeftModelForSequenceClassification.save_pretrained</c> writes it: <c>adapter_config.json</c> and
/// <c>adapter_model.safetensors</c> holding, under PEFT's prefix <c>base_model.model.</c>, each adapted layer's
/// <c>lora_A.weight</c> (r, in) and <c>lora_B.weight</c> (out, r) — e.g.
/// <c>base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight</c> — and the modules trained in full
/// (<c>modules_to_save</c>): the classification head (<c>base_model.model.classifier.weight</c>, RoBERTa's
/// <c>classifier.dense</c>/<c>classifier.out_proj</c>) and, when the base had none, the pooler
/// (<c>base_model.model.bert.pooler.dense.weight</c>). PEFT adds <c>classifier</c> and <c>score</c> to
/// <c>modules_to_save</c> of every SEQ_CLS adapter; <c>pooler</c> is listed first when it was trained.
/// <c>base_model_name_or_path</c> is a pretrained encoder's hub id (sentence-transformers/all-MiniLM-L6-v2; Tailor
/// resolves it, or the short name, as <c>--model</c> does) or the base folder's full path; the
/// label names, which PEFT does not keep, are in the folder's <c>tailor.json</c> (<c>labels</c>).
/// </summary>
/// <remarks>
/// PEFT matches <c>target_modules</c> as suffixes of module names, so <c>output.dense</c> also covers
/// <c>attention.output.dense</c> there; an adapter that targets <c>output.dense</c> alone loads in PEFT with extra,
/// zero-initialised (so inert) adapters on <c>attention.output.dense</c>. The default (all six) is the same set both ways.
/// </remarks>
public static class EncoderAdapter
{
    /// <summary>PEFT's task type of a sequence classifier's adapter.</summary>
    public const string TaskType = "SEQ_CLS";

    /// <summary>What PEFT's <c>PeftModelForSequenceClassification</c> always adds to <c>modules_to_save</c>.</summary>
    private static readonly string[] ClassifierModules = ["classifier", "score"];

    /// <summary>Whether <paramref name="folder"/> holds an adapter_config.json with task_type SEQ_CLS (read, not validated).</summary>
    public static bool IsAdapterFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string path = Path.Combine(folder, LoraAdapter.AdapterConfigFile);
        if (!File.Exists(path) || new FileInfo(path).Length > 1 << 20) return false;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) is JsonObject o && o["task_type"] is JsonValue v && v.TryGetValue(out string? type) && type == TaskType;
        }
        catch (JsonException)
        {
            return false;   // Load reports the syntax error with the file's name
        }
    }

    /// <summary>
    /// Writes the adapter of <paramref name="model"/> (LoRA layers applied by <see cref="EncoderLora.Apply"/>) into
    /// <paramref name="folder"/>, replacing it atomically. <paramref name="trainedInFull"/> are the state-dict names of the
    /// parameters trained in full (head, fresh pooler); <paramref name="baseModel"/> goes to base_model_name_or_path;
    /// <paramref name="extraFiles"/> may add files (tailor.json) to the staging folder.
    /// </summary>
    /// <exception cref="TailorException">The model has no LoRA layers.</exception>
    public static void Save(ISequenceClassifier model, string folder, string baseModel, double dropout, IReadOnlyCollection<string> trainedInFull,
        Action<string>? extraFiles = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(trainedInFull);
        var adapters = EncoderLora.Adapters(model);
        if (adapters.Count == 0)
            throw new TailorException("the classifier has no LoRA layers; nothing to save as an adapter.");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (path, _, layer) in adapters)
        {
            tensors[$"{LoraAdapter.PeftPrefix}{path}.lora_A.weight"] = layer.LoraA;
            tensors[$"{LoraAdapter.PeftPrefix}{path}.lora_B.weight"] = layer.LoraB;
        }
        var state = ((nn.Module)model).state_dict();
        foreach (string name in trainedInFull.Order(StringComparer.Ordinal)) tensors[LoraAdapter.PeftPrefix + name] = state[name];

        var first = adapters[0].Layer;
        var targets = EncoderLora.TargetNames.Where(n => adapters.Any(a => a.Name == n)).ToList();
        var modules = trainedInFull.Any(n => n.Contains(".pooler.", StringComparison.Ordinal)) ? ["pooler", .. ClassifierModules] : ClassifierModules;
        var fields = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["alpha_pattern"] = new JsonObject(),
            ["base_model_name_or_path"] = baseModel,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = first.Alpha == Math.Floor(first.Alpha) && Math.Abs(first.Alpha) < 1e15 ? JsonValue.Create((long)first.Alpha) : JsonValue.Create(first.Alpha),
            ["lora_bias"] = false,
            ["lora_dropout"] = dropout,
            ["modules_to_save"] = new JsonArray([.. modules.Select(m => JsonValue.Create(m))]),
            ["peft_type"] = "LORA",
            ["r"] = first.Rank,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = new JsonArray([.. targets.Select(t => JsonValue.Create(t))]),
            ["task_type"] = TaskType,
            ["use_dora"] = false,
            ["use_rslora"] = false,
        };
        var root = new JsonObject();
        foreach (var (key, value) in fields) root[key] = value;
        string configJson = root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string parent = Path.GetDirectoryName(target)!;
        string leaf = Path.GetFileName(target);
        if (File.Exists(target))
            throw new TailorException($"{target} is a file; an adapter is a folder. Choose another path or remove the file.");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{leaf}.saving-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            using (no_grad()) Safetensors.Save(Path.Combine(staging, LoraAdapter.AdapterWeightsFile), tensors);
            File.WriteAllBytes(Path.Combine(staging, LoraAdapter.AdapterConfigFile), new UTF8Encoding(false).GetBytes(configJson));
            extraFiles?.Invoke(staging);
            HfCheckpoint.SwapIn(staging, target, parent, leaf);
        }
        catch
        {
            HfCheckpoint.TryDeleteFolder(staging);
            throw;
        }
    }

    /// <summary>
    /// The base model folder of an adapter: base_model_name_or_path resolved as <c>--model</c> resolves it (a pretrained
    /// encoder's name is converted or taken from the cache; a relative path is tried from the working folder, then from
    /// the adapter's folder).
    /// </summary>
    /// <exception cref="TailorException">The field is missing, or names no encoder folder.</exception>
    public static string BaseFolder(string adapterFolder, Action<string>? say = null)
    {
        var root = ReadConfig(adapterFolder, out string configPath);
        string? name = root["base_model_name_or_path"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        if (string.IsNullOrEmpty(name))
            throw new TailorException($"{configPath}: field 'base_model_name_or_path' is missing; set it to the encoder the adapter was trained on (a folder or {string.Join(", ", PretrainedEncoders.Names)}).");
        string folder = PretrainedEncoders.Resolve(name, say ?? (_ => { }));
        if (!Directory.Exists(folder) && !Path.IsPathRooted(name) && Directory.Exists(Path.Combine(adapterFolder, name))) folder = Path.Combine(adapterFolder, name);
        if (!Directory.Exists(folder) || !BertConfig.IsEncoderFolder(folder))
            throw new TailorException($"{configPath}: base_model_name_or_path '{name}' is not a BERT/RoBERTa folder here; point it at the base encoder (a folder or {string.Join(", ", PretrainedEncoders.Names)}).");
        return folder;
    }

    /// <summary>
    /// The classifier config the adapter makes of its base: the base's config.json with the head for the adapter's
    /// labels (tailor.json's <c>labels</c>; <c>LABEL_0</c>... from the head's rows when the adapter came from PEFT).
    /// </summary>
    public static BertConfig ReadClassifierConfig(string adapterFolder, Action<string>? say = null)
    {
        string baseFolder = BaseFolder(adapterFolder, say);
        var labels = Labels(adapterFolder);
        var config = BertConfig.FromPretrained(baseFolder).Clone();
        config.Architectures = [config.IsRoberta ? "RobertaForSequenceClassification" : "BertForSequenceClassification"];
        config.Id2Label = labels.Select((l, i) => (l, i)).ToDictionary(p => p.i.ToString(CultureInfo.InvariantCulture), p => p.l);
        config.Label2Id = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i);
        return config;
    }

    /// <summary>
    /// Loads the base encoder named by the adapter with a head for the adapter's labels, applies the adapter (checked
    /// tensor by tensor against adapter_config.json and the model) and merges it: a plain classifier, in eval mode, that
    /// computes what the training run's merged final/ computes. The caller owns the result.
    /// </summary>
    /// <exception cref="TailorException">A file or field is missing or unsupported, or a tensor does not fit the model; the message names it.</exception>
    public static PretrainedEncoder Load(string adapterFolder, Action<string>? say = null)
    {
        ArgumentNullException.ThrowIfNull(adapterFolder);
        var root = ReadConfig(adapterFolder, out string configPath);
        foreach (var (field, expected) in new[] { ("peft_type", "LORA"), ("task_type", TaskType) })
            if (!(root[field] is JsonValue v && v.TryGetValue(out string? s) && s == expected))
                throw new TailorException($"{configPath}: field '{field}' must be \"{expected}\" for an encoder classifier's LoRA adapter.");
        foreach (string flag in (string[])["use_dora", "use_rslora", "lora_bias", "fan_in_fan_out"])
            if (root[flag] is JsonValue v && v.TryGetValue(out bool on) && on)
                throw new TailorException($"{configPath}: field '{flag}' is true; Tailor's encoder LoRA supports only plain LoRA (false).");
        if (root["bias"] is JsonValue b && !(b.TryGetValue(out string? bias) && bias == "none"))
            throw new TailorException($"{configPath}: field 'bias' is {b.ToJsonString()}; Tailor supports only \"none\".");
        int rank = root["r"] is JsonValue r && r.TryGetValue(out int ri) && ri > 0 ? ri : throw new TailorException($"{configPath}: field 'r' is missing or not a positive integer.");
        double alpha = root["lora_alpha"] is JsonValue a && a.TryGetValue(out double ad) && ad > 0 ? ad : throw new TailorException($"{configPath}: field 'lora_alpha' is missing or not a positive number.");
        if (root["target_modules"] is not JsonArray list || list.Any(n => n is not JsonValue))
            throw new TailorException($"{configPath}: field 'target_modules' must be a list of layer names ({string.Join(", ", EncoderLora.TargetNames)}).");
        var targets = EncoderLora.ParseTargets(string.Join(',', list.Select(n => n!.GetValue<string>())), $"{configPath}: target_modules");

        string weightsPath = Path.Combine(adapterFolder, LoraAdapter.AdapterWeightsFile);
        if (!File.Exists(weightsPath))
            throw new TailorException($"{weightsPath}: file not found. An adapter folder holds {LoraAdapter.AdapterConfigFile} and {LoraAdapter.AdapterWeightsFile}.");
        var config = ReadClassifierConfig(adapterFolder, say);
        string baseFolder = BaseFolder(adapterFolder, say);
        var encoder = PretrainedEncoder.Load(baseFolder, config.Labels);
        try
        {
            var classifier = encoder.Classifier!;
            var module = (nn.Module)classifier;
            EncoderLora.Apply(classifier, targets, rank, alpha, 0, trainInFull: []);
            var state = module.state_dict();
            var expected = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (path, _, layer) in EncoderLora.Adapters(classifier))
            {
                expected[$"{LoraAdapter.PeftPrefix}{path}.lora_A.weight"] = layer.LoraA;
                expected[$"{LoraAdapter.PeftPrefix}{path}.lora_B.weight"] = layer.LoraB;
            }
            var header = Safetensors.ReadHeader(weightsPath);
            foreach (var info in header.Tensors)
            {
                string name = info.Name.StartsWith(LoraAdapter.PeftPrefix, StringComparison.Ordinal) ? info.Name[LoraAdapter.PeftPrefix.Length..] : "";
                if (!expected.ContainsKey(info.Name))
                {
                    if (!state.TryGetValue(name, out var live) || name.Contains(".lora_", StringComparison.Ordinal))
                        throw new CheckpointFormatException(weightsPath, info.Name, $"names no LoRA layer of target_modules ({string.Join(", ", targets)}) and no parameter of {config.Architectures[0]}; the adapter belongs to another model or config.");
                    expected[info.Name] = live;
                }
                if (!info.Shape.AsSpan().SequenceEqual(expected[info.Name].shape))
                    throw new CheckpointFormatException(weightsPath, info.Name, $"shape {SafetensorsTensorInfo.FormatShape(info.Shape)} in the file but the model's is {SafetensorsTensorInfo.FormatShape(expected[info.Name].shape)}; the adapter was trained for another base, rank or label set.");
            }
            foreach (string key in expected.Keys.Where(k => k.Contains(".lora_", StringComparison.Ordinal)))
                if (!header.TryGet(key, out _))
                    throw new CheckpointFormatException(weightsPath, key, $"missing: target_modules in {configPath} covers this layer but the file has no tensor for it.");
            if (!header.Tensors.Any(t => t.Name.StartsWith(LoraAdapter.PeftPrefix + "classifier.", StringComparison.Ordinal)))
                throw new CheckpointFormatException(weightsPath, LoraAdapter.PeftPrefix + "classifier.*", "missing: a sequence classifier's adapter carries its head (modules_to_save: classifier).");

            var loaded = Safetensors.Load(weightsPath);
            try
            {
                using var _ = no_grad();
                foreach (var (key, value) in loaded) expected[key].copy_(value);
            }
            finally
            {
                foreach (var t in loaded.Values) t.Dispose();
            }
            EncoderLora.Merge(classifier);
            module.eval();
            say?.Invoke($"adapter {adapterFolder}: LoRA r={rank} on {string.Join(", ", targets)} of {baseFolder}, merged; labels {string.Join(", ", config.Labels)}");
            return encoder;
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    /// <summary>Label names of the adapter: tailor.json's <c>labels</c>, else LABEL_i for each row of the head.</summary>
    private static IReadOnlyList<string> Labels(string adapterFolder)
    {
        string marker = Path.Combine(adapterFolder, TunedModelMarker.FileName);
        if (File.Exists(marker))
        {
            try
            {
                if (JsonNode.Parse(File.ReadAllText(marker))?["labels"] is JsonArray labels && labels.Count >= 2)
                    return [.. labels.Select(l => l!.GetValue<string>())];
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw new TailorException($"{marker}: not valid JSON with a \"labels\" list of strings ({e.Message.Split('\n')[0]}).");
            }
        }
        string weights = Path.Combine(adapterFolder, LoraAdapter.AdapterWeightsFile);
        var head = File.Exists(weights)
            ? Safetensors.ReadHeader(weights).Tensors.Where(t => t.Name.StartsWith(LoraAdapter.PeftPrefix + "classifier.", StringComparison.Ordinal)
                && t.Name.EndsWith(".bias", StringComparison.Ordinal) && t.Shape.Length == 1).OrderBy(t => t.Name, StringComparer.Ordinal).LastOrDefault()
            : null;
        if (head is null || head.Shape[0] < 2)
            throw new TailorException($"{adapterFolder}: no {TunedModelMarker.FileName} with \"labels\" and no classifier head in {LoraAdapter.AdapterWeightsFile} to count them from.");
        return [.. Enumerable.Range(0, (int)head.Shape[0]).Select(i => $"LABEL_{i}")];
    }

    private static JsonObject ReadConfig(string adapterFolder, out string configPath)
    {
        configPath = Path.Combine(adapterFolder, LoraAdapter.AdapterConfigFile);
        if (!File.Exists(configPath))
            throw new TailorException($"{configPath}: file not found. An adapter folder holds {LoraAdapter.AdapterConfigFile} and {LoraAdapter.AdapterWeightsFile} (PEFT's save_pretrained layout).");
        try
        {
            return JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new TailorException($"{configPath}: must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new TailorException($"{configPath}: not valid JSON ({e.Message.Split('\n')[0]}). Re-save the adapter.", e);
        }
    }
}
