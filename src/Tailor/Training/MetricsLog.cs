using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace Tailor.Training;

/// <summary>Metrics as JSONL (one object per line: step + values) and as TensorBoard scalars.</summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter _jsonl;
    private readonly TorchSharp.Modules.SummaryWriter _board;

    /// <summary>Opens metrics.jsonl and a TensorBoard event file in <paramref name="folder"/>.</summary>
    public MetricsLog(string folder, bool append)
    {
        _jsonl = new StreamWriter(Path.Combine(folder, "metrics.jsonl"), append, new UTF8Encoding(false)) { AutoFlush = true };
        _board = torch.utils.tensorboard.SummaryWriter(Path.Combine(folder, "tensorboard"), createRunName: false);
    }

    /// <summary>Writes one line and one scalar per value.</summary>
    public void Write(long step, Dictionary<string, double> values)
    {
        var obj = new JsonObject { ["step"] = step };
        foreach (var (k, v) in values)
        {
            obj[k] = v;
            _board.add_scalar(k, (float)v, (int)step);
        }
        _jsonl.WriteLine(obj.ToJsonString());
    }

    /// <summary>Drops the lines of a metrics.jsonl after <paramref name="step"/> (a resumed run writes them again).</summary>
    public static void TruncateAfter(string path, long step)
    {
        if (!File.Exists(path)) return;
        var keep = File.ReadLines(path).Where(l =>
        {
            try { return JsonNode.Parse(l)?["step"]?.GetValue<long>() <= step; }
            catch (JsonException) { return false; }
        }).ToList();
        File.WriteAllLines(path, keep);
    }

    /// <summary>Flushes and closes the files.</summary>
    public void Dispose() => _jsonl.Dispose();
}
