using System.Diagnostics.CodeAnalysis;

namespace Tailor.Formats;

/// <summary>Throw helpers for the checkpoint formats: every message in one place, each saying what to do next.</summary>
internal static class FormatThrow
{
    [DoesNotReturn]
    internal static void File(string path, string problem, Exception? inner = null) =>
        throw new CheckpointFormatException(path, null, problem, inner);

    [DoesNotReturn]
    internal static void Tensor(string path, string name, string problem, Exception? inner = null) =>
        throw new CheckpointFormatException(path, name, problem, inner);

    [DoesNotReturn]
    internal static void TruncatedPrefix(string path, long fileLength) =>
        File(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length that starts every safetensors file. The file is truncated or empty; re-download or re-save it.");

    [DoesNotReturn]
    internal static void HeaderBeyondFile(string path, ulong headerLength, long fileLength) =>
        File(path, $"the header length field says {headerLength} bytes but the file has only {fileLength - SafetensorsHeaderParser.LengthPrefixBytes} bytes after it. The file is truncated or not a safetensors file; re-download or re-save it.");

    [DoesNotReturn]
    internal static void HeaderTooLarge(string path, ulong headerLength) =>
        File(path, $"the header length field says {headerLength} bytes, above the {SafetensorsHeaderParser.MaxHeaderBytes}-byte limit of the format. The file is corrupt or not a safetensors file.");

    [DoesNotReturn]
    internal static void BadHeader(string path, string problem, Exception? inner) =>
        File(path, $"{problem}. The header is corrupt or this is not a safetensors file; re-download or re-save it.", inner);

    [DoesNotReturn]
    internal static void UnknownDtype(string path, string name, string dtype) =>
        Tensor(path, name, SafetensorsDtypes.IsKnownButUnsupported(dtype)
            ? $"dtype {dtype} is valid safetensors but Tailor cannot read it (supported: {SafetensorsDtypes.SupportedNames}). Convert the checkpoint to F32, F16 or BF16 first."
            : $"unknown dtype '{CheckpointFormatException.Printable(dtype)}' (supported: {SafetensorsDtypes.SupportedNames}). The file is corrupt or from an incompatible writer.");

    [DoesNotReturn]
    internal static void Missing(string path, string name) =>
        Tensor(path, name, "the model needs this tensor but the checkpoint does not have it. The checkpoint was saved for a different architecture or config; check config.json against the model you build.");

    [DoesNotReturn]
    internal static void Unexpected(string path, string name) =>
        Tensor(path, name, "the checkpoint has this tensor but the model has no parameter or buffer of that name. The checkpoint was saved for a different architecture or config; check config.json against the model you build.");

    [DoesNotReturn]
    internal static void ShapeMismatch(string path, string name, IEnumerable<long> inFile, IEnumerable<long> expected) =>
        Tensor(path, name, $"shape {SafetensorsTensorInfo.FormatShape(inFile)} in the file but the model expects {SafetensorsTensorInfo.FormatShape(expected)}. The checkpoint's config.json and the model's config disagree (hidden size, vocab size, layers?); build the model from the checkpoint's own config.json.");
}
