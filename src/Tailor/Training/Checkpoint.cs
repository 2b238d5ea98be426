using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Formats;
using Tailor.Model;
using Tailor.Text;
using static TorchSharp.torch;

namespace Tailor.Training;

/// <summary>
/// A resumable training checkpoint: an HF folder in float32 (so it is also a usable model) plus optimizer.bin
/// (AdamW moments), trainer_state.json (the step) and recipe.json (the options). Written atomically as one folder.
/// </summary>
public static class Checkpoint
{
    /// <summary>File holding the optimizer state.</summary>
    public const string OptimizerFile = "optimizer.bin";

    /// <summary>File holding the step reached.</summary>
    public const string StateFile = "trainer_state.json";

    /// <summary>
    /// Throws a <see cref="TailorException"/> naming <paramref name="output"/> when it is a model folder (it holds a
    /// config.json or model.safetensors): a training run writes recipe.json and metrics.jsonl into its output folder and
    /// would overwrite a model's own files. A run folder keeps its models in final/ and checkpoint/, never at the top.
    /// </summary>
    public static void RefuseModelFolder(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (File.Exists(Path.Combine(output, HfCheckpoint.ConfigFile)) || File.Exists(Path.Combine(output, HfCheckpoint.WeightsFile)))
            throw new TailorException($"--output {output} is a model folder (it has {HfCheckpoint.ConfigFile} or {HfCheckpoint.WeightsFile}); a run writes recipe.json, "
                + $"metrics.jsonl, checkpoint/ and final/ into --output and would overwrite its files. Give a new folder, such as {Path.TrimEndingDirectorySeparator(output)}-run.");
    }

