using System.ComponentModel;
using Tailor.Torch;
using Tailor.Training;

namespace Tailor.Recipes;

/// <summary>Every option of <c>tailor bench</c> (<see cref="Bench"/>), with its default and reason.</summary>
public sealed record BenchOptions
{
    /// <summary>Short runs.</summary>
    [Description("short runs with small batches: a smoke test, not a measurement")]
    public bool Quick { get; set; }

    /// <summary>JSON report.</summary>
    [Description("print the report as JSON on stdout (progress goes to stderr)")]
    public bool Json { get; set; }

    /// <summary>Sections.</summary>
    [Description("comma-separated subset of matmul,train,decode")]
    public string Only { get; set; } = "matmul,train,decode";

    /// <summary>Training precisions.</summary>
    [Description("training precisions to measure: fp32, bf16 or both, side by side in one run (ratios are meaningful within one run only)")]
    public BenchPrecision Precision { get; set; } = BenchPrecision.Both;

    /// <summary>MKL's AVX-512 kernels first.</summary>
    [Description("AMD CPUs: let the bundled oneMKL use its AVX-512 kernels first (see pretrain's mkl_avx512); off by default, as the benchmark measures each path as asked")]
    public bool MklAvx512 { get; set; }

    /// <summary>Malloc tuning first.</summary>
    [Description("keep large blocks in glibc's heap first (see pretrain's malloc_tuning); off by default, as the benchmark measures each path as asked")]
    public bool MallocTuning { get; set; }

    /// <summary>Measure the recipes' default path.</summary>
    [Description("measure the training path that pretrain, finetune, instruct and run take by default (precision, mkl_avx512 and malloc_tuning all on auto, resolved for this machine and named in the log) instead of --precision/--mkl-avx512/--malloc-tuning")]
    public bool DefaultPath { get; set; }

    /// <summary>Device and threads.</summary>
    [OptionGroup]
    public RuntimeOptions Runtime { get; set; } = new();

    /// <summary>The sections of <see cref="Only"/>.</summary>
    public IReadOnlyList<string> Sections() => RecipeOptions.List(Only);

    /// <summary>The precisions of <see cref="Precision"/>.</summary>
    public IReadOnlyList<string> Precisions() => Precision == BenchPrecision.Both ? ["fp32", "bf16"] : [RecipeOptions.Name(Precision)];

    /// <summary>Throws a <see cref="TailorException"/> naming the first bad value.</summary>
    public void Validate()
    {
        string[] all = ["matmul", "train", "decode"];
        if (Sections().Count == 0) throw new TailorException($"only is empty: give a comma-separated subset of {string.Join(",", all)}.");
        foreach (string s in Sections())
            if (!all.Contains(s)) throw new TailorException($"only = {Only}: '{s}' is not one of {string.Join(",", all)}.");
        if (DefaultPath && (MklAvx512 || MallocTuning || Precision != BenchPrecision.Both))
            throw new TailorException("default_path measures the path auto chooses; leave precision, mkl_avx512 and malloc_tuning unset with it.");
        Runtime.Validate();
    }
}

/// <summary>Which training precisions <c>tailor bench</c> measures.</summary>
public enum BenchPrecision
{
    /// <summary>float32 only.</summary>
    Fp32,

    /// <summary>bf16 autocast only.</summary>
    Bf16,

    /// <summary>Both, side by side.</summary>
    Both,
}
