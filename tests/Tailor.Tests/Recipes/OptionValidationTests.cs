using Tailor.Evaluation;
using Tailor.Pipeline;
using Tailor.Training;

namespace Tailor.Tests.Recipes;

/// <summary>Bad options of eval and run are one-line errors that name the option and what to do.</summary>
public sealed class OptionValidationTests
{
    [Theory]
    [InlineData("none", "exactly one of --model")]
    [InlineData("split", "--split train: use test or dev")]
    [InlineData("imdb-dev", "sentiment-imdb is a test set only")]
    [InlineData("words", "max_input_words = -1")]
    [InlineData("task", "unknown task 'poetry'")]
    [InlineData("baseline", "baseline = magic")]
    [InlineData("format", "--format json: use auto, base, plain or chatml")]
    public void Eval_options_name_the_bad_value(string which, string message)
    {
        var ok = new EvalOptions { Model = "m" };
        if (which is "split" or "format")
        {
            var pair = KeyValuePair.Create(which, which == "split" ? "train" : "json");
            Assert.Contains(message, Assert.Throws<TailorException>(() => RecipeOptions.Load<EvalOptions>(null, [pair])).Message);
            return;
        }
        var bad = which switch
        {
            "none" => new EvalOptions(),
            "imdb-dev" => ok with { Split = EvalSplit.Dev },
            "words" => ok with { MaxInputWords = -1 },
            "task" => ok with { Tasks = "sentiment,poetry" },
            "baseline" => new EvalOptions { Baseline = "magic" },
            _ => ok,
        };
        Assert.Contains(message, Assert.Throws<TailorException>(bad.Validate).Message);
        ok.Validate();
    }

    [Theory]
    [InlineData("profile", "--profile fast: use default, full or smoke")]
    [InlineData("name", "names are letters")]
    [InlineData("twice", "given twice")]
    [InlineData("task", "unknown task 'sentiment-imdb'")]
    [InlineData("steps", "steps and steps_large must be positive")]
    public void Run_options_name_the_bad_value(string which, string message)
    {
        if (which == "profile")
        {
            Assert.Contains(message, Assert.Throws<TailorException>(() => RecipeOptions.Load<RunOptions>(null, [KeyValuePair.Create("profile", "fast")])).Message);
            return;
        }
        var bad = which switch
        {
            "name" => new RunOptions { BaseModels = "my base=models/x" },
            "twice" => new RunOptions { BaseModels = "a=x,a=y" },
            "task" => new RunOptions { Tasks = "sentiment,sentiment-imdb" },
            _ => new RunOptions { Steps = 0 },
        };
        Assert.Contains(message, Assert.Throws<TailorException>(() => bad.Resolve()).Message);
    }

    [Fact]
    public void Bench_default_path_refuses_the_options_it_resolves_itself()
    {
        new Tailor.Recipes.BenchOptions { DefaultPath = true }.Validate();
        foreach (var bad in new[]
                 {
                     new Tailor.Recipes.BenchOptions { DefaultPath = true, MklAvx512 = true },
                     new Tailor.Recipes.BenchOptions { DefaultPath = true, Precision = Tailor.Recipes.BenchPrecision.Fp32 },
                 })
            Assert.Contains("default_path measures the path auto chooses", Assert.Throws<TailorException>(bad.Validate).Message);
    }

    [Fact]
    public void Profiles_fill_only_what_is_unset()
    {
        var d = new RunOptions().Resolve();
        Assert.Equal((300, 3, 300L, 128, false), (d.Limit!.Value, d.Shots!.Value, d.Steps!.Value, d.MaxInputWords!.Value, d.KshotAllBases!.Value));
        var full = new RunOptions { Profile = RunProfileName.Full, Limit = 500 }.Resolve();
        Assert.Equal((500, 0, true), (full.Limit!.Value, full.MaxInputWords!.Value, full.FinetuneAllBases!.Value));
        Assert.Equal([("small", "models/tailor-multi-small")], d.Bases());
        Assert.Equal([("small", "models/tailor-multi-small"), ("base", "models/tailor-base")], full.Bases());
        Assert.Equal([("mine", "x")], new RunOptions { BaseModels = "mine=x" }.Resolve().Bases());
    }
}
