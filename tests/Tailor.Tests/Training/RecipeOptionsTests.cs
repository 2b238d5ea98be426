using Tailor.Evaluation.Statistics;
using Tailor.Pipeline;
using Tailor.Training;

namespace Tailor.Tests.Training;

/// <summary>The loader every training command uses: defaults, then a recipe file, then --key overrides; and the shipped recipes.</summary>
public sealed class RecipeOptionsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-options-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Nothing_given_leaves_the_records_own_defaults()
    {
        var loaded = RecipeOptions.Load<PretrainOptions>(null, []);
        Assert.Equal(RecipeOptions.ToJson(new PretrainOptions()), RecipeOptions.ToJson(loaded));
    }

    [Fact]
    public void A_yaml_file_sets_what_it_lists_and_overrides_win_over_it()
    {
        string file = Write("r.yaml", "# a comment\npreset: tiny   # trailing comment\nlearning_rate: 0.002\noutput: \"runs/x y\"\nmax_steps: 7\n");
        var o = RecipeOptions.Load<PretrainOptions>(file, [KeyValuePair.Create("max-steps", "9")]);
        Assert.Equal("tiny", o.Preset);
        Assert.Equal(0.002, o.LearningRate);
        Assert.Equal("runs/x y", o.Output);
        Assert.Equal(9, o.MaxSteps);
        Assert.Equal(new PretrainOptions().WarmupSteps, o.WarmupSteps);
    }

    [Fact]
    public void A_json_file_is_read_as_an_object_of_options()
    {
        string file = Write("r.json", "{\"preset\": \"tiny\", \"max_steps\": 11, \"tokenizer\": null}");
        var o = RecipeOptions.Load<PretrainOptions>(file, []);
        Assert.Equal(11, o.MaxSteps);
        Assert.Null(o.Tokenizer);
    }

    [Theory]
    [InlineData("r.yaml", "preset: tiny\nlerning_rate: 0.1\n", "r.yaml:2: unknown option 'lerning_rate'")]
    [InlineData("r.yaml", "max_steps: many\n", "r.yaml:1: max_steps = 'many' is not a valid whole number")]
    [InlineData("r.yaml", "just words\n", "r.yaml:1: expected 'key: value'")]
    [InlineData("r.yaml", "learning_rate: NaN\n", "learning_rate = 'NaN' is not a valid number")]
    [InlineData("r.json", "{\"max_steps\": [1]}", "option 'max_steps' must be a single value")]
    [InlineData("r.json", "{\"max_steps\": ", "r.json:1: not valid JSON")]
    public void A_bad_recipe_file_is_refused_naming_the_file_line_and_option(string name, string text, string expected)
    {
        string file = Write(name, text);
        var e = Assert.Throws<TailorException>(() => RecipeOptions.Load<PretrainOptions>(file, []));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_override_names_the_flag()
    {
        var e = Assert.Throws<TailorException>(() => RecipeOptions.Load<TuneOptions>(null, [KeyValuePair.Create("lora-rank", "four")]));
        Assert.Contains("--lora-rank", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<TailorException>(() => RecipeOptions.Load<TuneOptions>(null, [KeyValuePair.Create("max_steps", "null")]));
        Assert.Contains("cannot be null", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_recipe_file_is_refused()
    {
        var e = Assert.Throws<TailorException>(() => RecipeOptions.Load<PretrainOptions>(Path.Combine(_dir, "nope.yaml"), []));
        Assert.Contains("recipe file not found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_option_has_a_reason_and_the_json_round_trips_through_the_loader()
    {
        foreach (string key in RecipeOptions.Keys<TuneOptions>()) Assert.False(string.IsNullOrWhiteSpace(RecipeOptions.Reason<TuneOptions>(key)), key);
        var o = new TuneOptions { MaxSteps = 5, LoraRank = 4, Lora = true, Pool = "vague" };
        string json = Write("t.json", RecipeOptions.ToJson(o));
        Assert.Equal(RecipeOptions.ToJson(o), RecipeOptions.ToJson(RecipeOptions.Load<TuneOptions>(json, [])));
    }

    [Fact]
    public void Comma_lists_drop_blanks_and_spaces()
    {
        Assert.Equal(["a", "b", "c"], RecipeOptions.List(" a, b,,c ,"));
        Assert.Empty(RecipeOptions.List(null));
    }

    [Fact]
    public void Every_shipped_recipe_file_loads_and_validates()
    {
        string recipes = Path.Combine(RepoRoot(), "recipes");
        var files = Directory.GetFiles(recipes, "*.yaml");
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            Assert.StartsWith("pretrain-", Path.GetFileName(file), StringComparison.Ordinal);   // a new kind of recipe needs its type here
            var o = RecipeOptions.Load<PretrainOptions>(file, []);
            o.Validate();
        }
    }

    [Fact]
    public void The_resample_range_is_one_for_every_command()
    {
        Assert.Throws<TailorException>(() => new RunOptions { Resamples = 99 }.Resolve());
        Assert.Throws<TailorException>(() => new BootstrapOptions(99).Validate());
        new BootstrapOptions(100).Validate();
        Assert.Equal(100, new RunOptions { Resamples = 100 }.Resolve().Resamples);
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Tailor.slnx"))) return dir.FullName;
        throw new InvalidOperationException("the repository root (Tailor.slnx) is not above the test binaries.");
    }
}
