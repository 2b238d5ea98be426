using System.Text.Json;

namespace Tailor.Data;

/// <summary>One document of a pre-training corpus.</summary>
public sealed record CorpusDocument(string Source, string Text);

/// <summary>Reads corpus JSONL (<c>{"source": ..., "text": ...}</c> per line); a bad line is an error naming file:line.</summary>
public static class Corpus
{
    /// <summary>Streams the documents of <paramref name="path"/>; blank lines are skipped.</summary>
    public static IEnumerable<CorpusDocument> Read(string path)
    {
        if (!File.Exists(path)) throw new TailorException($"{path}: corpus file not found.");
        Utf8Text.Require(path);                          // File.ReadLines would turn bytes that are not UTF-8 into U+FFFD silently
        int n = 0;
        foreach (string line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string? source, text;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TailorException($"{path}:{n}: expected a JSON object.");
                text = doc.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                source = doc.RootElement.TryGetProperty("source", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : "unknown";
            }
            catch (JsonException e)
            {
                throw new TailorException($"{path}:{n}: not valid JSON ({e.Message.Split('\n')[0]}).");
            }
            if (text is null) throw new TailorException($"{path}:{n}: field \"text\" is missing or not a string.");
            yield return new CorpusDocument(source ?? "unknown", text);
        }
    }

    /// <summary>The texts only.</summary>
    public static IEnumerable<string> ReadTexts(string path) => Read(path).Select(d => d.Text);
}
