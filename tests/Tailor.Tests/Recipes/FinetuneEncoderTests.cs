using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Evaluation;
using Tailor.Formats;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Text;
using Tailor.Training;
using static TorchSharp.torch;

namespace Tailor.Tests.Recipes;

/// <summary>
/// The encoder fine-tuning recipe and the encoder answerer of <c>tailor eval</c> on tiny random BERT and RoBERTa
/// models (a WordPiece vocabulary and a byte-level BPE tokenizer made here) and a small, learnable sentiment task.
/// </summary>
[Collection("TorchSharp")]
public sealed class FinetuneEncoderTests : IDisposable
{
    private static readonly string[] Positive = ["good", "great", "excellent", "lovely", "superb", "fine", "nice", "perfect"];
    private static readonly string[] Negative = ["bad", "awful", "terrible", "poor", "broken", "ugly", "nasty", "horrible"];
    private static readonly string[] Filler = ["the", "phone", "was", "really", "food", "movie", "this", "service", "and", "very"];

    private readonly string _root = Directory.CreateTempSubdirectory("tailor-encoder-tune-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A task folder with sentiment.{train,dev,test}.jsonl: a filler sentence with one sentiment word in it.</summary>
    private string TaskData()
    {
        string folder = Path.Combine(_root, "tasks");
        if (Directory.Exists(folder)) return folder;
        Directory.CreateDirectory(folder);
        var random = new Random(7);
        foreach (var (split, count) in new[] { ("train", 64), ("dev", 16), ("test", 16) })
        {
            var lines = new List<string>();
            for (int i = 0; i < count; i++)
            {
                bool positive = i % 2 == 0;
                var words = Enumerable.Range(0, 4).Select(_ => Filler[random.Next(Filler.Length)]).ToList();
                words.Insert(random.Next(words.Count + 1), (positive ? Positive : Negative)[random.Next(8)]);
                lines.Add(JsonSerializer.Serialize(new { id = $"{split}-{i:D3}", text = string.Join(' ', words), label = positive ? "positive" : "negative" }));
            }
            File.WriteAllLines(Path.Combine(folder, $"sentiment.{split}.jsonl"), lines);
        }
        File.WriteAllText(Path.Combine(folder, "summarization.test.jsonl"), """{"id": "s1", "text": "a long text", "summary": "short"}""" + "\n");
        return folder;
    }

    private static IEnumerable<string> Words() => Positive.Concat(Negative).Concat(Filler);

    /// <summary>A random 2-layer BERT (width 32) with a WordPiece vocabulary of the task's words plus letters.</summary>
    private string TinyBert()
    {
        string folder = Path.Combine(_root, "tiny-bert");
        Directory.CreateDirectory(folder);
        var vocab = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "," };
        vocab.AddRange(Words());
        vocab.AddRange(Enumerable.Range('a', 26).Select(c => ((char)c).ToString()));
        vocab.AddRange(Enumerable.Range('a', 26).Select(c => "##" + (char)c));
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), vocab);
        var config = BertConfig.Parse(JsonSerializer.Serialize(new
        {
            architectures = new[] { "BertModel" }, model_type = "bert", vocab_size = vocab.Count, hidden_size = 32, intermediate_size = 64,
            num_hidden_layers = 2, num_attention_heads = 2, max_position_embeddings = 64, type_vocab_size = 2, pad_token_id = 0,
        }));
        manual_seed(11);
        using var model = new BertModel(config);
        HfCheckpoint.Save(folder, model.state_dict(), config.ToJson(), new HfSaveOptions
        {
            WriteExtraFiles = staging => File.WriteAllLines(Path.Combine(staging, "vocab.txt"), vocab),
        });
        return folder;
    }

    /// <summary>A random 2-layer RoBERTa (width 32, no pooler) with a byte-level BPE tokenizer trained on the task's words.</summary>
    private string TinyRoberta()
    {
        string folder = Path.Combine(_root, "tiny-roberta");
        var tokenizer = BpeTrainer.Train(Enumerable.Repeat(string.Join(' ', Words()), 4),
            new BpeTrainerOptions(VocabSize: 300, MinFrequency: 1, SpecialTokens: ["<s>", "<pad>", "</s>", "<unk>"], BosToken: "<s>", EosToken: "</s>", PadToken: "<pad>", ModelMaxLength: 64));
        int pad = tokenizer.PadId!.Value;
        var config = BertConfig.Parse(JsonSerializer.Serialize(new
        {
            architectures = new[] { "RobertaModel" }, model_type = "roberta", vocab_size = tokenizer.VocabSize, hidden_size = 32, intermediate_size = 64,
            num_hidden_layers = 2, num_attention_heads = 2, max_position_embeddings = pad + 2 + 64, type_vocab_size = 1, pad_token_id = pad,
            layer_norm_eps = 1e-5,
        }));
        manual_seed(12);
        using var model = new BertModel(config, addPoolingLayer: false);
        HfCheckpoint.Save(folder, model.state_dict(), config.ToJson(), new HfSaveOptions { WriteExtraFiles = tokenizer.Save });
        return folder;
    }

    private string Base(string family) => family == "bert" ? TinyBert() : TinyRoberta();

    private EncoderTuneOptions Options(string model, string output) => new()
    {
        Model = model, Output = Path.Combine(_root, output), TaskData = TaskData(), Epochs = 12, Batch = 8, Optimizer = new EncoderTuneOptions().Optimizer with { LearningRate = 5e-3 },
        MaxLength = 32, LogInterval = 4, CheckpointInterval = 1000, Runtime = new() { Threads = 1 },
    };

    [Theory]
    [InlineData("bert", "BertForSequenceClassification", "bert.encoder.layer.0.attention.self.query.weight")]
    [InlineData("roberta", "RobertaForSequenceClassification", "roberta.encoder.layer.0.attention.self.query.weight")]
    public void Full_tuning_lowers_the_loss_and_writes_an_hf_classifier_with_id2label_that_eval_scores_the_same(string family, string architecture, string key)
    {
        var result = FinetuneEncoder.Run(Options(Base(family), "full-" + family));

        Assert.False(result.Interrupted);
        Assert.Equal(["negative", "positive"], result.Labels);
        Assert.True(result.Losses[^1].Loss < result.Losses[0].Loss - 0.1, $"loss went {result.Losses[0].Loss:F3} → {result.Losses[^1].Loss:F3}");
        Assert.True(result.Test!.Value.Accuracy >= 0.75, $"test accuracy {result.Test.Value.Accuracy}");
        string final = result.FinalModel!;
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(final, "config.json")))!;
        Assert.Equal(architecture, (string?)config["architectures"]![0]);
        Assert.Equal("negative", (string?)config["id2label"]!["0"]);
        Assert.Equal("positive", (string?)config["id2label"]!["1"]);
        Assert.Equal(1, (int?)config["label2id"]!["positive"]);
        var names = EncoderWeights.Describe(final).Select(t => t.Name).ToList();
        Assert.Contains(key, names);
        Assert.Contains(names, n => n.StartsWith("classifier.", StringComparison.Ordinal));
        Assert.DoesNotContain(names, n => n.Contains("lora", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(final, "tokenizer.json")));
        Assert.Contains("| test | 16 |", File.ReadAllText(Path.Combine(final, "README.md")), StringComparison.Ordinal);

        // The saved folder reloads and answers the test items exactly as the recipe scored them.
        var (run, items) = Evaluate.Run(new EvalOptions { Model = final, Tasks = "sentiment", TaskData = TaskData(), Output = Path.Combine(_root, "eval-" + family) });
        var task = Assert.Single(run.Tasks);
        Assert.Equal("classifier", task.Mode);
        Assert.Equal("finetuned", run.Kind);
        Assert.Equal(result.Test.Value.Accuracy, task.Metrics["accuracy"], 12);
        Assert.Equal(result.Test.Value.MacroF1, task.Metrics["macro_f1"], 12);
        Assert.Equal(16, items.Count);
        Assert.All(items, i => Assert.Equal("plain", i.Template));
        Assert.All(items, i => Assert.Contains(i.Prediction, new[] { "negative", "positive" }));
        Assert.Equal(task.Metrics["accuracy"], items.Average(i => i.Scores["correct"]), 12);
    }

    [Fact]
    public void Lora_trains_adapters_and_writes_the_merged_model_with_the_frozen_weights_untouched()
    {
        string bert = TinyBert();
        var o = Options(bert, "lora") with { Lora = true, Adapter = new() { Rank = 8, Alpha = 16, Dropout = 0.1 }, Optimizer = new EncoderTuneOptions().Optimizer with { LearningRate = 1e-2 }, Epochs = 30 };
        var result = FinetuneEncoder.Run(o);

        // Only the mechanics are checked here: through rank-8 adapters a frozen *random* encoder barely learns this task
        // (its loss stays near ln 2), so what trained, what stayed frozen and what was merged is asserted instead.
        Assert.All(result.Losses, l => Assert.True(double.IsFinite(l.Loss)));
        Assert.Equal(30 * 8, result.Steps);
        var tuned = HfCheckpoint.LoadTensors(result.FinalModel!);
        var base_ = HfCheckpoint.LoadTensors(bert);
        Assert.DoesNotContain(tuned.Keys, n => n.Contains("lora", StringComparison.Ordinal));
        Assert.True(tuned["bert.embeddings.word_embeddings.weight"].allclose(base_["embeddings.word_embeddings.weight"], 0, 0), "frozen embeddings changed");
        Assert.True(tuned["bert.encoder.layer.1.output.LayerNorm.weight"].allclose(base_["encoder.layer.1.output.LayerNorm.weight"], 0, 0), "frozen LayerNorm changed");
        Assert.False(tuned["bert.encoder.layer.0.attention.self.query.weight"].allclose(base_["encoder.layer.0.attention.self.query.weight"], 0, 0), "no adapter was merged into query");
        Assert.False(tuned["bert.encoder.layer.1.output.dense.weight"].allclose(base_["encoder.layer.1.output.dense.weight"], 0, 0), "no adapter was merged into output.dense");
    }

    /// <summary>The tiny BERT without pooler weights, as sentence-transformers checkpoints (all-MiniLM-L6-v2) come.</summary>
    private string TinyBertWithoutPooler()
    {
        string source = TinyBert(), folder = Path.Combine(_root, "tiny-bert-no-pooler");
        var tensors = HfCheckpoint.LoadTensors(source).Where(kv => !kv.Key.StartsWith("pooler.", StringComparison.Ordinal)).ToDictionary();
        HfCheckpoint.Save(folder, tensors, File.ReadAllText(Path.Combine(source, "config.json")), new HfSaveOptions
        {
            WriteExtraFiles = staging => File.Copy(Path.Combine(source, "vocab.txt"), Path.Combine(staging, "vocab.txt")),
        });
        return folder;
    }

    [Theory]
    [InlineData("bert", "best")]
    [InlineData("bert-no-pooler", "last")]
    [InlineData("roberta", "last")]
    public void Lora_writes_a_peft_seq_cls_adapter_that_reloads_to_the_logits_of_the_merged_final(string family, string keep)
    {
        string basePath = family == "bert-no-pooler" ? TinyBertWithoutPooler() : Base(family);
        var o = Options(basePath, $"adapter-{family}") with
        {
            Lora = true, Adapter = new() { Rank = 4, Alpha = 8, Dropout = 0.1 }, Epochs = 3, EvalInterval = 4,
            Optimizer = new EncoderTuneOptions().Optimizer with { LearningRate = 1e-2 }, Keep = keep == "best" ? KeepWeights.Best : KeepWeights.Last,
        };
        var result = FinetuneEncoder.Run(o);
        Assert.Equal(keep, result.Kept);
        string adapter = result.Adapter!;
        Assert.Equal(Path.Combine(o.Output, "adapter"), adapter);
        Assert.False(Directory.Exists(Path.Combine(o.Output, "best-adapter")));

        // PEFT's SEQ_CLS layout: adapter_config.json and the LoRA pairs plus the modules trained in full, PEFT's names.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(adapter, "adapter_config.json")))!;
        Assert.Equal("SEQ_CLS", config["task_type"]!.GetValue<string>());
        Assert.Equal("LORA", config["peft_type"]!.GetValue<string>());
        Assert.Equal((4, 8), (config["r"]!.GetValue<int>(), config["lora_alpha"]!.GetValue<int>()));
        Assert.Equal(Path.GetFullPath(basePath), config["base_model_name_or_path"]!.GetValue<string>());
        Assert.Equal(["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"], config["target_modules"]!.AsArray().Select(n => n!.GetValue<string>()));
        string[] modules = family == "bert-no-pooler" ? ["pooler", "classifier", "score"] : ["classifier", "score"];
        Assert.Equal(modules, config["modules_to_save"]!.AsArray().Select(n => n!.GetValue<string>()));
        var header = Safetensors.ReadHeader(Path.Combine(adapter, "adapter_model.safetensors"));
        string prefix = family == "roberta" ? "roberta" : "bert";
        Assert.True(header.TryGet($"base_model.model.{prefix}.encoder.layer.1.attention.self.query.lora_A.weight", out var a));
        Assert.Equal([4L, 32], a!.Shape);
        Assert.True(header.TryGet($"base_model.model.{prefix}.encoder.layer.1.output.dense.lora_B.weight", out var b));
        Assert.Equal([32L, 4], b!.Shape);
        Assert.Contains(header.Tensors, t => t.Name == (family == "roberta" ? "base_model.model.classifier.out_proj.weight" : "base_model.model.classifier.weight"));
        Assert.Equal(family == "bert-no-pooler", header.TryGet("base_model.model.bert.pooler.dense.weight", out _));
        Assert.Equal(6 * 2 * 2 + (family == "roberta" ? 4 : 2) + (family == "bert-no-pooler" ? 2 : 0), header.Tensors.Count);

        // Base + adapter gives final/'s logits, and tailor eval and info take the adapter folder.
        string[] texts = ["the phone was really good", "terrible service and very ugly food", "this movie"];
        using var merged = PretrainedEncoder.Load(result.FinalModel!);
        using var reloaded = EncoderAdapter.Load(adapter);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var (ids, mask, types) = merged.Batch(texts, 32);
            var expected = merged.Classifier!.Logits(ids, mask, types);
            var actual = reloaded.Classifier!.Logits(ids, mask, types);
            Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"max |Δlogit| {(actual - expected).abs().max().item<float>():E2}");
        }
        Assert.Equal(["negative", "positive"], reloaded.Config.Labels);
        var (run, _) = Evaluate.Run(new EvalOptions { Model = adapter, Tasks = "sentiment", TaskData = TaskData(), Output = Path.Combine(_root, $"eval-adapter-{family}") });
        Assert.Equal(result.Test!.Value.Accuracy, Assert.Single(run.Tasks).Metrics["accuracy"], 12);
        Assert.Equal("classifier", run.Tasks[0].Mode);
    }

    [Fact]
    public void An_encoder_adapter_whose_base_is_gone_or_whose_tensors_do_not_fit_is_refused_by_name()
    {
        string bert = TinyBert();
        var result = FinetuneEncoder.Run(Options(bert, "adapter-bad") with { Lora = true, Adapter = new() { Rank = 4, Alpha = 8 }, Epochs = 1 });
        string adapter = result.Adapter!;
        string copy = Path.Combine(_root, "moved-adapter");
        Directory.CreateDirectory(copy);
        foreach (string f in Directory.GetFiles(adapter)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        string configPath = Path.Combine(copy, "adapter_config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["base_model_name_or_path"] = Path.Combine(_root, "no-such-base");
        File.WriteAllText(configPath, config.ToJsonString());
        var gone = Assert.Throws<TailorException>(() => EncoderAdapter.Load(copy));
        Assert.Contains("base_model_name_or_path", gone.Message, StringComparison.Ordinal);
        Assert.Contains("no-such-base", gone.Message, StringComparison.Ordinal);

        config["base_model_name_or_path"] = bert;
        config["r"] = 8;
        File.WriteAllText(configPath, config.ToJsonString());
        var rank = Assert.Throws<CheckpointFormatException>(() => EncoderAdapter.Load(copy));
        Assert.Contains("lora_A.weight", rank.Message, StringComparison.Ordinal);
        Assert.Contains("shape [4, 32] in the file but the model's is [8, 32]", rank.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_encoder_adapter_names_a_pretrained_base_by_its_hub_id_and_resolves_it_back()
    {
        string folder = PretrainedEncoders.Resolve("all-MiniLM-L6-v2");
        Assert.Equal("all-MiniLM-L6-v2", PretrainedEncoders.NameOf(folder));   // what the CLI hands the recipe for the name
        Assert.Null(PretrainedEncoders.NameOf(TinyBert()));
        string adapter = Path.Combine(_root, "named-adapter");
        Directory.CreateDirectory(adapter);
        File.WriteAllText(Path.Combine(adapter, "adapter_config.json"),
            """{"peft_type": "LORA", "task_type": "SEQ_CLS", "base_model_name_or_path": "sentence-transformers/all-MiniLM-L6-v2"}""");
        Assert.True(EncoderAdapter.IsAdapterFolder(adapter));
        Assert.Equal(folder, EncoderAdapter.BaseFolder(adapter));
    }

    [Fact]
    public void Examples_trains_on_a_seeded_subset_and_keeps_the_whole_split_s_labels()
    {
        string bert = TinyBert();
        var capped = FinetuneEncoder.Run(Options(bert, "capped") with { Examples = 24, Epochs = 1, LogInterval = 1 });
        Assert.Equal(3, capped.Steps);                                   // 24 of the 64 train examples, batches of 8
        Assert.Equal(["negative", "positive"], capped.Labels);
        Assert.Equal(3, capped.Losses.Count);
        var marker = JsonNode.Parse(File.ReadAllText(Path.Combine(capped.FinalModel!, FinetuneEncoder.MarkerFile)))!;
        Assert.Equal(24, marker["examples"]!.GetValue<int>());
        // The same seed draws the same subset (the same losses); another seed another run.
        Assert.Equal(capped.Losses, FinetuneEncoder.Run(Options(bert, "again") with { Examples = 24, Epochs = 1, LogInterval = 1 }).Losses);
        Assert.NotEqual(capped.Losses, FinetuneEncoder.Run(Options(bert, "other") with { Examples = 24, Epochs = 1, LogInterval = 1, Seed = 99 }).Losses);
        Assert.Equal(8, FinetuneEncoder.Run(Options(bert, "all") with { Examples = 1000, Epochs = 1 }).Steps);   // more than the split: all of it
        Assert.Contains("examples = -1", Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(bert, "neg") with { Examples = -1 })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_stopped_and_resumed_repeats_the_uninterrupted_losses()
    {
        string bert = TinyBert();
        var whole = FinetuneEncoder.Run(Options(bert, "whole") with { Epochs = 2 });
        using var stop = new CancellationTokenSource();
        var first = FinetuneEncoder.Run(Options(bert, "parts") with { Epochs = 2 }, p => { if (p.Step == 8 && p.Loss is not null) stop.Cancel(); }, stop.Token);
        Assert.True(first.Interrupted);
        Assert.Equal(8, first.Steps);
        // A resume that would change what the checkpoint's tensors are is refused before anything is loaded.
        var changed = Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(bert, "parts") with { Epochs = 2, Resume = true, Lora = true }));
        Assert.Contains("Resume with --lora false (given true)", changed.Message, StringComparison.Ordinal);
        var rest = FinetuneEncoder.Run(Options(bert, "parts") with { Epochs = 2, Resume = true });
        Assert.Equal(whole.Losses.Where(l => l.Step > 8).ToList(), rest.Losses);
        Assert.Equal(whole.Test, rest.Test);
    }

    [Fact]
    public void Bad_inputs_are_refused_with_a_message_that_names_the_problem()
    {
        string bert = TinyBert();
        var generation = Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(bert, "gen") with { Task = "summarization" }));
        Assert.Contains("label tasks", generation.Message, StringComparison.Ordinal);
        Assert.Contains("unknown task", Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(bert, "unknown") with { Task = "poetry" })).Message, StringComparison.Ordinal);

        string decoder = Path.Combine(_root, "decoder");
        Directory.CreateDirectory(decoder);
        File.WriteAllText(Path.Combine(decoder, "config.json"), """{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}""");
        Assert.Contains("BERT or RoBERTa", Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(decoder, "dec"))).Message, StringComparison.Ordinal);
        Assert.Contains("--keep first: use best or last", Assert.Throws<TailorException>(() => RecipeOptions.Load<EncoderTuneOptions>(null, [KeyValuePair.Create("keep", "first")])).Message, StringComparison.Ordinal);
        Assert.Contains("not a Linear layer", Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(bert, "targets") with { Lora = true, Adapter = new() { Targets = "q_proj" } })).Message, StringComparison.Ordinal);

        // A train split with a single label, and a test item whose label the train split never uses.
        string odd = Path.Combine(_root, "odd");
        Directory.CreateDirectory(odd);
        File.WriteAllText(Path.Combine(odd, "sentiment.train.jsonl"), """{"id": "a", "text": "good", "label": "positive"}""" + "\n");
        Assert.Contains("at least two labels", Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(bert, "one") with { TaskData = odd })).Message, StringComparison.Ordinal);
        File.AppendAllText(Path.Combine(odd, "sentiment.train.jsonl"), """{"id": "b", "text": "bad", "label": "negative"}""" + "\n");
        File.WriteAllText(Path.Combine(odd, "sentiment.test.jsonl"), """{"id": "t1", "text": "meh", "label": "neutral"}""" + "\n");
        Assert.Contains("t1", Assert.Throws<TailorException>(() => FinetuneEncoder.Run(Options(bert, "neutral") with { TaskData = odd })).Message, StringComparison.Ordinal);

        // eval: a base encoder has no head; a classifier answers label tasks only.
        var noHead = Assert.Throws<TailorException>(() => Evaluate.Run(new EvalOptions { Model = bert, Tasks = "sentiment", TaskData = TaskData(), Output = Path.Combine(_root, "e1") }));
        Assert.Contains("without a classification head", noHead.Message, StringComparison.Ordinal);
        var tuned = FinetuneEncoder.Run(Options(bert, "tiny") with { Epochs = 1 });
        var wrongKind = Assert.Throws<TailorException>(() => Evaluate.Run(new EvalOptions { Model = tuned.FinalModel, Tasks = "sentiment,summarization", TaskData = TaskData(), Output = Path.Combine(_root, "e2") }));
        Assert.Contains("label tasks only", wrongKind.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_root, "e2", EvalRun.ResultsFile)));
    }
}