    /// <summary>
    /// Before anything is loaded: refuses a <c>--resume</c> whose options differ from the checkpoint's recipe.json in
    /// one of <paramref name="keys"/> (options the checkpoint's tensors depend on, such as the LoRA settings), naming
    /// each key with the checkpoint's value. A checkpoint without recipe.json is not checked.
    /// </summary>
    /// <exception cref="TailorException">One of the keys changed.</exception>
    public static void RefuseChangedOptions(string folder, string optionsJson, IEnumerable<string> keys)
    {
        string file = Path.Combine(folder, "recipe.json");
        if (!File.Exists(file)) return;
        JsonObject saved, asked;
        try
        {
            saved = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new TailorException($"{file}: not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new TailorException($"{file}: not valid JSON ({e.Message.Split('\n')[0]}); the checkpoint is damaged: start a new --output.", e);
        }
        asked = (JsonObject)JsonNode.Parse(optionsJson)!;
        var changed = keys.Where(k => !JsonNode.DeepEquals(saved[k], asked[k]))
            .Select(k => $"--{k.Replace('_', '-')} {saved[k]?.ToJsonString().Trim('"') ?? "null"} (given {asked[k]?.ToJsonString().Trim('"') ?? "null"})").ToList();
        if (changed.Count > 0)
            throw new TailorException($"--resume: the checkpoint was trained with other settings that its weights depend on. Resume with {string.Join(", ", changed)}, or start a new --output.");
    }

    /// <summary>
    /// Before anything is loaded: refuses a <c>--resume</c> whose LoRA setting differs from the checkpoint's. The
    /// checkpoint's adapter (rank, alpha, dropout, targets) is what the run continues; a changed flag would otherwise be
    /// ignored on load and fail only at the first save. <paramref name="asked"/> is null for full tuning.
    /// </summary>
    /// <exception cref="TailorException">The checkpoint was LoRA and the run is not (or the reverse), or a LoRA setting changed.</exception>
    public static void RefuseChangedAdapter(string folder, Lora.LoraConfig? asked)
    {
        string file = Path.Combine(folder, Lora.LoraAdapter.AdapterConfigFile);
        bool wasLora = File.Exists(file);
        if (wasLora && asked is null)
            throw new TailorException($"--resume: {folder} holds a LoRA adapter ({file}); resume with --lora true and its lora_* settings, or start a new --output.");
        if (!wasLora && asked is not null)
            throw new TailorException($"--resume: {folder} is a full-tuning checkpoint; resume without --lora, or start a new --output for a LoRA run.");
        if (asked is null) return;
        var saved = Lora.LoraConfig.FromAdapterConfigJson(File.ReadAllText(file), file);
        var changed = new List<string>();
        if (saved.Rank != asked.Rank) changed.Add($"--lora-rank {saved.Rank} (given {asked.Rank})");
        if (!saved.Alpha.Equals(asked.Alpha)) changed.Add(FormattableString.Invariant($"--lora-alpha {saved.Alpha} (given {asked.Alpha})"));
        if (!saved.Dropout.Equals(asked.Dropout)) changed.Add(FormattableString.Invariant($"--lora-dropout {saved.Dropout} (given {asked.Dropout})"));
        // The adapter lists the layers it adapted, all-linear resolved for its own family (Llama/Qwen2 or GPT-2).
        var savedTargets = saved.ResolvedTargetModules();
        IReadOnlyList<string> llama = [.. Attention.ProjectionNames, .. Mlp.ProjectionNames];
        var askedTargets = asked.ResolvedTargetModules().Where(n => savedTargets.All(llama.Contains) == llama.Contains(n)).ToList();
        if (!savedTargets.SequenceEqual(askedTargets))
            changed.Add($"--lora-targets {string.Join(',', savedTargets)} (given {string.Join(',', asked.TargetModules)})");
        if (changed.Count > 0)
            throw new TailorException($"--resume: the checkpoint's adapter differs from the options; a run cannot change its adapter midway. Resume with {string.Join(", ", changed)}, or start a new --output.");
    }

    /// <summary>
    /// Saves model, optimizer and step into <paramref name="folder"/>, replacing what was there only once all is written.
    /// <paramref name="ranks"/> (the data-parallel job's size) is recorded so a resume can refuse another.
    /// </summary>
    public static void Save(string folder, CausalLM model, TorchSharp.Modules.OptimizerHelper optimizer, TextTokenizer tokenizer,
        long step, string recipeJson, int ranks = 1)
    {
        ModelFolder.Save(folder, model, tokenizer, ScalarType.Float32, staging =>
        {
            optimizer.save_state_dict(Path.Combine(staging, OptimizerFile));
            File.WriteAllText(Path.Combine(staging, StateFile), new JsonObject { ["step"] = step, ["ranks"] = ranks }.ToJsonString());
            File.WriteAllText(Path.Combine(staging, "recipe.json"), recipeJson);
        });
    }

    /// <summary>Loads weights and optimizer state; returns the step to continue from.</summary>
    public static long Load(string folder, CausalLM model, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        long step = ReadStep(folder);
        model.LoadWeights(folder);
        LoadOptimizerState(folder, optimizer);
        return step;
    }

    /// <summary>
    /// Loads only the optimizer state and the step (for checkpoints whose weights are loaded another way, e.g. a LoRA
    /// adapter); returns the step to continue from.
    /// </summary>
    public static long LoadOptimizer(string folder, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        long step = ReadStep(folder);
        LoadOptimizerState(folder, optimizer);
        return step;
    }

    private static long ReadStep(string folder)
    {
        string statePath = Path.Combine(folder, StateFile);
        string optimizerPath = Path.Combine(folder, OptimizerFile);
        if (!File.Exists(statePath) || !File.Exists(optimizerPath))
            throw new TailorException($"{folder}: not a training checkpoint ({StateFile} or {OptimizerFile} is missing); start a new run instead of --resume.");
        try
        {
            return JsonNode.Parse(File.ReadAllText(statePath))?["step"]?.GetValue<long>()
                ?? throw new TailorException($"{statePath}: field \"step\" is missing.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new TailorException($"{statePath}: not valid trainer state ({e.Message.Split('\n')[0]}); the checkpoint is corrupt.");
        }
    }

    private static void LoadOptimizerState(string folder, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        string optimizerPath = Path.Combine(folder, OptimizerFile);
        try
        {
            optimizer.load_state_dict(optimizerPath);
        }
        catch (Exception e) when (e is not TailorException)
        {
            throw new TailorException($"{optimizerPath}: the optimizer state does not fit this model/optimizer ({e.Message.Split('\n')[0]}); was the checkpoint written by another recipe?");
        }
    }
}
