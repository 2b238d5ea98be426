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
