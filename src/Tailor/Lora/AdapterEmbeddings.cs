using Tailor.Formats;
using Tailor.Model;
using Tailor.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Tailor.Lora;

/// <summary>
/// LoRA adapters of a model whose vocabulary grew (ChatML tokens added to a GPT-2 base, see <c>ChatVocabulary</c>): the
/// adapter folder carries the grown embedding and head next to lora_A/lora_B (PEFT's <c>save_embedding_layers</c>) and
/// the grown tokenizer, so the base must grow to the adapter's vocabulary before the adapter loads, as PEFT's
/// <c>AutoPeftModelForCausalLM</c> resizes the base to the adapter folder's tokenizer.
/// </summary>
public static class AdapterEmbeddings
{
    /// <summary>
    /// PEFT's <c>save_embedding_layers="auto"</c> test: whether the model's vocab_size differs from that of the base's
    /// config.json (<paramref name="baseModel"/>, a folder). False when there is no base folder to compare with.
    /// </summary>
    public static bool VocabularyChanged(CausalLM model, string? baseModel)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (baseModel is null || !File.Exists(Path.Combine(baseModel, HfCheckpoint.ConfigFile))) return false;
        return CausalLMs.ReadConfig(baseModel).VocabSize != model.DecoderConfig.VocabSize;
    }

    /// <summary>Refuses an embedding or head tensor of an adapter file whose shape is not the model's, saying how to load it.</summary>
    internal static void CheckShape(string weightsPath, string tensor, long[] shape, Parameter weight)
    {
        if (shape.AsSpan().SequenceEqual(weight.shape)) return;
        string fix = shape.Length == 2 && shape[1] == weight.shape[1]
            ? $"the adapter was trained with a vocabulary of {shape[0]} tokens and the model has {weight.shape[0]}: load the base with {nameof(AdapterEmbeddings)}.{nameof(LoadBase)} (tailor serve/export --adapter do), which grows it to the adapter's tokenizer."
            : "the adapter was trained for a model of another width; load it onto its own base model.";
        throw new CheckpointFormatException(weightsPath, tensor, $"shape {SafetensorsTensorInfo.FormatShape(shape)} in the file but the model's is {SafetensorsTensorInfo.FormatShape(weight.shape)}; {fix}");
    }

    /// <summary>
    /// Loads the base model <paramref name="baseFolder"/> for the adapter in <paramref name="adapterFolder"/>: as it is
    /// when the adapter carries no embedding; otherwise grown to the adapter's embedding rows (if it has more)
    /// (<see cref="EmbeddingResize.Resize"/>; the new rows are overwritten when the adapter loads) with the adapter folder's
    /// tokenizer, which holds the added tokens, and config.json's eos/pad ids taken from it. The adapter itself is not
    /// applied: call <see cref="LoraAdapter.Load"/> next.
    /// </summary>
    /// <exception cref="TailorException">The adapter's embedding is smaller than the base's, or it has no tokenizer for its extra rows.</exception>
    public static PretrainedModel LoadBase(string baseFolder, string adapterFolder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(baseFolder);
        ArgumentNullException.ThrowIfNull(adapterFolder);
        var loaded = PretrainedModel.Load(baseFolder, device, dtype);
        try
        {
            string weights = Path.Combine(adapterFolder, LoraAdapter.AdapterWeightsFile);
            if (!File.Exists(weights)) return loaded;   // LoraAdapter.Load reports the missing file
            var names = EmbeddingResize.Layers(loaded.Model).Select(l => LoraAdapter.PeftPrefix + l.Name).ToList();
            var header = Safetensors.ReadHeader(weights);
            long? rows = header.Tensors.Where(t => names.Contains(t.Name) && t.Shape.Length == 2).Select(t => (long?)t.Shape[0]).FirstOrDefault();
            int baseRows = loaded.Config.VocabSize;
            bool hasTokenizer = File.Exists(Path.Combine(adapterFolder, TextTokenizer.TokenizerFileName));
            if (rows is null || (rows == baseRows && !hasTokenizer)) return loaded;
            if (rows < baseRows || rows > LlamaConfig.MaxVocabSize)
                throw new CheckpointFormatException(weights, names[0], $"the adapter's embedding has {rows} rows and the base {baseFolder} has {baseRows}; an adapter can only grow its base's vocabulary. Load it onto the base it was trained from.");
            if (!hasTokenizer)
                throw new TailorException($"{adapterFolder}: the adapter grows the vocabulary from {baseRows} to {rows} tokens but has no {TextTokenizer.TokenizerFileName} naming the new tokens. Copy the tokenizer files of the run that trained it into the folder.");
            // The adapter's tokenizer names the added tokens, also when they took spare rows of the base (rows == baseRows).
            var tokenizer = TextTokenizer.Load(adapterFolder);
            if (tokenizer.VocabSize > rows)
                throw new TailorException($"{adapterFolder}: {TextTokenizer.TokenizerFileName} has {tokenizer.VocabSize} tokens but the adapter's embedding only {rows} rows; the files belong to different runs.");
            var grown = EmbeddingResize.Resize(loaded.Model, (int)rows, baseRows, new Generator(0), EmbeddingResize.TokenIdsOf(tokenizer));
            loaded.Dispose();
            return PretrainedModel.From(baseFolder, grown, tokenizer);
        }
        catch (IOException e)
        {
            loaded.Dispose();
            throw new TailorException($"{adapterFolder}: could not read the adapter ({e.Message}).", e);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }
}
