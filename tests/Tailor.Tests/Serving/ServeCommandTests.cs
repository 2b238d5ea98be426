using Tailor.Generation;
using Tailor.Lora;
using Tailor.Model;
using Tailor.Serving;
using Tailor.Tests.Cli;
using static TorchSharp.torch;

namespace Tailor.Tests.Serving;

/// <summary>`tailor serve`'s options and a served LoRA adapter.</summary>
[Collection("TorchSharp")]
public sealed class ServeCommandTests(ServingModels models) : IClassFixture<ServingModels>
{
    [Fact]
    public void Serve_help_lists_its_options_and_bad_values_are_errors_naming_the_option()
    {
        var (exit, help, _) = CliRunner.Run("serve", "--help");
        Assert.Equal(0, exit);
        foreach (string option in new[] { "--model", "--adapter", "--host", "--port", "--api-key", "--max-batch", "--queue", "--drain", "--device", "--threads" })
            Assert.Contains(option, help, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1", help, StringComparison.Ordinal);

        (string[] Args, string Names)[] bad =
        [
            (["serve", "--model", models.Short, "--port", "http"], "--port"),
            (["serve", "--model", models.Short, "--port", "70000"], "--port"),
            (["serve", "--model", models.Short, "--max-batch", "0"], "--max-batch"),
            (["serve", "--model", models.Short, "--queue", "-1"], "--queue"),
            (["serve", "--model", models.Short, "--api-key", ""], "--api-key"),
            (["serve", "--modle", models.Short], "--model"),
            (["serve", "--port", "0"], "--model"),
        ];
        foreach (var (args, names) in bad)
        {
            var (code, _, err) = CliRunner.Run(args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}, {err}");
            Assert.Contains(names, err, StringComparison.Ordinal);
        }
        var (missing, _, error) = CliRunner.Run("serve", "--model", Path.Combine(models.Short, "nope"), "--port", "0");
        Assert.Equal(1, missing);
        Assert.Contains("no such model folder", error, StringComparison.Ordinal);
        var (host, _, hostError) = CliRunner.Run("serve", "--model", models.Short, "--host", "example.invalid", "--port", "0");
        Assert.Equal(1, host);
        Assert.Contains("--host example.invalid", hostError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_served_adapter_is_merged_into_the_model_and_named_after_its_folder()
    {
        string adapter = Path.Combine(Path.GetDirectoryName(models.Short)!, "boats-lora");
        using (var model = PretrainedModel.Load(models.Short))
        {
            LoraAdapter.Apply(model.Model, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0, TargetModules = ["q_proj", "v_proj", "down_proj"] });
            using (no_grad())
            {
                manual_seed(5);
                foreach (var (_, layer) in LoraAdapter.Adapters(model.Model)) layer.LoraB.normal_(0, 0.5);    // B = 0 would be a no-op
            }
            LoraAdapter.Save(model.Model, adapter, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0, TargetModules = ["q_proj", "v_proj", "down_proj"] });
        }
        int[] prompt;
        GenerationResult expected, baseOnly;
        using (var model = PretrainedModel.Load(models.Short))
        {
            prompt = [.. model.Tokenizer.Encode("the weather and the sea")];
            baseOnly = model.CreateGenerator().Generate(prompt, new SamplingOptions { MaxNewTokens = 12, StopAtEos = false });
            LoraAdapter.Load(model.Model, adapter);
            expected = model.CreateGenerator().Generate(prompt, new SamplingOptions { MaxNewTokens = 12, StopAtEos = false });
        }
        Assert.NotEqual(baseOnly.Ids, expected.Ids);

        using var served = ServedModel.Load(models.Short, adapter);
        Assert.Equal("boats-lora", served.Id);
        Assert.Empty(LoraAdapter.Adapters(served.Model.Model));                                            // merged
        var result = await served.Engine.GenerateAsync(prompt, new SamplingOptions { MaxNewTokens = 12, StopAtEos = false });
        Assert.Equal(expected.Ids, result.Ids);
    }
}
