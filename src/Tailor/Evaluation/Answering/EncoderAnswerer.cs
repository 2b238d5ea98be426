using System.Text.Json.Nodes;
using Tailor.Model;
using Tailor.Torch;
using Tailor.Training;
using TorchSharp;

namespace Tailor.Evaluation.Answering;

/// <summary>
/// A fine-tuned BERT/RoBERTa sequence classifier (<c>*ForSequenceClassification</c> with id2label) as an answerer:
/// each item's input goes through the classifier as is (no prompt, no template, no generation) and the answer is
/// the arg-max label, so results.json and predictions.jsonl have the decoders' layout (template "plain", per-item
/// <c>correct</c>) and <c>tailor compare</c> pairs them item by item. Classification tasks only, whose labels the
/// model's id2label names; anything else is refused before any item is scored.
/// </summary>
internal sealed class EncoderAnswerer : Answerer
{
    private readonly PretrainedEncoder _encoder;
    private readonly ISequenceClassifier _classifier;
    private readonly int _maxLength;
    private readonly TorchSharp.torch.Device _device;

    public EncoderAnswerer(EvalOptions o, Action<string> say)
    {
        string folder = o.Model!;
        // A PEFT SEQ_CLS adapter folder: its base (base_model_name_or_path) with the adapter merged in.
        bool adapter = Lora.EncoderAdapter.IsAdapterFolder(folder);
        var config = adapter ? Lora.EncoderAdapter.ReadClassifierConfig(folder, say) : BertConfig.FromPretrained(folder);
        if (!config.IsClassifier)
            throw new TailorException($"{folder}: {config.Architectures.FirstOrDefault()} is an encoder without a classification head; fine-tune it first (`tailor finetune --model {folder} --task sentiment`) and evaluate RUN/final.");
        var labels = config.Labels;
        foreach (string name in o.TaskList())
        {
            var task = EvalTask.Get(name, o.TaskData, RecipeOptions.Name(o.Split));
            Check(task, labels, folder);
        }
        foreach (string file in o.DataFiles()) Check(EvalTask.FromUserFile(file).Task, labels, folder);
        TorchRuntime.SetThreads(o.Runtime.Threads);
        _device = TorchRuntime.SelectDevice(o.Runtime.Device);
        _encoder = adapter ? Lora.EncoderAdapter.Load(folder, say) : PretrainedEncoder.Load(folder);
        if (_device.type != TorchSharp.DeviceType.CPU) _encoder.Module.to(_device);
        _classifier = _encoder.Classifier!;
        _maxLength = MaxLengthOf(folder) ?? _encoder.MaxTokens;
        Name = o.Name ?? DefaultName(folder);
        Source = folder;
        string weights = Path.Combine(folder, adapter ? Lora.LoraAdapter.AdapterWeightsFile : Formats.HfCheckpoint.WeightsFile);
        Hash = File.Exists(weights) ? StableHash.Sha256File(weights)[..16] : "sharded";
        say($"model {Name}: {folder}, {config.Architectures[0]} ({config.NumHiddenLayers} layers), labels {string.Join(", ", labels)}, inputs cut at {_maxLength} tokens; the arg-max label is the answer");
    }

    private static void Check(EvalTask task, IReadOnlyList<string> labels, string folder)
    {
        if (!task.IsClassification)
            throw new TailorException($"task {task.Name} is a {task.Kind} task; an encoder classifier ({folder}) answers label tasks only: give --tasks sentiment,sentiment-imdb.");
        var missing = task.Options.Where(l => !labels.Contains(l)).ToList();
        if (missing.Count > 0)
            throw new TailorException($"task {task.Name} has labels {string.Join(", ", task.Options)} but {folder}'s id2label names {string.Join(", ", labels)} (missing {string.Join(", ", missing)}); fine-tune it on this task.");
    }

    /// <summary>The max_length the classifier was trained with (its tailor.json), so evaluation cuts inputs the same way.</summary>
    private static int? MaxLengthOf(string folder)
    {
        string path = Path.Combine(folder, TunedModelMarker.FileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["max_length"]?.GetValue<int>();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            throw new TailorException($"{path}: not valid JSON with a whole-number \"max_length\" ({e.Message.Split('\n')[0]}).");
        }
    }

    public override string Name { get; }
    public override string Source { get; }
    public override string Hash { get; }
    public override string Kind => "finetuned";
    public override string Format => "plain";
    public override string? Mode => "classifier";

    public override IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel)
    {
        var labels = _encoder.Config.Labels;
        var texts = questions.Select(q => q.Record.Input).ToList();
        var best = EncoderClassifier.Predict(_classifier, _encoder.Tokenizer, texts, _maxLength, _device, done, cancel);
        return [.. questions.Select((q, i) => new Answer(q.Record.Input, labels[best[i]], 0))];
    }

    public override void Dispose() => _encoder.Dispose();
}
