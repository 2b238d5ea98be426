using TorchSharp;

namespace Tailor.Torch;

/// <summary>
/// Guards against the TorchSharp native-handle lifetime bug.
/// <para>
/// TorchSharp passes a <see cref="Scalar"/>'s or <see cref="torch.Tensor"/>'s native handle to libtorch without keeping
/// the managed object alive, so the GC may finalize a temporary (and free its native object) mid-call. The build
/// rewrites TorchSharp.dll so that every native-handle read keeps its object reachable for a while
/// (<c>build/TorchSharpKeepAlive.targets</c>); <see cref="EnsureKeptAlive"/> refuses to run on a TorchSharp.dll that was
/// not rewritten, so the protection cannot silently go missing (a copied binary, a changed build).
/// </para>
/// </summary>
public static class NativeHandles
{
    /// <summary>The type the build's rewrite adds to TorchSharp.dll.</summary>
    public const string KeepAliveType = "TorchSharp.TailorKeepAlive";

    /// <summary>Whether the loaded TorchSharp.dll carries the build's keep-alive rewrite.</summary>
    public static bool AreKeptAlive => typeof(Scalar).Assembly.GetType(KeepAliveType) is not null;

    /// <summary>Throws a <see cref="TailorException"/> naming the loaded file when TorchSharp.dll was not rewritten.</summary>
    public static void EnsureKeptAlive()
    {
        if (AreKeptAlive) return;
        throw new TailorException(
            $"{typeof(Scalar).Assembly.Location} is TorchSharp as published, without Tailor's keep-alive rewrite: with it, " +
            "TorchSharp can free a temporary Scalar or Tensor while libtorch reads it and crash at random. Build Tailor with " +
            "`dotnet build` (build/TorchSharpKeepAlive.targets writes the rewritten copy) instead of copying TorchSharp.dll in.");
    }
}
