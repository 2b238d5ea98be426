using System.Globalization;
using System.Text;
using Tailor.Formats;
using Tailor.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Lora;

/// <summary>
/// LoRA on a <see cref="CausalLM"/> (Llama/Qwen2 Linear projections, GPT-2 Conv1D ones): apply adapters to the projections, report what trains, merge them into the
/// base weights, and save or load them in Hugging Face PEFT's adapter format (<c>adapter_model.safetensors</c> +
/// <c>adapter_config.json</c>), so adapters move between Tailor and PEFT both ways.
/// </summary>
/// <remarks>
/// Typical use: load the base checkpoint (its keys are unchanged by LoRA, but load it before applying, because the
/// strict loader would miss the adapter tensors), <see cref="Apply"/>, train with
/// <c>Optimizers.AdamW</c> (it only takes parameters with requires_grad), then <see cref="Save"/> or
/// <see cref="Merge"/> and save the model as a plain HF folder.
/// <para>Named LoraAdapter, not Lora: a type named like its namespace cannot be reached as <c>Lora.Apply</c> from other
/// <c>Tailor.*</c> namespaces (the name binds to the namespace <c>Tailor.Lora</c> first).</para>
/// </remarks>
public static class LoraAdapter
{
    /// <summary>PEFT's adapter weights file name.</summary>
    public const string AdapterWeightsFile = "adapter_model.safetensors";

    /// <summary>PEFT's adapter config file name.</summary>
    public const string AdapterConfigFile = "adapter_config.json";

    /// <summary>
    /// The prefix PEFT puts before a module's path in adapter files: PeftModelForCausalLM.base_model (LoraModel) .model
    /// (the HF model). The adapter name ("default") that PEFT's live state_dict has after lora_A / lora_B is not saved.
    /// </summary>
    public const string PeftPrefix = "base_model.model.";

    /// <summary>
    /// Wraps every targeted projection of every layer in a <see cref="LoraLinear"/> and freezes every other parameter
    /// (embeddings, norms, lm_head, the base projections), so that only the adapters' A and B train. The new layers take
    /// the model's current train/eval mode, so an eval-mode model gets no adapter dropout.
    /// </summary>
    /// <param name="model">The model to change in place; its projections must be plain <see cref="Linear"/> layers.</param>
    /// <param name="config">Rank, alpha, dropout, targets; validated first.</param>
    /// <returns>Trainable and total parameter counts, and the adapted modules.</returns>
    /// <exception cref="TailorException">The config is invalid, or the model already has LoRA layers (merge them or build a fresh model).</exception>
    public static LoraReport Apply(CausalLM model, LoraConfig config)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var targets = config.ResolvedTargetModules();
        var slots = Slots(model).Where(s => targets.Contains(s.Name)).ToList();
        // Check everything before changing anything, so a refusal leaves the model as it was.
        if (slots.Count == 0)
            throw new TailorException($"target_modules ({string.Join(", ", config.TargetModules)}) names no projection of this {model.DecoderConfig.Architectures.FirstOrDefault()} model; its projections are {string.Join(", ", Slots(model).Select(s => s.Name).Distinct())} (or use \"{LoraConfig.AllLinear}\").");
        foreach (var slot in slots)
        {
            if (slot.Module is LoraLinear)
                throw new TailorException($"{slot.Path} already has a LoRA adapter. Merge it (LoraAdapter.Merge) or start from a fresh base model before applying LoRA again.");
            if (slot.Module is not (Linear or Conv1D))
                throw new TailorException($"{slot.Path} is a {slot.Module.GetType().Name}, not a Linear or Conv1D layer; LoRA here wraps those only.");
        }

