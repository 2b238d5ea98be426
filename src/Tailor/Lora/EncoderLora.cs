using Tailor.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Lora;

/// <summary>
/// LoRA on a BERT-family sequence classifier (<see cref="ISequenceClassifier"/>), as PEFT's <c>task_type="SEQ_CLS"</c>
/// does it: the targeted Linear layers of every encoder layer become <see cref="LoraLinear"/>s (base frozen, A and B
/// trained), every other encoder weight is frozen, and the parameters the checkpoint did not have — the fresh
/// classification head, and a pooler the checkpoint lacks — train in full (PEFT's <c>modules_to_save</c>).
/// </summary>
/// <remarks>
/// Target names are the module paths' tails inside a layer: <c>query</c>, <c>key</c>, <c>value</c> (attention.self),
/// <c>attention.output.dense</c>, <c>intermediate.dense</c>, <c>output.dense</c>, or <c>all-linear</c> for all six.
/// PEFT's own default for BERT and RoBERTa is query and value. Layers keep their HF names (<see cref="LoraLinear"/> holds
/// the base weight as <c>weight</c>), so <see cref="MergedStateDict"/> and <see cref="Merge"/> give plain HF keys back.
/// </remarks>
public static class EncoderLora
{
    /// <summary>The six Linear layers of a BERT layer, by their target name, in module order.</summary>
    public static readonly IReadOnlyList<string> TargetNames =
        ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"];

    /// <summary>One adaptable Linear: its state-dict path inside the classifier, target name, current module, and how to swap it.</summary>
    private sealed record Slot(string Path, string Name, nn.Module<Tensor, Tensor> Module, Action<nn.Module<Tensor, Tensor>> Replace);

    /// <summary>Parses a comma-separated target list ("all-linear" or names of <see cref="TargetNames"/>); the message names the bad entry.</summary>
    public static IReadOnlyList<string> ParseTargets(string list, string source = "--lora-targets")
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 1 && names[0] == LoraConfig.AllLinear) return TargetNames;
        if (names.Length == 0) throw new TailorException($"{source} is empty; name {string.Join(", ", TargetNames)} or \"{LoraConfig.AllLinear}\".");
        foreach (string n in names)
            if (!TargetNames.Contains(n))
                throw new TailorException($"{source}: '{n}' is not a Linear layer of a BERT/RoBERTa layer; use {string.Join(", ", TargetNames)} or \"{LoraConfig.AllLinear}\".");
        return [.. TargetNames.Where(names.Contains)];
    }

    private static List<Slot> Slots(ISequenceClassifier model)
    {
        string prefix = model.Config.BasePrefix + ".encoder.layer.";
        var slots = new List<Slot>();
        var layers = model.Encoder.Encoder.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            string p = prefix + i + ".";
            foreach (string name in BertSelfAttention.ProjectionNames)
            {
                var self = layer.Attention.Self;
                slots.Add(new Slot(p + "attention.self." + name, name, self[name], m => self.Replace(name, m)));
            }
            slots.Add(new Slot(p + "attention.output.dense", "attention.output.dense", layer.Attention.Output.Dense, layer.Attention.Output.ReplaceDense));
            slots.Add(new Slot(p + "intermediate.dense", "intermediate.dense", layer.Intermediate.Dense, layer.Intermediate.ReplaceDense));
            slots.Add(new Slot(p + "output.dense", "output.dense", layer.Output.Dense, layer.Output.ReplaceDense));
        }
        return slots;
    }

    /// <summary>
    /// Wraps the targeted layers, freezes the encoder, and leaves <paramref name="trainInFull"/> (state-dict names:
    /// the fresh head and pooler) trainable. The caller seeds torch's RNG first (A is random). Returns the adapted paths.
    /// </summary>
    public static IReadOnlyList<string> Apply(ISequenceClassifier model, IReadOnlyList<string> targets, int rank, double alpha, double dropout,
        IReadOnlyCollection<string> trainInFull)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(trainInFull);
        var module = (nn.Module)model;
        foreach (var (name, p) in module.named_parameters()) p.requires_grad = trainInFull.Contains(name);
        var adapted = new List<string>();
        foreach (var slot in Slots(model).Where(s => targets.Contains(s.Name)))
        {
            if (slot.Module is LoraLinear) throw new TailorException($"{slot.Path} already has a LoRA adapter; start from a fresh model.");
            var lora = new LoraLinear((Linear)slot.Module, rank, alpha, dropout);
            if (!module.training) lora.eval();
            slot.Replace(lora);
            adapted.Add(slot.Path);
        }
        return adapted;
    }

    /// <summary>The LoRA layers of <paramref name="model"/> with their state-dict paths and target names, in module order.</summary>
    public static IReadOnlyList<(string Path, string Name, LoraLinear Layer)> Adapters(ISequenceClassifier model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [.. Slots(model).Where(s => s.Module is LoraLinear).Select(s => (s.Path, s.Name, (LoraLinear)s.Module))];
    }

    /// <summary>
    /// The classifier's weights under plain HF names with every adapter folded in (W + B·A·scaling), leaving the live
    /// model untouched: the tensors of a <c>*ForSequenceClassification</c> checkpoint. New tensors for adapted layers,
    /// the live parameters for the rest; dispose the dictionary's values only through the caller's dispose scope.
    /// </summary>
    public static Dictionary<string, Tensor> MergedStateDict(ISequenceClassifier model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var adapters = Slots(model).Where(s => s.Module is LoraLinear).ToDictionary(s => s.Path + ".weight", s => (LoraLinear)s.Module, StringComparer.Ordinal);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        foreach (var (name, t) in ((nn.Module)model).state_dict())
        {
            if (name.EndsWith(".lora_A.weight", StringComparison.Ordinal) || name.EndsWith(".lora_B.weight", StringComparison.Ordinal)) continue;
            result[name] = adapters.TryGetValue(name, out var lora) ? t.add(lora.DeltaWeight()) : t;
        }
        return result;
    }

    /// <summary>Folds every adapter into its base weight in place and puts plain Linear layers back; returns how many.</summary>
    public static int Merge(ISequenceClassifier model)
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
}
