using TorchSharp;

namespace Tailor.Tests;

[Collection("TorchSharp")]
public class NativeLibraryTests
{
    [Fact]
    public void TorchSharp_native_library_loads_and_computes()
    {
        using var x = torch.arange(6, dtype: torch.float32);
        Assert.Equal(15f, x.sum().item<float>());
    }
}
