using TorchSharp;

namespace Tailor.Torch;

/// <summary>
/// Scalars kept alive for the whole process. TorchSharp hands a <see cref="Scalar"/>'s native handle to libtorch without
/// keeping the managed object alive, so a temporary Scalar — an implicit <c>double → Scalar</c>, or the default
/// <c>alpha = 1</c> of <c>add_</c> — can be finalized while the native call still reads it (a use-after-free that shows
/// up as "Expected false to be true" from <c>c10::Scalar::toFloat</c>, or an internal assert in <c>Scalar::equal</c> under
/// <c>pow</c>, which TorchSharp's <c>square()</c> calls with a temporary 2). The build's rewrite of TorchSharp.dll
/// (<see cref="NativeHandles"/>) closes that hole for every call; a held Scalar still saves an allocation per call on
/// hot paths.
/// </summary>
public static class Scalars
{
    /// <summary>1.0.</summary>
    public static readonly Scalar One = 1.0.ToScalar();
}
