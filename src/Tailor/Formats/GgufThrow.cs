using System.Diagnostics.CodeAnalysis;

namespace Tailor.Formats;

/// <summary>Throw helpers for GGUF files: every message in one place, each naming the file and saying what to do.</summary>
internal static class GgufThrow
{
    private const string Redo = "The file is truncated, corrupt or not a GGUF file; re-export or re-download it.";

    [DoesNotReturn]
    internal static void NotGguf(string path, string magic) =>
        throw new CheckpointFormatException(path, null, $"starts with '{CheckpointFormatException.Printable(magic)}', not the GGUF magic 'GGUF'. Pass a .gguf file (a Hugging Face folder is read with --model DIR).");

    [DoesNotReturn]
    internal static void Version(string path, uint version) =>
        throw new CheckpointFormatException(path, null, $"is GGUF version {version}; Tailor reads versions 2 and 3. Re-export the file with a current converter.");

    [DoesNotReturn]
    internal static void Truncated(string path, string what, long at, long length) =>
        throw new CheckpointFormatException(path, null, $"{what} at byte {at} runs past the end of the file ({length} bytes). {Redo}");

    [DoesNotReturn]
    internal static void Bad(string path, string what) =>
        throw new CheckpointFormatException(path, null, $"{what}. {Redo}");

    [DoesNotReturn]
    internal static void BadTensor(string path, string name, string what) =>
        throw new CheckpointFormatException(path, name, $"{what}. {Redo}");

    [DoesNotReturn]
    internal static void UnsupportedType(string path, string name, uint type) =>
        throw new CheckpointFormatException(path, name, $"ggml type {type} is not one Tailor reads (F32, F16, BF16, Q8_0). Re-export the model with one of those types.");

    [DoesNotReturn]
    internal static void MissingKey(string path, string key) =>
        throw new CheckpointFormatException(path, null, $"metadata key '{key}' is missing. The file was written for another architecture or by an incomplete converter; re-export it.");

    [DoesNotReturn]
    internal static void WrongValueType(string path, string key, Type expected, object actual) =>
        throw new CheckpointFormatException(path, null, $"metadata key '{key}' holds a {actual.GetType().Name}, not a {expected.Name}. Re-export the file.");
}
