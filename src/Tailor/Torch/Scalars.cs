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

    /// <summary>0.0.</summary>
    public static readonly Scalar Zero = 0.0.ToScalar();

    /// <summary>1e-9: the floor sentence-transformers puts under a mean-pooling token count.</summary>
    public static readonly Scalar Tiny = 1e-9.ToScalar();

    /// <summary>-1e9: what sentence-transformers' max pooling writes over padding before taking the max.</summary>
    public static readonly Scalar MinusLarge = (-1e9).ToScalar();
}
