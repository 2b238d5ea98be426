using System.Text.Json;

namespace Tailor.Model;

/// <summary>
/// Reading a Hugging Face <c>config.json</c> into one of the config records (Llama/Qwen2, GPT-2, BERT/RoBERTa): where the
/// file is, and one-line errors that name the file, the field and the line. Each record validates its own fields.
/// </summary>
internal static class ConfigJson
{
    /// <summary>The text and path of <c>config.json</c> in a model folder (or the file itself).</summary>
    public static (string Json, string Path) Read(string folderOrFile, string folderKind)
    {
        string path = Directory.Exists(folderOrFile) ? Path.Combine(folderOrFile, "config.json") : folderOrFile;
        if (!File.Exists(path))
            throw new TailorException($"{path}: not found. {folderKind} needs a Hugging Face config.json.");
        return (File.ReadAllText(path), path);
    }

    /// <summary>Deserializes <paramref name="json"/>; <paramref name="source"/> names the file in error messages.</summary>
    public static T Deserialize<T>(string json, string source, JsonSerializerOptions options) where T : class
    {
        T? config;
        try
        {
            config = JsonSerializer.Deserialize<T>(json, options);
        }
        catch (JsonException e)
        {
            string where = e.Path is { Length: > 0 } p ? $" at field '{p.TrimStart('$', '.')}'" : "";
            throw new TailorException($"{source}: not a valid config.json{where} (line {e.LineNumber + 1}): {FirstLine(e.Message)}");
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new TailorException($"{source}: not a valid config.json: {FirstLine(e.Message)}");
        }
        return config ?? throw new TailorException($"{source}: config.json holds null; it must be a JSON object.");
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
