using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Tailor.Torch;

/// <summary>
/// bf16 autocast on the CPU: inside a scope, matmul-heavy ops run in bfloat16 (oneDNN's AVX-512 BF16 path, ~4x the
/// fp32 rate here) while weights, optimizer state, norms and the loss stay fp32. TorchSharp 0.107 has no autocast API,
/// so this calls libtorch's exported <c>at::autocast</c> functions directly. The weight-cast cache is cleared when the
/// scope ends, as PyTorch's autocast context does; without that, later forwards would see stale bf16 weights.
/// </summary>
public sealed unsafe class Autocast : IDisposable
{
    private static readonly Lazy<Api?> Functions = new(Bind);
    private readonly bool _enabled;

    private Autocast(bool enabled) => _enabled = enabled;

    /// <summary>Whether libtorch exposes the functions (true for the libtorch 2.10 CPU build Tailor references).</summary>
    public static bool IsAvailable => Functions.Value is not null;

    /// <summary>
    /// Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX): only then is autocast faster than fp32. On an
    /// AVX2-only CPU (Zen 3, say) libtorch emulates bf16 matmuls and they run 10-70x slower than fp32.
    /// </summary>
    public static bool CpuHasNativeBf16 => CpuFeatures.Avx512Bf16 || CpuFeatures.AmxBf16;

    /// <summary>Enters a bf16 autocast region for the CPU when <paramref name="enabled"/>; dispose to leave it.</summary>
    public static Autocast Bf16(bool enabled = true)
    {
        if (!enabled) return new Autocast(false);
        var api = Functions.Value ?? throw new TailorException(
            "bf16 autocast needs libtorch's at::autocast functions, which this libtorch build does not export; use precision fp32.");
        api.SetDtype(0 /* DeviceType::CPU */, 15 /* ScalarType::BFloat16 */);
        api.SetEnabled(0, 1);
        return new Autocast(true);
    }

    /// <summary>Leaves the region and drops the cached bf16 copies of the weights.</summary>
    public void Dispose()
    {
        if (!_enabled) return;
        var api = Functions.Value!;
        api.SetEnabled(0, 0);
        api.ClearCache();
    }

    private sealed class Api(nint setEnabled, nint setDtype, nint clearCache)
    {
        public void SetEnabled(sbyte device, byte on) => ((delegate* unmanaged<sbyte, byte, void>)setEnabled)(device, on);

        public void SetDtype(sbyte device, sbyte dtype) => ((delegate* unmanaged<sbyte, sbyte, void>)setDtype)(device, dtype);

        public void ClearCache() => ((delegate* unmanaged<void>)clearCache)();
    }

    private static Api? Bind()
    {
        _ = ones(1);   // make sure TorchSharp has loaded libtorch_cpu
        foreach (string name in new[] { "libtorch_cpu.so", "libtorch_cpu" })
        {
            if (!NativeLibrary.TryLoad(name, typeof(TorchSharp.torch).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories, out nint lib)
                && !NativeLibrary.TryLoad(name, out lib))
                continue;
            if (NativeLibrary.TryGetExport(lib, "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb", out nint enabled)
                && NativeLibrary.TryGetExport(lib, "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE", out nint dtype)
                && NativeLibrary.TryGetExport(lib, "_ZN2at8autocast11clear_cacheEv", out nint clear))
            {
                return new Api(enabled, dtype, clear);
            }
        }
        return null;
    }
}
