using Tailor.Formats;
using Tailor.Text;
using static TorchSharp.torch;

namespace Tailor.Model;

/// <summary>Batched inference with a BERT/RoBERTa sequence classifier: padded batches and arg-max labels.</summary>
public static class EncoderClassifier
{
    /// <summary>Texts per forward pass (no gradients, so larger than training batches; rows sorted by length keep padding small).</summary>
    public const int Batch = 64;

    /// <summary>
    /// The arg-max class of each text (ties: the lower index), batched, in eval mode under inference_mode. The module
    /// is left in eval mode; training callers switch it back.
    /// </summary>
    public static int[] Predict(ISequenceClassifier classifier, EncoderTokenizer tokenizer, IReadOnlyList<string> texts, int maxLength, Device device,
        Action<int>? done = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(texts);
        ((nn.Module)classifier).eval();
        var encoded = texts.Select(t => tokenizer.Encode(t, maxLength)).ToList();
        // Longest first, so rows of a batch have similar lengths and little padding.
        var order = Enumerable.Range(0, encoded.Count).OrderByDescending(i => encoded[i].Ids.Length).ToArray();
        var result = new int[texts.Count];
        using var inference = inference_mode();
        for (int start = 0; start < order.Length; start += Batch)
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var batch = order.Skip(start).Take(Batch).ToArray();
            var (ids, mask, types) = ToBatch([.. batch.Select(i => encoded[i])], tokenizer.PadId, device);
            var best = classifier.Logits(ids, mask, types).argmax(-1).cpu().data<long>().ToArray();   // (B)
            for (int j = 0; j < batch.Length; j++) result[batch[j]] = (int)best[j];
            done?.Invoke(Math.Min(order.Length, start + batch.Length));
        }
        return result;
    }

    /// <summary>Pads encoded inputs to the longest: ids (B, T) with the pad id, mask (B, T) 1 for tokens, token types (B, T).</summary>
    public static (Tensor Ids, Tensor Mask, Tensor Types) ToBatch(IReadOnlyList<EncodedInput> inputs, int padId, Device device)
    {
        int t = inputs.Max(e => e.Ids.Length);
        var ids = new long[inputs.Count * t];
        var mask = new long[inputs.Count * t];
        var types = new long[inputs.Count * t];
        Array.Fill(ids, padId);
        for (int b = 0; b < inputs.Count; b++)
        {
            for (int i = 0; i < inputs[b].Ids.Length; i++)
            {
                ids[b * t + i] = inputs[b].Ids[i];
                mask[b * t + i] = 1;
                types[b * t + i] = inputs[b].TypeIds[i];
            }
        }
        return (tensor(ids, [inputs.Count, t], device: device), tensor(mask, [inputs.Count, t], device: device), tensor(types, [inputs.Count, t], device: device));
    }

    /// <summary>
    /// Writes an HF classifier folder atomically: model.safetensors (float32, HF names), config.json (architectures,
    /// id2label, label2id), the tokenizer (tokenizer.json plus the source folder's vocab and tokenizer configs), and
    /// optionally tailor.json (<paramref name="marker"/>), a README.md model card and recipe.json.
    /// </summary>
    public static void Save(string target, IReadOnlyDictionary<string, Tensor> tensors, BertConfig config, PretrainedEncoder encoder,
        string source, string? marker, string? card, string? recipeJson = null)
    {
        HfCheckpoint.Save(target, tensors, config.ToJson(), new HfSaveOptions
        {
            Dtype = ScalarType.Float32,
            WriteExtraFiles = staging =>
            {
                encoder.Tokenizer.Save(staging);
                foreach (string file in new[] { "vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json" })
                    if (File.Exists(Path.Combine(source, file)) && !File.Exists(Path.Combine(staging, file)))
                        File.Copy(Path.Combine(source, file), Path.Combine(staging, file));
                if (marker is not null) File.WriteAllText(Path.Combine(staging, TunedModelMarker.FileName), marker);
                if (card is not null) File.WriteAllText(Path.Combine(staging, "README.md"), card);
                if (recipeJson is not null) File.WriteAllText(Path.Combine(staging, "recipe.json"), recipeJson);
            },
        });
    }
}
