using System.Text.Json;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Recipes;
using Tailor.Tests.Data.Instructions;
using Tailor.Tests.Model;
using static TorchSharp.torch;
using Tailor.Training;

namespace Tailor.Tests.Recipes;

/// <summary>
/// The tuning, evaluation and export recipes end to end on the tiny GPT-2 fixture (real GPT-2 tokenizer): the
/// mechanism is under test, not the quality.
/// </summary>
[Collection("TorchSharp")]
public sealed class Gpt2TuneTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-gpt2-tune-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private TuneOptions Options(string output, bool lora) => new()
    {
        Model = Gpt2Fixture.MakeFolder(Path.Combine(_dir, "base")), Output = Path.Combine(_dir, output), Task = "sentiment",
        TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"),
        Templates = InstructionFixtures.TemplatesFolder,
        Examples = 32, Sequence = 64, Batch = 4, MaxSteps = 4, WarmupSteps = 1, MinLearningRate = 3e-4,
        Optimizer = new TuneOptions().Optimizer with { LearningRate = 3e-3 },
        LogInterval = 1, EvalInterval = 4, CheckpointInterval = 2, DevExamples = 4, Runtime = new() { Threads = 1 },
        Lora = lora, Adapter = new() { Rank = 4, Alpha = 8, Dropout = 0.1 }, Merge = lora,
    };

    private static double[] Losses(string output) => [.. File.ReadLines(Path.Combine(output, "metrics.jsonl"))
        .Select(l => JsonDocument.Parse(l).RootElement).Where(n => n.TryGetProperty("loss", out _)).Select(n => n.GetProperty("loss").GetDouble())];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Finetune_trains_gpt2_and_writes_a_gpt2_folder(bool lora)
    {
        var o = Options(lora ? "lora" : "full", lora);
        var result = Finetune.Run(o);
        Assert.Equal(4, result.Steps);
        var losses = Losses(o.Output);
        Assert.All(losses, l => Assert.True(double.IsFinite(l) && l > 0));
        Assert.NotNull(result.FinalModel);
        using var tuned = PretrainedModel.Load(result.FinalModel!);
        Assert.IsType<Gpt2LMHeadModel>(tuned.Model);
        using var original = PretrainedModel.Load(o.Model);
        var ids = Gpt2Fixture.Reference()["input_ids"];
        using (no_grad())
            Assert.True((tuned.Model.Forward(ids) - original.Model.Forward(ids)).abs().max().item<float>() > 1e-4, "training changed nothing");
        if (lora)
        {
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.Adapter!, LoraAdapter.AdapterConfigFile)));
            Assert.True(config.RootElement.GetProperty("fan_in_fan_out").GetBoolean());
        }
    }
}
