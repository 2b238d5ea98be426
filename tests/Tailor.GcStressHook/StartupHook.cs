
// Loaded by the runtime before Main when DOTNET_STARTUP_HOOKS names this assembly; the runtime looks the class up by
// this exact name, in no namespace.
#pragma warning disable CA1050 // The startup-hook contract requires a type named StartupHook in the global namespace.

/// <summary>
/// GC stress for a whole process: a background thread forces a full collection and runs the pending finalizers in a
/// loop, so an object whose native handle is still being read by libtorch — without anything keeping the object alive —
/// is finalized (its native memory freed) during that call. Combined with a small gen-0 budget
/// (<c>DOTNET_GCgen0size=0x10000</c>), a GC lands every few TorchSharp calls on the working thread as well.
/// </summary>
internal static class StartupHook
{
    /// <summary>Called by the runtime.</summary>
    public static void Initialize()
    {
        var thread = new Thread(() =>
        {
            while (true)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Thread.Yield();
            }
        }) { IsBackground = true, Name = "gc-stress" };
        thread.Start();
        Console.Error.WriteLine("gc-stress: forcing collections and finalizers on a background thread");
    }
}
