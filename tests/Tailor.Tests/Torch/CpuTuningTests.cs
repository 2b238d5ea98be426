using Tailor.Torch;
using TorchSharp;

namespace Tailor.Tests.Torch;

/// <summary>
/// The malloc tuning of the training path lasts as long as the path (the training loop), not the process: a process
/// that trains and then evaluates (the main job) must get glibc's defaults, and the freed heap, back.
/// </summary>
[Collection("TorchSharp")]
public class CpuTuningTests
{
    [Fact]
    public void The_malloc_tuning_ends_when_the_training_path_is_disposed()
    {
        if (!OperatingSystem.IsLinux()) return;
        var speed = new CpuSpeedOptions { Precision = Precision.Fp32, MklAvx512 = Toggle.False, MallocTuning = Toggle.True };
        using (var path = CpuTuning.Choose(speed, torch.CPU, _ => { }))
        {
            Assert.True(path.MallocTuning);
            Assert.True(CpuTuning.MallocTuned);
        }
        Assert.False(CpuTuning.MallocTuned);
    }
}
