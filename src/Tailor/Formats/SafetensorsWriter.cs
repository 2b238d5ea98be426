using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Formats;

/// <summary>
/// Writes safetensors files laid out exactly as huggingface/safetensors lays them out (safetensors/src/tensor.rs,
/// <c>prepare</c> and <c>serialize</c>), so that a file we write is byte-identical to one the reference writes:
/// tensors ordered by descending dtype alignment then by name (byte order of the UTF-8 names), compact JSON with
/// <c>__metadata__</c> first and the keys <c>dtype</c>, <c>shape</c>, <c>data_offsets</c> in that order, the header
/// padded with spaces to a multiple of 8 bytes so every tensor starts aligned.
/// </summary>
internal static class SafetensorsWriter
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private sealed record Entry(string Name, byte[] Utf8Name, Tensor Tensor, SafetensorsDtypes.Dtype Dtype, long[] Shape, long ByteLength)
    {
        public long Begin { get; set; }
    }

    internal static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, SafetensorsWriteOptions options)
    {
        List<Entry> entries = Plan(tensors, options.Dtype);
        byte[] header = HeaderBytes(entries, options.Metadata);
        long total = SafetensorsHeaderParser.LengthPrefixBytes + header.Length + entries.Sum(e => e.ByteLength);

        // Write beside the target and rename over it: an existing file is never truncated under a reader that has it
        // mapped, and a crash leaves the old file intact (the reference writer does the same).
        string fullPath = Path.GetFullPath(path);
        TemporaryFiles.DeleteLeftovers(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.tmp-", "");
        string temp = Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.tmp-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 1 << 20,
                PreallocationSize = total,
            }))
            {
                Span<byte> prefix = stackalloc byte[SafetensorsHeaderParser.LengthPrefixBytes];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                foreach (Entry entry in entries)
                    WriteTensor(stream, entry);

                if (stream.Length != total)
                    throw new InvalidOperationException($"{path}: wrote {stream.Length} bytes but planned {total}; a tensor changed while it was being saved.");
                stream.Flush(flushToDisk: options.FlushToDisk);
            }

            System.IO.File.Move(temp, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static List<Entry> Plan(IReadOnlyDictionary<string, Tensor> tensors, ScalarType? convertFloatsTo)
    {
        if (convertFloatsTo is { } target && target is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"Dtype must be Float32, Float16 or BFloat16 to store floating-point weights, not {target}.", nameof(convertFloatsTo));

        var entries = new List<Entry>(tensors.Count);
        foreach ((string name, Tensor tensor) in tensors)
        {
            ArgumentNullException.ThrowIfNull(tensor, name);
            if (name.Length == 0 || name == SafetensorsHeaderParser.MetadataKey)
                throw new ArgumentException($"'{name}' cannot be a tensor name in a safetensors file.", nameof(tensors));

            ScalarType type = convertFloatsTo is { } to && torch.is_floating_point(tensor) ? to : tensor.dtype;
            if (!SafetensorsDtypes.TryGet(type, out SafetensorsDtypes.Dtype dtype))
                throw new ArgumentException($"Tensor '{name}' has dtype {type}, which the safetensors writer does not store (supported: {SafetensorsDtypes.SupportedNames}).", nameof(tensors));

            byte[] utf8Name;
            try
            {
                utf8Name = StrictUtf8.GetBytes(name);
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException($"Tensor name '{CheckpointFormatException.Printable(name)}' is not valid Unicode.", nameof(tensors), e);
            }

            entries.Add(new Entry(name, utf8Name, tensor, dtype, tensor.shape, tensor.NumberOfElements * dtype.ElementSize));
        }

        entries.Sort(static (a, b) =>
            a.Dtype.AlignmentRank != b.Dtype.AlignmentRank
                ? b.Dtype.AlignmentRank.CompareTo(a.Dtype.AlignmentRank)
                : a.Utf8Name.AsSpan().SequenceCompareTo(b.Utf8Name));

        long offset = 0;
        foreach (Entry entry in entries)
        {
            entry.Begin = offset;
            offset += entry.ByteLength;
        }

        return entries;
    }

    private static byte[] HeaderBytes(List<Entry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder(64 + (entries.Count * 96));
        json.Append('{');
        bool first = true;
        if (metadata is not null)
        {
            AppendString(json, SafetensorsHeaderParser.MetadataKey);
            json.Append(":{");
            bool firstPair = true;
            foreach ((string key, string value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (!firstPair)
                    json.Append(',');
                firstPair = false;
                AppendString(json, key);
                json.Append(':');
                AppendString(json, value);
            }

            json.Append('}');
            first = false;
        }

        foreach (Entry entry in entries)
        {
            if (!first)
                json.Append(',');
            first = false;
            AppendString(json, entry.Name);
            json.Append(CultureInfo.InvariantCulture, $":{{\"dtype\":\"{entry.Dtype.Name}\",\"shape\":[{string.Join(',', entry.Shape)}],\"data_offsets\":[{entry.Begin},{entry.Begin + entry.ByteLength}]}}");
        }

        json.Append('}');
        byte[] unpadded = StrictUtf8.GetBytes(json.ToString());
        int padded = (unpadded.Length + 7) / 8 * 8;
        if (padded > SafetensorsHeaderParser.MaxHeaderBytes)
            throw new ArgumentException($"The safetensors header would be {padded} bytes, above the format's {SafetensorsHeaderParser.MaxHeaderBytes}-byte limit; save fewer tensors per file or less metadata.");

        var bytes = new byte[padded];
        unpadded.CopyTo(bytes, 0);
        bytes.AsSpan(unpadded.Length).Fill((byte)' ');
        return bytes;
    }

    /// <summary>Appends a JSON string escaped as serde_json escapes it (so names with odd characters still match byte for byte).</summary>
    private static void AppendString(StringBuilder json, string text)
    {
        json.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case < ' ': json.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"); break;
                default: json.Append(c); break;
            }
        }

        json.Append('"');
    }

    private static void WriteTensor(FileStream stream, Entry entry)
    {
        // The conversions below create temporaries only when needed; the scope frees them, never the caller's tensor.
        using DisposeScope scope = torch.NewDisposeScope();
        using IDisposable noGrad = torch.no_grad();
        Tensor tensor = entry.Tensor;
        if (tensor.dtype != entry.Dtype.Type)
            tensor = tensor.to_type(entry.Dtype.Type);
        if (tensor.device_type != DeviceType.CPU)
            tensor = tensor.cpu();
        if (!tensor.is_contiguous())
            tensor = tensor.contiguous();

        TensorBytes.ForEachChunk(tensor, (chunk, _) => stream.Write(chunk));
    }

    private static void TryDelete(string path)
    {
        try
        {
            System.IO.File.Delete(path);
        }
        catch (IOException)
        {
            // Leave the temporary file; the original error is the one worth reporting.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
