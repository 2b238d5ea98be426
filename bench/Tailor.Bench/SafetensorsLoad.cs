using BenchmarkDotNet.Attributes;
using Tailor.Formats;
using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Bench;

/// <summary>Loading the base shape (~17M parameters, 69 MB f32) from the page cache, both read modes.</summary>
[MemoryDiagnoser]
public class SafetensorsLoad
{
    private string _folder = "";
    private LlamaForCausalLM? _model;

    [Params(SafetensorsReadMode.MemoryMapped, SafetensorsReadMode.Streamed)]
    public SafetensorsReadMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("tailor-bench-").FullName;
        var config = LlamaConfig.Preset("base", 8192);
        _model = LlamaForCausalLM.FromConfig(config);
        HfCheckpoint.Save(_folder, _model, config.ToJson(), new HfSaveOptions { TiedEmbeddings = true, FlushToDisk = false });
    }

    [Benchmark]
    public void LoadInto() => HfCheckpoint.LoadInto(_model!, _folder, tiedEmbeddings: true, Mode);

    [Benchmark]
    public void LoadTensors()
    {
        using var scope = NewDisposeScope();
        HfCheckpoint.LoadTensors(_folder, Mode);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model?.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
