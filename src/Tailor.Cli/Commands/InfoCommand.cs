using System.Text.Json;
using Tailor.Model;

using Tailor.Cli.Options;

namespace Tailor.Cli.Commands;

/// <summary>`tailor info MODEL`: architecture, parameters, tensor shapes and dtypes, read from the headers only.</summary>
public sealed class InfoCommand : Command
{
    public override string Name => "info";

    public override string Summary => "show a model folder's architecture, parameter count, tensor shapes and dtypes";

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor info MODEL_DIR|NAME [--json] [--tensors]",
            "Reads config.json and the safetensors headers of a Hugging Face model folder (no weights are loaded): Llama/Qwen2\n" +
            "decoders, BERT/RoBERTa encoders (with their labels and sentence-transformers pooling) and an encoder classifier's\n" +
            "LoRA adapter folder (PEFT SEQ_CLS: its base, labels and LoRA settings). MODEL_DIR may also be\n" +
            $"a pretrained encoder's name ({string.Join(", ", PretrainedEncoders.Names)}).", RecipeCommandLine.Specs<InfoOptions>(), 1);
        if (cl is null) return 0;
        if (cl.Positionals.Count == 0) throw new UsageException("give the model folder: tailor info MODEL_DIR.");
        var o = RecipeCommandLine.Load(cl, new InfoOptions());
        string folder = PretrainedEncoders.Resolve(cl.Positionals[0], m => Console.Error.WriteLine($"tailor: {m}"));
        if (BertConfig.IsEncoderFolder(folder)) return DescribeEncoder(folder, o.Json, o.Tensors);
        if (Tailor.Lora.EncoderAdapter.IsAdapterFolder(folder)) return DescribeEncoderAdapter(folder, o.Json);
        var info = ModelInfo.Read(folder);
        if (o.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                folder = info.Folder,
                architecture = info.Config.Architectures.FirstOrDefault(),
                parameters = info.Parameters,
                weight_bytes = info.WeightBytes,
                parameters_by_dtype = info.ParametersByDtype,
                config = JsonDocument.Parse(info.Config.ToJson()).RootElement,
                tensors = info.Tensors.Select(t => new { name = t.Name, dtype = t.Dtype, shape = t.Shape }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        Console.WriteLine($"{info.Folder}");
        switch (info.Config)
        {
            case Gpt2Config g:
                Console.WriteLine($"  architecture   {g.Architectures.FirstOrDefault()} ({g.ModelType}: learned positions, pre-LayerNorm, Conv1D weights [in, out], {g.ActivationFunction})");
                PrintTotals(info);
                Console.WriteLine($"  layers         {g.NLayer} x (d {g.NEmbd}, heads {g.NHead}, head dim {g.HeadDim}, ff {g.InnerSize})");
                Console.WriteLine($"  vocabulary     {g.VocabSize}{(g.TieWordEmbeddings ? " (tied embeddings)" : "")}");
                Console.WriteLine($"  context        {g.NPositions} positions (n_positions), layer_norm_epsilon {g.LayerNormEpsilon}");
                break;
            case LlamaConfig c:
                Console.WriteLine($"  architecture   {c.Architectures.FirstOrDefault()} ({c.ModelType})");
                PrintTotals(info);
                Console.WriteLine($"  layers         {c.NumHiddenLayers} x (d {c.HiddenSize}, heads {c.NumAttentionHeads}, kv heads {c.KeyValueHeads}, head dim {c.HeadDim}, ff {c.IntermediateSize})");
                Console.WriteLine($"  vocabulary     {c.VocabSize}{(c.TieWordEmbeddings ? " (tied embeddings)" : "")}");
                Console.WriteLine($"  context        {c.MaxPositionEmbeddings} positions, rope_theta {c.RopeTheta}, rms_norm_eps {c.RmsNormEps}");
                break;
        }
        if (o.Tensors || info.Tensors.Count <= 40)
        {
            int width = info.Tensors.Max(t => t.Name.Length) + 2;
            foreach (var t in info.Tensors) Console.WriteLine($"    {t.Name.PadRight(width)}{t.Dtype,-5} [{string.Join(", ", t.Shape)}]");
        }
        return 0;
    }

    // BERT/RoBERTa folders: the encoder's shape, its head (labels) and the sentence-transformers pooling.
    private static int DescribeEncoder(string folder, bool json, bool allTensors)
    {
        var c = BertConfig.FromPretrained(folder);
        var pooling = EncoderPooling.Read(folder);
        var tensors = EncoderWeights.Describe(folder);
        long parameters = tensors.Sum(t => t.Elements);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                folder,
                architecture = c.Architectures.FirstOrDefault(),
                parameters,
                labels = c.Labels,
                pooling = new { mode = pooling.Mode, normalize = pooling.Normalize, max_seq_length = pooling.MaxSeqLength },
                config = JsonDocument.Parse(c.ToJson()).RootElement,
                tensors = tensors.Select(t => new { name = t.Name, dtype = t.Dtype, shape = t.Shape }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        Console.WriteLine(folder);
        Console.WriteLine($"  architecture   {c.Architectures.FirstOrDefault()} ({c.ModelType} encoder, bidirectional)");
        Console.WriteLine($"  parameters     {parameters:N0} in {tensors.Count} tensors");
        Console.WriteLine($"  layers         {c.NumHiddenLayers} x (d {c.HiddenSize}, heads {c.NumAttentionHeads}, head dim {c.HeadDim}, ff {c.IntermediateSize}, {c.HiddenAct}, post-LayerNorm eps {c.LayerNormEps})");
        Console.WriteLine($"  vocabulary     {c.VocabSize}, {c.TypeVocabSize} token type(s), pad id {c.PadTokenId}");
        Console.WriteLine($"  positions      {c.MaxPositionEmbeddings} learned{(c.IsRoberta ? $" (offset {c.PadTokenId + 1}: {c.MaxTokens} usable)" : "")}");
        if (c.IsClassifier) Console.WriteLine($"  labels         {string.Join(", ", c.Labels.Select((l, i) => $"{i}={l}"))}");
        if (c.IsClassifier && FinetuneEncoderCommand.TrainedOn(folder) is string trained) Console.WriteLine($"  fine-tuned     {trained}");
        Console.WriteLine($"  embeddings     {pooling.Mode} pooling, {(pooling.Normalize ? "L2-normalised" : "not normalised")}{(pooling.MaxSeqLength is int m ? $", max_seq_length {m}" : "")}");
        if (allTensors || tensors.Count <= 40)
        {
            int width = tensors.Max(t => t.Name.Length) + 2;
            foreach (var t in tensors) Console.WriteLine($"    {t.Name.PadRight(width)}{t.Dtype,-5} [{string.Join(", ", t.Shape)}]");
        }
        return 0;
    }

    // A PEFT SEQ_CLS adapter of an encoder classifier: its base, labels, LoRA settings and tensors.
    private static int DescribeEncoderAdapter(string folder, bool json)
    {
        string configPath = Path.Combine(folder, Tailor.Lora.LoraAdapter.AdapterConfigFile);
        var adapterConfig = JsonDocument.Parse(File.ReadAllText(configPath)).RootElement;
        string baseFolder = Tailor.Lora.EncoderAdapter.BaseFolder(folder, m => Console.Error.WriteLine($"tailor: {m}"));
        var c = Tailor.Lora.EncoderAdapter.ReadClassifierConfig(folder);
        var tensors = Tailor.Formats.Safetensors.ReadHeader(Path.Combine(folder, Tailor.Lora.LoraAdapter.AdapterWeightsFile)).Tensors;
        long parameters = tensors.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d));
        string Field(string name) => !adapterConfig.TryGetProperty(name, out var v) ? ""
            : v.ValueKind == JsonValueKind.Array ? string.Join(",", v.EnumerateArray().Select(e => e.ToString())) : v.ToString();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                folder,
                kind = "lora-adapter",
                task_type = Tailor.Lora.EncoderAdapter.TaskType,
                base_model = baseFolder,
                architecture = c.Architectures.FirstOrDefault(),
                labels = c.Labels,
                parameters,
                adapter_config = adapterConfig,
                tensors = tensors.Select(t => new { name = t.Name, dtype = t.Dtype, shape = t.Shape }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        Console.WriteLine(folder);
        Console.WriteLine($"  adapter        PEFT LoRA, task_type {Tailor.Lora.EncoderAdapter.TaskType}, r {Field("r")}, alpha {Field("lora_alpha")}, targets {Field("target_modules")}, modules_to_save {Field("modules_to_save")}");
        Console.WriteLine($"  base           {Field("base_model_name_or_path")} → {baseFolder} ({c.Architectures.FirstOrDefault()}, {c.NumHiddenLayers} layers, width {c.HiddenSize})");
        Console.WriteLine($"  labels         {string.Join(", ", c.Labels.Select((l, i) => $"{i}={l}"))}");
        Console.WriteLine($"  parameters     {parameters:N0} in {tensors.Count} tensors");
        return 0;
    }

    private static void PrintTotals(ModelInfo info)
    {
        Console.WriteLine($"  parameters     {info.Parameters:N0} ({string.Join(", ", info.ParametersByDtype.Select(kv => $"{kv.Key}: {kv.Value:N0}"))})");
        Console.WriteLine($"  weights        {info.WeightBytes / 1048576.0:F1} MiB in {info.Tensors.Count} tensors");
    }
}
