using Tailor.Formats;
using TorchSharp;
using Xunit.Abstractions;

namespace Tailor.Tests.Formats;

/// <summary>
/// Thousands of mutated and truncated files: the readers reject them with CheckpointFormatException only (never another
/// exception, never a hang) or read them as valid.
/// </summary>
[Collection("TorchSharp")]
public class SafetensorsFuzzTests(ITestOutputHelper output)
{
    private static readonly Type[] FormatErrorsOnly = [typeof(CheckpointFormatException)];

    [Theory]
    [InlineData("mixed.safetensors", SafetensorsReadMode.MemoryMapped, 3000, 1)]
    [InlineData("f32.safetensors", SafetensorsReadMode.Streamed, 1500, 2)]
    [InlineData("bf16.safetensors", SafetensorsReadMode.MemoryMapped, 1500, 3)]
    public void Safetensors_reader_rejects_mutated_files_only_with_CheckpointFormatException(string seed, SafetensorsReadMode mode, int cases, int rngSeed)
    {
        FuzzReport report = ReaderFuzzer.FuzzReader(
            File.ReadAllBytes(FormatFixtures.PathOf(seed)),
            path =>
            {
                using DisposeScope scope = torch.NewDisposeScope();
                Safetensors.Load(path, new SafetensorsReadOptions { Mode = mode });
            },
            FormatErrorsOnly,
            cases,
            rngSeed);

        output.WriteLine(report.ToString());
        Assert.True(report.Rejected > cases / 2, "most mutations should be caught; the mutator may have stopped mutating");
    }

    [Fact]
    public void Sharded_index_reader_rejects_mutated_indexes_only_with_CheckpointFormatException()
    {
        using var temp = new TempFolder();
        foreach (string shard in Directory.GetFiles(FormatFixtures.PathOf("sharded"), "*.safetensors"))
            File.Copy(shard, temp.File(Path.GetFileName(shard)));

        FuzzReport report = ReaderFuzzer.FuzzReader(
            File.ReadAllBytes(FormatFixtures.PathOf("sharded/model.safetensors.index.json")),
            _ =>
            {
                using DisposeScope scope = torch.NewDisposeScope();
                HfCheckpoint.LoadTensors(temp.Path);
            },
            FormatErrorsOnly,
            cases: 1500,
            rngSeed: 4,
            directory: temp.Path,
            fileName: SafetensorsIndex.FileName);

        output.WriteLine(report.ToString());
        Assert.True(report.Accepted > 0 && report.Rejected > 0, "the index fuzz should produce both valid and invalid indexes");
    }

    [Fact]
    public void LoadInto_rejects_mutated_checkpoints_only_with_CheckpointFormatException()
    {
        using var temp = new TempFolder();
        string folder = temp.File("ckpt");
        using (torch.NewDisposeScope())
        {
            torch.manual_seed(5);
            using var model = new TinyLm();
            HfCheckpoint.Save(folder, model, "{}", new HfSaveOptions { Dtype = TorchSharp.torch.ScalarType.BFloat16, FlushToDisk = false });
        }

        byte[] seed = File.ReadAllBytes(Path.Combine(folder, HfCheckpoint.WeightsFile));
        using var target = new TinyLm();
        FuzzReport report = ReaderFuzzer.FuzzReader(
            seed,
            _ =>
            {
                using DisposeScope scope = torch.NewDisposeScope();
                HfCheckpoint.LoadInto(target, folder);
            },
            FormatErrorsOnly,
            cases: 1000,
            rngSeed: 6,
            directory: folder,
            fileName: HfCheckpoint.WeightsFile);

        output.WriteLine(report.ToString());
        Assert.True(report.Rejected > 500);
    }
}
