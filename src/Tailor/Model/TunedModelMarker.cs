using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tailor.Model;

/// <summary>
/// <c>tailor.json</c>: the file Tailor writes into a tuned model folder to say how it was trained (stage, tasks, steps,
/// tokens, dev loss) and how to prompt it (<c>prompt_format</c>: "plain" for task fine-tunes, "chatml" for instruction
/// tunes). Other tools ignore it; evaluation reads it to phrase questions the way the model was trained.
/// </summary>
public static class TunedModelMarker
{
    /// <summary>The file name.</summary>
    public const string FileName = "tailor.json";

    /// <summary>Reads a model folder's <c>tailor.json</c> prompt format ("base", "plain" or "chatml"); null when absent.</summary>
    public static string? PromptFormatOf(string folder)
    {
        string path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["prompt_format"]?.GetValue<string>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new TailorException($"{path}: not valid JSON with a string \"prompt_format\" ({e.Message.Split('\n')[0]}). Delete it or rewrite it.");
        }
    }

    /// <summary>
    /// Whether the model was trained with each input followed by its task's name (<c>task_prefix</c>: a multi-task fine-tune,
    /// see Data.Instructions.TaskFiles.TaskTag); false when absent.
    /// </summary>
    public static bool TaskPrefixOf(string folder)
    {
        string path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return false;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["task_prefix"]?.GetValue<bool>() ?? false;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new TailorException($"{path}: \"task_prefix\" is not true or false ({e.Message.Split('\n')[0]}). Fix or delete it.");
        }
    }
}
