using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;

namespace Tailor.Formats;

/// <summary>
/// Parses and validates a safetensors header: 8-byte little-endian length N, then N bytes of UTF-8 JSON
/// <c>{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>.
/// </summary>
internal static class SafetensorsHeaderParser
{
    /// <summary>Size of the length prefix.</summary>
    internal const int LengthPrefixBytes = 8;

    /// <summary>
    /// Largest header we accept. The same limit as huggingface/safetensors (<c>MAX_HEADER_SIZE</c>); it keeps a corrupt
    /// length field from turning into a giant allocation.
    /// </summary>
    internal const long MaxHeaderBytes = 100_000_000;

    internal const string MetadataKey = "__metadata__";

    private static readonly JsonDocumentOptions JsonOptions = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 16,
    };

    /// <summary>Reads N from the 8-byte prefix and checks it against the file before anything is allocated.</summary>
    internal static long ReadHeaderLength(string path, ReadOnlySpan<byte> prefix, long fileLength)
    {
        if (fileLength < LengthPrefixBytes)
            FormatThrow.TruncatedPrefix(path, fileLength);

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > (ulong)(fileLength - LengthPrefixBytes))
            FormatThrow.HeaderBeyondFile(path, n, fileLength);
        if (n > MaxHeaderBytes)
            FormatThrow.HeaderTooLarge(path, n);
        if (n == 0)
            FormatThrow.BadHeader(path, "the header length is 0, so there is no JSON header", null);

        return (long)n;
    }

    /// <summary>Parses the JSON header and validates every entry against the data buffer that follows it.</summary>
    internal static SafetensorsHeader Parse(string path, ReadOnlyMemory<byte> json, long fileLength)
    {
        long dataStart = LengthPrefixBytes + json.Length;
        long dataLength = fileLength - dataStart;

        // The JSON reader checks UTF-8 only lazily (string reads would throw InvalidOperationException); check it up front.
        if (!Utf8.IsValid(json.Span))
            FormatThrow.BadHeader(path, "the header is not valid UTF-8", null);

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, JsonOptions);
        }
        catch (JsonException e)
        {
            FormatThrow.BadHeader(path, $"the header is not valid JSON ({e.Message})", e);
            throw; // unreachable
        }

        using (document)
        {
            try
            {
                return Parse(path, document.RootElement, dataStart, dataLength);
            }
            catch (InvalidOperationException e)
            {
                // JsonDocument parses escapes lazily: a lone surrogate such as "\ud800" only fails when a string is read.
                FormatThrow.BadHeader(path, $"the header holds a string that is not valid Unicode ({e.Message})", e);
                throw; // unreachable
            }
        }
    }

    private static SafetensorsHeader Parse(string path, JsonElement root, long dataStart, long dataLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
            FormatThrow.BadHeader(path, $"the header must be a JSON object but is a {root.ValueKind}", null);

        IReadOnlyDictionary<string, string>? metadata = null;
        var tensors = new List<SafetensorsTensorInfo>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
                FormatThrow.Tensor(path, property.Name, "the name appears twice in the header. Re-save the checkpoint; a valid file lists each tensor once.");

            if (property.Name == MetadataKey)
                metadata = ParseMetadata(path, property.Value);
            else
                tensors.Add(ParseEntry(path, property.Name, property.Value));
        }

        ValidateCoverage(path, tensors, dataLength);
        return new SafetensorsHeader(tensors, metadata, dataStart, dataLength);
    }

    private static Dictionary<string, string>? ParseMetadata(string path, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.Object)
            FormatThrow.BadHeader(path, $"\"{MetadataKey}\" must be an object of strings but is a {value.ValueKind}", null);

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                FormatThrow.BadHeader(path, $"\"{MetadataKey}\" entry '{CheckpointFormatException.Printable(entry.Name)}' must be a string but is a {entry.Value.ValueKind}", null);
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                FormatThrow.BadHeader(path, $"\"{MetadataKey}\" lists '{CheckpointFormatException.Printable(entry.Name)}' twice", null);
        }

        return metadata;
    }

    private static SafetensorsTensorInfo ParseEntry(string path, string name, JsonElement entry)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            FormatThrow.Tensor(path, name, $"the header entry must be an object with dtype, shape and data_offsets but is a {entry.ValueKind}. The file is corrupt; re-save or re-download it.");

        if (!entry.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            FormatThrow.Tensor(path, name, "the header entry has no string \"dtype\". The file is corrupt; re-save or re-download it.");
        if (!entry.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            FormatThrow.Tensor(path, name, "the header entry has no array \"shape\". The file is corrupt; re-save or re-download it.");
        if (!entry.TryGetProperty("data_offsets", out JsonElement offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array)
            FormatThrow.Tensor(path, name, "the header entry has no array \"data_offsets\". The file is corrupt; re-save or re-download it.");

        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDtypes.TryGet(dtypeName, out SafetensorsDtypes.Dtype dtype))
            FormatThrow.UnknownDtype(path, name, dtypeName);

        int rank = shapeElement.GetArrayLength();
        var shape = new long[rank];
        long elements = 1;
        int i = 0;
        foreach (JsonElement dimension in shapeElement.EnumerateArray())
        {
            long size = -1;
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out size) || size < 0)
                FormatThrow.Tensor(path, name, $"shape entry {i} ({CheckpointFormatException.Printable(dimension.GetRawText())}) is not a non-negative integer. The file is corrupt; re-save or re-download it.");
            shape[i++] = size;
            if (!TryMultiply(elements, size, out elements))
                FormatThrow.Tensor(path, name, $"shape {SafetensorsTensorInfo.FormatShape(shape[..i])}... overflows a 64-bit element count. The file is corrupt; re-save or re-download it.");
        }

        if (!TryMultiply(elements, dtype.ElementSize, out long byteLength))
            FormatThrow.Tensor(path, name, $"shape {SafetensorsTensorInfo.FormatShape(shape)} of {dtype.Name} overflows a 64-bit byte count. The file is corrupt; re-save or re-download it.");

        if (offsetsElement.GetArrayLength() != 2)
            FormatThrow.Tensor(path, name, $"\"data_offsets\" must hold exactly [begin, end] but has {offsetsElement.GetArrayLength()} entries. The file is corrupt; re-save or re-download it.");
        long begin = ReadOffset(path, name, offsetsElement[0]);
        long end = ReadOffset(path, name, offsetsElement[1]);
        if (end < begin)
            FormatThrow.Tensor(path, name, $"data_offsets [{begin}, {end}] end before they begin. The file is corrupt; re-save or re-download it.");
        if (end - begin != byteLength)
            FormatThrow.Tensor(path, name, $"data_offsets [{begin}, {end}] span {end - begin} bytes but {dtype.Name} {SafetensorsTensorInfo.FormatShape(shape)} needs {byteLength}. The header contradicts itself; re-save the checkpoint.");

        return new SafetensorsTensorInfo(name, dtype.Name, dtype.Type, shape, begin, end);
    }

    private static long ReadOffset(string path, string name, JsonElement element)
    {
        long offset = -1;
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out offset) || offset < 0)
            FormatThrow.Tensor(path, name, $"data offset {CheckpointFormatException.Printable(element.GetRawText())} is not a non-negative integer. The file is corrupt; re-save or re-download it.");
        return offset;
    }

    /// <summary>
    /// The tensors must tile the data buffer: sorted by offset, each starts where the previous one ended, the first at 0
    /// and the last at the end of the file. Anything else means a corrupt header, a truncated download or stray bytes.
    /// </summary>
    private static void ValidateCoverage(string path, List<SafetensorsTensorInfo> tensors, long dataLength)
    {
        tensors.Sort(static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        SafetensorsTensorInfo? previous = null;
        foreach (SafetensorsTensorInfo tensor in tensors)
        {
            if (tensor.Begin > expected)
                FormatThrow.Tensor(path, tensor.Name, $"data_offsets [{tensor.Begin}, {tensor.End}] leave a hole of {tensor.Begin - expected} bytes after byte {expected} of the data buffer. The header is corrupt; re-save the checkpoint.");
            if (tensor.Begin < expected)
                FormatThrow.Tensor(path, tensor.Name, $"data_offsets [{tensor.Begin}, {tensor.End}] overlap tensor '{CheckpointFormatException.Printable(previous!.Name)}' [{previous.Begin}, {previous.End}]. The header is corrupt; re-save the checkpoint.");
            if (tensor.End > dataLength)
                FormatThrow.Tensor(path, tensor.Name, $"data_offsets [{tensor.Begin}, {tensor.End}] run past the end of the data buffer ({dataLength} bytes). The file is truncated; re-download or re-save it.");
            expected = tensor.End;
            previous = tensor;
        }

        if (expected != dataLength)
            FormatThrow.File(path, $"the data buffer has {dataLength - expected} bytes after the last tensor that no tensor covers. The file is corrupt or was appended to; re-save or re-download it.");
    }

    /// <summary>Multiplies two non-negative counts, reporting overflow instead of wrapping.</summary>
    private static bool TryMultiply(long a, long b, out long product)
    {
        if (a != 0 && b > long.MaxValue / a)
        {
            product = 0;
            return false;
        }

        product = a * b;
        return true;
    }
}
