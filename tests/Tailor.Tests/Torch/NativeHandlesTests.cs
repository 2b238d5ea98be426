using System.Runtime.CompilerServices;
using Tailor.Torch;
using TorchSharp;

namespace Tailor.Tests.Torch;

/// <summary>The build's keep-alive rewrite of TorchSharp.dll (build/TorchSharpKeepAlive.targets), checked directly.</summary>
[Collection("TorchSharp")]
public class NativeHandlesTests
{
    [Fact]
    public void The_loaded_TorchSharp_carries_the_keep_alive_rewrite()
    {
        Assert.True(NativeHandles.AreKeptAlive, typeof(Scalar).Assembly.Location + " was not rewritten");
        NativeHandles.EnsureKeptAlive();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference ScalarPassedToLibtorch()
    {
        var scalar = 2.5.ToScalar();                // nothing but this frame refers to it
        using var ones = torch.ones(3);
        using var product = ones.mul(scalar);       // its native handle goes to libtorch
        Assert.Equal(7.5f, product.sum().item<float>());
        return new WeakReference(scalar);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference ScalarNeverPassed() => new(2.5.ToScalar());

    [Fact]
    public void A_scalar_whose_handle_went_to_libtorch_outlives_its_last_reference_for_a_while()
    {
        var passed = ScalarPassedToLibtorch();
        var unused = ScalarNeverPassed();
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.True(passed.IsAlive, "a Scalar was collected right after its handle was read: the rewrite is not in effect");
        Assert.False(unused.IsAlive, "a Scalar nobody read survived collection: this test cannot tell anything apart");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference TensorPassedToLibtorch()
    {
        var temporary = torch.ones(4);              // outside any dispose scope, as a temporary would be
        using var doubled = temporary.add(temporary);
        return new WeakReference(temporary);
    }

    [Fact]
    public void A_temporary_tensor_is_kept_alive_the_same_way_and_later_released()
    {
        var weak = TensorPassedToLibtorch();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.True(weak.IsAlive);
        // 256 more native-handle reads on this thread push it out of the ring; then it is collectable again.
        using var x = torch.zeros(1);
        for (int i = 0; i < 300; i++) { using var y = x.neg(); }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(weak.IsAlive, "the ring keeps objects longer than its 256 reads");
    }
}
