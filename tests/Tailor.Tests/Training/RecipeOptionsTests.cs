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
        Assert.Equal(0.002, o.Optimizer.LearningRate);
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
    [InlineData("r.yaml", "max_steps: many\n", "r.yaml:1: max_steps = 'many': not a valid whole number")]
    [InlineData("r.yaml", "just words\n", "r.yaml:1: expected 'key: value'")]
    [InlineData("r.yaml", "learning_rate: NaN\n", "learning_rate = 'NaN': not a valid number")]
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
        var o = new TuneOptions { MaxSteps = 5, Adapter = new() { Rank = 4 }, Lora = true, Pool = Tailor.Data.Instructions.TemplatePool.Vague };
        string json = Write("t.json", RecipeOptions.ToJson(o));
        Assert.Equal(RecipeOptions.ToJson(o), RecipeOptions.ToJson(RecipeOptions.Load<TuneOptions>(json, [])));
    }

    [Fact]
    public void A_group_reads_as_the_owners_own_keys_and_loading_into_a_copy_leaves_the_original_alone()
    {
        var keys = RecipeOptions.Keys<TuneOptions>();
        foreach (string key in (string[])["learning_rate", "weight_decay", "beta1", "beta2", "grad_clip", "lora_rank", "lora_alpha", "lora_dropout",
                                          "lora_targets", "precision", "mkl_avx512", "malloc_tuning", "device", "threads"])
            Assert.Contains(key, keys);
        Assert.Equal(keys.Count, keys.Distinct().Count());

        var original = new TuneOptions();
        var copy = RecipeOptions.Load(null, [KeyValuePair.Create("lora-rank", "4"), KeyValuePair.Create("threads", "1"), KeyValuePair.Create("learning_rate", "0.002")],
            original with { });
        Assert.Equal((4, 1, 0.002), (copy.Adapter.Rank, copy.Runtime.Threads!.Value, copy.Optimizer.LearningRate));
        Assert.Equal((16, (int?)null, 5e-4), (original.Adapter.Rank, original.Runtime.Threads, original.Optimizer.LearningRate));
    }

    [Fact]
    public void Enum_options_take_snake_case_names_and_print_and_save_them_that_way()
    {
        var o = RecipeOptions.Load<TuneOptions>(null, [KeyValuePair.Create("truncation", "drop"), KeyValuePair.Create("precision", "bf16")]);
        Assert.Equal((Tailor.Data.Instructions.TruncationPolicy.Drop, Tailor.Torch.Precision.Bf16), (o.Truncation, o.Speed.Precision));
        Assert.Contains("\"truncation\": \"drop\"", RecipeOptions.ToJson(o), StringComparison.Ordinal);
        Assert.Contains("precision = bf16", RecipeOptions.Describe(o), StringComparison.Ordinal);
        var e = Assert.Throws<TailorException>(() => RecipeOptions.Load<TuneOptions>(null, [KeyValuePair.Create("truncation", "Drop")]));
        Assert.Equal("--truncation Drop: use drop or truncate_prompt_left.", e.Message);
    }

    [Fact]
    public void A_bad_group_value_is_refused_by_the_groups_one_validator_before_anything_runs()
    {
        Assert.Equal("lora_rank = 0: must be a positive integer (typically 8 to 64).",
            Assert.Throws<TailorException>(() => new TuneOptions { Adapter = new() { Rank = 0 } }.Validate()).Message);
        Assert.Equal("lora_rank = 0: must be a positive integer (typically 8 to 64).",
            Assert.Throws<TailorException>(() => new EncoderTuneOptions { Adapter = new() { Rank = 0 } }.Validate()).Message);
        Assert.Contains("'q_prj'", Assert.Throws<TailorException>(() => new TuneOptions { Lora = true, Adapter = new() { Targets = "q_prj" } }.Validate()).Message, StringComparison.Ordinal);
        Assert.Equal("beta2 = 1: must be in [0, 1).",
            Assert.Throws<TailorException>(() => new PretrainOptions { Optimizer = new() { LearningRate = 1e-3, WeightDecay = 0.1, Beta2 = 1 } }.Validate()).Message);
        Assert.Equal("device = gpu: use cpu, cuda or cuda:N.",
            Assert.Throws<TailorException>(() => new Tailor.Evaluation.EvalOptions { Model = "m", Runtime = new() { Device = "gpu" } }.Validate()).Message);
    }

    [Fact]
    public void Lora_has_one_set_of_defaults_for_the_options_and_the_adapter_config()
    {
        var config = new Tailor.Lora.LoraConfig();
        var options = new Tailor.Lora.LoraOptions();
        Assert.Equal((options.Rank, options.Alpha, options.Dropout), (config.Rank, config.Alpha, config.Dropout));
        Assert.Equal(options.TargetList(), config.TargetModules);
        Assert.Equal(options, new TuneOptions().Adapter);
        Assert.Equal(options, new EncoderTuneOptions().Adapter);
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