        foreach (var p in model.parameters()) p.requires_grad = false;
        foreach (var slot in slots)
        {
            var adapted = slot.Module is Conv1D conv
                ? new LoraLinear(conv, config.Rank, config.Alpha, config.Dropout, config.UseRsLora)
                : new LoraLinear((Linear)slot.Module, config.Rank, config.Alpha, config.Dropout, config.UseRsLora);
            adapted.train(model.training);   // a new module starts in training mode; follow the model's (dropout!)
            slot.Replace(adapted);
            adapted.LoraA.requires_grad = true;
            adapted.LoraB.requires_grad = true;
        }
        return Report(model);
    }

    /// <summary>Counts trainable (requires_grad) and total parameter elements, and lists the LoRA layers.</summary>
    public static LoraReport Report(CausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        long trainable = 0, total = 0;
        foreach (var p in model.parameters())
        {
            total += p.numel();
            if (p.requires_grad) trainable += p.numel();
        }
        return new LoraReport(trainable, total, [.. Adapters(model).Select(a => a.Path)]);
    }

    /// <summary>The LoRA layers of <paramref name="model"/> with their state-dict paths, in module order.</summary>
    public static IReadOnlyList<(string Path, LoraLinear Layer)> Adapters(CausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [.. Slots(model).Where(s => s.Module is LoraLinear).Select(s => (s.Path, (LoraLinear)s.Module))];
    }

    /// <summary>
    /// Folds each adapter into its base weight (W ← W + B·A·scaling, computed in float32 for 16-bit weights) and puts
    /// plain <see cref="Linear"/> (or <see cref="Conv1D"/>) layers back, so the state_dict has exactly the base model's keys again. The adapter
    /// parameters are freed. requires_grad stays as it was (base frozen), as after PEFT's merge_and_unload; call
    /// <c>requires_grad_(true)</c> on the parameters to train the merged model in full.
    /// </summary>
    /// <returns>The number of layers merged (0 when the model has no LoRA layers).</returns>
    public static int Merge(CausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        int merged = 0;
        foreach (var slot in Slots(model))
        {
            if (slot.Module is not LoraLinear lora) continue;
            slot.Replace(lora.MergeAndRelease());
            lora.Dispose();
            merged++;
        }
        return merged;
    }

    /// <summary>
    /// The adapter tensors under PEFT's saved names, in module order:
    /// <c>base_model.model.{path}.lora_A.weight</c> (r, in) and <c>base_model.model.{path}.lora_B.weight</c> (out, r),
    /// e.g. <c>base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight</c>. The values are the live parameters,
    /// not copies: read them, do not dispose or modify them.
    /// </summary>
    /// <exception cref="TailorException">The model has no LoRA layers.</exception>
    public static Dictionary<string, Tensor> StateDict(CausalLM model)
    {
        var adapters = Adapters(model);
        if (adapters.Count == 0)
            throw new TailorException("the model has no LoRA layers; apply LoRA (LoraAdapter.Apply or LoraAdapter.Load) before asking for its adapter.");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (path, layer) in adapters)
        {
            tensors[$"{PeftPrefix}{path}.lora_A.weight"] = layer.LoraA;
            tensors[$"{PeftPrefix}{path}.lora_B.weight"] = layer.LoraB;
        }
        return tensors;
    }

    /// <summary>
    /// Writes the adapter as PEFT's <c>save_pretrained</c> does: <c>adapter_model.safetensors</c> (the tensors of
    /// <see cref="StateDict"/>, in their own dtype, <c>{"format":"pt"}</c> metadata) and <c>adapter_config.json</c>
    /// (<see cref="LoraConfig.ToAdapterConfigJson"/>). The folder is replaced atomically: both files are written to a
    /// hidden sibling folder that is then renamed over <paramref name="folder"/>.
    /// </summary>
    /// <param name="model">A model with LoRA layers.</param>
    /// <param name="folder">The adapter folder to create or replace; its parent is created if needed.</param>
    /// <param name="config">The config the adapters were applied with; it must agree with the layers (rank, scaling, targets).</param>
    /// <param name="extraFiles">Optional: writes more files (tokenizer, optimizer state) into the staging folder before the swap.</param>
    /// <param name="saveEmbeddingLayers">PEFT's <c>save_embedding_layers</c>: also write the whole input embedding and
    /// output head (<c>base_model.model.transformer.wte.weight</c> / <c>base_model.model.model.embed_tokens.weight</c> and
    /// <c>base_model.model.lm_head.weight</c>, both even when tied, as PEFT does). Null is PEFT's "auto": when the model's
    /// vocab_size differs from that of config.json in <see cref="LoraConfig.BaseModelNameOrPath"/> (the vocabulary was
    /// grown for ChatML, see <c>ChatVocabulary</c>), so the grown rows travel with the adapter.</param>
    /// <exception cref="TailorException">No LoRA layers, or <paramref name="config"/> does not describe them.</exception>
    public static void Save(CausalLM model, string folder, LoraConfig config, Action<string>? extraFiles = null, bool? saveEmbeddingLayers = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var tensors = StateDict(model);
        CheckConfigDescribesModel(model, config);
        if (saveEmbeddingLayers ?? AdapterEmbeddings.VocabularyChanged(model, config.BaseModelNameOrPath))
            foreach (var (layer, weight) in EmbeddingResize.Layers(model)) tensors[PeftPrefix + layer] = weight;
        // PEFT's fan_in_fan_out follows the layer type (PEFT itself sets it to true for Conv1D and false for Linear).
        // target_modules lists the model's own projections ("all-linear" resolved against this architecture, as PEFT stores it).
        var present = Slots(model).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        string configJson = (config with
        {
            FanInFanOut = Adapters(model)[0].Layer.FanInFanOut,
            TargetModules = [.. config.ResolvedTargetModules().Where(present.Contains)],
        }).ToAdapterConfigJson();

        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string parent = Path.GetDirectoryName(target) ?? throw new ArgumentException($"'{folder}' is a root directory; save the adapter into a folder.", nameof(folder));
        string name = Path.GetFileName(target);
        if (File.Exists(target))
            throw new TailorException($"{target} is a file; an adapter is a folder. Choose another path or remove the file.");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{name}.saving-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            using (no_grad()) Safetensors.Save(Path.Combine(staging, AdapterWeightsFile), tensors);
            using (var stream = new FileStream(Path.Combine(staging, AdapterConfigFile), FileMode.CreateNew, FileAccess.Write))
            {
                stream.Write(new UTF8Encoding(false).GetBytes(configJson));
                stream.Flush(flushToDisk: true);
            }
            extraFiles?.Invoke(staging);
            HfCheckpoint.SwapIn(staging, target, parent, name);
        }
        catch
        {
            HfCheckpoint.TryDeleteFolder(staging);
            throw;
        }
    }

    /// <summary>
    /// Reads a PEFT LoRA adapter folder (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>), checks it against
    /// the model, then applies LoRA with that config (<see cref="Apply"/>: the rest of the model is frozen) and copies the
    /// tensors in, converting dtype and device to the model's. Nothing is changed when a check fails. When the file also
    /// holds the input embedding and output head (PEFT's <c>save_embedding_layers</c>, written when the vocabulary was
    /// grown), they are copied into the model's, whose rows must already match (<see cref="AdapterEmbeddings.LoadBase"/>
    /// grows a base to its adapter's vocabulary).
    /// </summary>
    /// <param name="model">A base model without LoRA layers, its weights already loaded.</param>
    /// <param name="folder">The adapter folder.</param>
    /// <returns>The config read from <c>adapter_config.json</c>.</returns>
    /// <exception cref="TailorException">A file is missing; the JSON is malformed or has an unsupported field; a tensor
    /// names a module the model lacks or not in target_modules, has a rank other than <c>r</c> or a shape other than the
    /// module's, or is missing. The message names the file and field or tensor.</exception>
    public static LoraConfig Load(CausalLM model, string folder)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new TailorException($"{folder}: no such adapter folder. Give a folder with {AdapterConfigFile} and {AdapterWeightsFile} (PEFT's save_pretrained layout).");
        string configPath = Path.Combine(folder, AdapterConfigFile);
        string weightsPath = Path.Combine(folder, AdapterWeightsFile);
        if (!File.Exists(configPath))
            throw new TailorException($"{configPath}: file not found. A LoRA adapter folder holds {AdapterConfigFile} and {AdapterWeightsFile}; older PEFT adapter_model.bin files must be converted to safetensors first.");
        if (!File.Exists(weightsPath))
            throw new TailorException($"{weightsPath}: file not found. A LoRA adapter folder holds {AdapterConfigFile} and {AdapterWeightsFile}; older PEFT adapter_model.bin files must be converted to safetensors first.");
        var config = LoraConfig.FromAdapterConfigJson(File.ReadAllText(configPath), configPath);

        if (Adapters(model).Count > 0)
            throw new TailorException($"{folder}: the model already has LoRA layers. Load the adapter onto a fresh base model, or merge the present adapter first.");
        var header = Safetensors.ReadHeader(weightsPath);
        var targets = config.ResolvedTargetModules();
        var slots = Slots(model).ToDictionary(s => s.Path, StringComparer.Ordinal);
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var slot in slots.Values.Where(s => targets.Contains(s.Name)))
        {
            var (inFeatures, outFeatures, conv) = slot.Module switch
            {
                Linear linear => (linear.weight.shape[1], linear.weight.shape[0], false),
                Conv1D c => (c.Weight.shape[0], c.Weight.shape[1], true),
                _ => throw new TailorException($"{slot.Path} is a {slot.Module.GetType().Name}, not a Linear or Conv1D layer; LoRA here wraps those only."),
            };
            if (conv != config.FanInFanOut)
                throw new TailorException($"{configPath}: field 'fan_in_fan_out' is {(config.FanInFanOut ? "true" : "false")} but {slot.Path} is a {(conv ? "Conv1D, whose weight is stored (in, out), so it must be true" : "Linear, whose weight is stored (out, in), so it must be false")}; the adapter was made for another architecture.");
            expected[$"{PeftPrefix}{slot.Path}.lora_A.weight"] = [config.Rank, inFeatures];
            expected[$"{PeftPrefix}{slot.Path}.lora_B.weight"] = [outFeatures, config.Rank];
        }

        var embeddings = EmbeddingResize.Layers(model).ToDictionary(l => PeftPrefix + l.Name, l => l.Weight, StringComparer.Ordinal);
        foreach (var info in header.Tensors)
        {
            string tensor = info.Name;
            if (embeddings.TryGetValue(tensor, out var embedding))
            {
                AdapterEmbeddings.CheckShape(weightsPath, tensor, info.Shape, embedding);
                continue;
            }
            if (!TryParseAdapterKey(tensor, out string path, out bool isA))
                throw new CheckpointFormatException(weightsPath, tensor, $"not a LoRA adapter tensor name; PEFT names them {PeftPrefix}<module path>.lora_A.weight / .lora_B.weight.");
            if (!slots.TryGetValue(path, out var slot))
                throw new CheckpointFormatException(weightsPath, tensor, $"the model has no projection '{path}'. The adapter was trained for another architecture or a model with more layers; load it onto its own base model.");
            if (!targets.Contains(slot.Name))
                throw new CheckpointFormatException(weightsPath, tensor, $"'{slot.Name}' is not in target_modules of {configPath} ({string.Join(", ", targets)}); the config and weights disagree.");
            long[] want = expected[tensor];
            long fileRank = isA ? info.Shape[0] : info.Shape.Length > 1 ? info.Shape[1] : -1;
            if (info.Shape.Length == 2 && fileRank != config.Rank)
                throw new CheckpointFormatException(weightsPath, tensor, $"rank {fileRank} in the file but {configPath} says r = {config.Rank}; the config and weights disagree.");
            if (!info.Shape.AsSpan().SequenceEqual(want))
                throw new CheckpointFormatException(weightsPath, tensor, $"shape {SafetensorsTensorInfo.FormatShape(info.Shape)} in the file but the model needs {SafetensorsTensorInfo.FormatShape(want)}. The adapter was trained for a model of another size; load it onto its own base model.");
        }
        foreach (string tensor in expected.Keys)
        {
            if (!header.TryGet(tensor, out _))
                throw new CheckpointFormatException(weightsPath, tensor, $"missing: target_modules in {configPath} covers this module but the file has no tensor for it.");
        }

        Apply(model, config);
        var loaded = Safetensors.Load(weightsPath);
        try
        {
            using var _ = no_grad();
            foreach (var (path, layer) in Adapters(model))
            {
                layer.LoraA.copy_(loaded[$"{PeftPrefix}{path}.lora_A.weight"]);
                layer.LoraB.copy_(loaded[$"{PeftPrefix}{path}.lora_B.weight"]);
            }
            foreach (var (tensor, weight) in embeddings)   // a grown vocabulary's embedding and head (PEFT's save_embedding_layers)
                if (loaded.TryGetValue(tensor, out var value)) weight.copy_(value);
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
        return config;
    }

    /// <summary>Splits <c>base_model.model.{path}.lora_A.weight</c> into the module path and which matrix it is.</summary>
    private static bool TryParseAdapterKey(string key, out string path, out bool isA)
    {
        const string suffixA = ".lora_A.weight", suffixB = ".lora_B.weight";
        path = "";
        isA = key.EndsWith(suffixA, StringComparison.Ordinal);
        bool isB = key.EndsWith(suffixB, StringComparison.Ordinal);
        if (key.Length <= PeftPrefix.Length + suffixA.Length || !key.StartsWith(PeftPrefix, StringComparison.Ordinal) || !(isA || isB))
            return false;
        path = key[PeftPrefix.Length..^suffixA.Length];
        return path.Length > 0;
    }

    private static void CheckConfigDescribesModel(CausalLM model, LoraConfig config)
    {
        var adapters = Adapters(model);
        var targets = config.ResolvedTargetModules();
        foreach (var (path, layer) in adapters)
        {
            if (layer.Rank != config.Rank || layer.UseRsLora != config.UseRsLora || Math.Abs(layer.Scaling - config.Scaling) > 1e-12 * Math.Abs(config.Scaling))
                throw new TailorException($"{path} has rank {layer.Rank} and scaling {layer.Scaling.ToString(CultureInfo.InvariantCulture)} but the config says r = {config.Rank}, scaling {config.Scaling.ToString(CultureInfo.InvariantCulture)}; save with the config the adapter was applied with.");
            string name = path[(path.LastIndexOf('.') + 1)..];
            if (!targets.Contains(name))
                throw new TailorException($"{path} has a LoRA adapter but the config's target_modules ({string.Join(", ", targets)}) does not list '{name}'; save with the config the adapter was applied with.");
        }
        var adapted = adapters.Select(a => a.Path).ToHashSet(StringComparer.Ordinal);
        foreach (var slot in Slots(model).Where(s => targets.Contains(s.Name)))
        {
            if (!adapted.Contains(slot.Path))
                throw new TailorException($"the config's target_modules lists '{slot.Name}' but {slot.Path} has no LoRA adapter; save with the config the adapter was applied with.");
        }
    }

    /// <summary>One projection of one layer: its state-dict path, HF name, and the block that owns it.</summary>
    private readonly record struct Slot(string Path, string Name, nn.Module Owner)
    {
        public nn.Module<Tensor, Tensor> Module => Owner switch
        {
            Attention a => a[Name],
            Mlp m => m[Name],
            Gpt2Attention a => a[Name],
            Gpt2Mlp m => m[Name],
            _ => throw new InvalidOperationException($"no projections in {Owner.GetType().Name}"),
        };

        public void Replace(nn.Module<Tensor, Tensor> module)
        {
            switch (Owner)
            {
                case Attention a: a.Replace(Name, module); break;
                case Mlp m: m.Replace(Name, module); break;
                case Gpt2Attention a: a.Replace(Name, module); break;
                case Gpt2Mlp m: m.Replace(Name, module); break;
                default: throw new InvalidOperationException($"no projections in {Owner.GetType().Name}");
            }
        }
    }

    /// <summary>Every projection of the model, layer by layer, in module order.</summary>
    private static IEnumerable<Slot> Slots(CausalLM model)
    {
        if (model is Gpt2LMHeadModel gpt2)
        {
            var blocks = gpt2.Transformer.Blocks;
            for (int i = 0; i < blocks.Count; i++)
            {
                foreach (string name in Gpt2Attention.ProjectionNames)
                    yield return new Slot($"transformer.h.{i}.attn.{name}", name, blocks[i].Attention);
                foreach (string name in Gpt2Mlp.ProjectionNames)
                    yield return new Slot($"transformer.h.{i}.mlp.{name}", name, blocks[i].Mlp);
            }
            yield break;
        }
        var layers = ((LlamaForCausalLM)model).Model.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            foreach (string name in Attention.ProjectionNames)
                yield return new Slot($"model.layers.{i}.self_attn.{name}", name, layers[i].SelfAttention);
            foreach (string name in Mlp.ProjectionNames)
                yield return new Slot($"model.layers.{i}.mlp.{name}", name, layers[i].FeedForward);
        }
    }
}
