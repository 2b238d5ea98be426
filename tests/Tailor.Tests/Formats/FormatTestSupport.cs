using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Tailor.Tests.Formats;

/// <summary>A fresh folder under the temp directory, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tailor-formats-{Guid.NewGuid():N}");

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The committed cross-tool fixtures (written by Fixtures/formats/make_safetensors_fixtures.py) and their expectations.</summary>
internal static class FormatFixtures
{
    public static string Folder { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures", "formats");

    public static string Script { get; } = Path.Combine(Folder, "make_safetensors_fixtures.py");

    public static string PathOf(string name) => Path.Combine(Folder, name);

    /// <summary>expected.json: per fixture file, what the Python reader decoded from it.</summary>
    public static JsonElement Expected(string file)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(PathOf("expected.json")));
        return document.RootElement.GetProperty(file).Clone();
    }

    /// <summary>Asserts that a tensor has the dtype, shape and exact element values another tool recorded.</summary>
    public static void AssertMatches(string context, JsonElement expected, Tensor actual)
    {
        string dtype = expected.GetProperty("dtype").GetString()!;
        Assert.True(actual.dtype == DtypeOf(dtype), $"{context}: dtype {actual.dtype}, expected {dtype}");
        long[] shape = expected.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.True(shape.SequenceEqual(actual.shape), $"{context}: shape [{string.Join(',', actual.shape)}], expected [{string.Join(',', shape)}]");

        JsonElement[] values = expected.GetProperty("values").EnumerateArray().ToArray();
        Assert.Equal(values.Length, (int)actual.NumberOfElements);
        if (values.Length == 0)
            return; // TorchSharp's accessor cannot enumerate an empty tensor
        if (dtype is "F16" or "BF16" or "F32" or "F64")
        {
            using Tensor asDouble = actual.to_type(ScalarType.Float64).contiguous();
            double[] got = asDouble.data<double>().ToArray();
            for (int i = 0; i < values.Length; i++)
                AssertSameDouble($"{context}[{i}]", ExpectedDouble(values[i]), got[i]);
        }
        else if (dtype == "BOOL")
        {
            using Tensor asLong = actual.to_type(ScalarType.Int64).contiguous();
            long[] got = asLong.data<long>().ToArray();
            for (int i = 0; i < values.Length; i++)
                Assert.True((values[i].GetBoolean() ? 1 : 0) == got[i], $"{context}[{i}]: {got[i]}, expected {values[i]}");
        }
        else
        {
            using Tensor asLong = actual.to_type(ScalarType.Int64).contiguous();
            long[] got = asLong.data<long>().ToArray();
            for (int i = 0; i < values.Length; i++)
                Assert.True(values[i].GetInt64() == got[i], $"{context}[{i}]: {got[i]}, expected {values[i]}");
        }
    }

    public static double ExpectedDouble(JsonElement value) => value.ValueKind == JsonValueKind.String
        ? value.GetString() switch
        {
            "nan" => double.NaN,
            "inf" => double.PositiveInfinity,
            "-inf" => double.NegativeInfinity,
            var other => throw new InvalidOperationException($"unexpected value '{other}' in expected.json"),
        }
        : value.GetDouble();

    /// <summary>Bitwise equality (so -0.0 differs from 0.0), any NaN equal to any NaN.</summary>
    public static void AssertSameDouble(string context, double expected, double actual)
    {
        bool same = double.IsNaN(expected) ? double.IsNaN(actual) : BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual);
        Assert.True(same, $"{context}: {actual:R}, expected {expected:R}");
    }

    public static ScalarType DtypeOf(string name) => name switch
    {
        "BOOL" => ScalarType.Bool,
        "U8" => ScalarType.Byte,
        "I8" => ScalarType.Int8,
        "I16" => ScalarType.Int16,
        "I32" => ScalarType.Int32,
        "I64" => ScalarType.Int64,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F32" => ScalarType.Float32,
        "F64" => ScalarType.Float64,
        _ => throw new ArgumentException(name),
    };

    /// <summary>Whether Debian's python3 with numpy is there to run the fixture script's reader.</summary>
    public static bool PythonWithNumpyAvailable()
    {
        if (!File.Exists("/usr/bin/python3"))
            return false;
        (int exitCode, _, _) = RunPython("-c", "import numpy");
        return exitCode == 0;
    }

    public static (int ExitCode, string Stdout, string Stderr) RunPython(params string[] arguments)
    {
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill();
            throw new TimeoutException("python3 did not finish in 60 s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>Builds safetensors files byte by byte, to make exactly the corruption a test needs.</summary>
internal static class RawSafetensors
{
    /// <summary>8-byte length, the header text (padded with spaces to 8 when asked), then <paramref name="dataBytes"/> zero bytes.</summary>
    public static byte[] Build(string headerJson, long dataBytes, bool pad = true)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        int headerLength = pad ? (header.Length + 7) / 8 * 8 : header.Length;
        var file = new byte[8 + headerLength + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)headerLength);
        header.CopyTo(file, 8);
        file.AsSpan(8 + header.Length, headerLength - header.Length).Fill((byte)' ');
        return file;
    }
}

/// <summary>A tiny module with HF-style names: model.embed_tokens.weight, model.proj.{weight,bias}, lm_head.weight.</summary>
internal sealed class TinyBody : nn.Module
{
    [ComponentName(Name = "embed_tokens")]
    private readonly Embedding _embedTokens;

    [ComponentName(Name = "proj")]
    private readonly Linear _proj;

    public TinyBody(int vocab, int dim)
        : base(nameof(TinyBody))
    {
        _embedTokens = nn.Embedding(vocab, dim);
        _proj = nn.Linear(dim, dim);
        RegisterComponents();
    }

    public Parameter EmbeddingWeight => _embedTokens.weight!;
}

/// <inheritdoc cref="TinyBody"/>
internal sealed class TinyLm : nn.Module
{
    [ComponentName(Name = "model")]
    private readonly TinyBody _model;

    [ComponentName(Name = "lm_head")]
    private readonly Linear _lmHead;

    public TinyLm(int vocab = 8, int dim = 4, bool tied = false)
        : base(nameof(TinyLm))
    {
        _model = new TinyBody(vocab, dim);
        _lmHead = nn.Linear(dim, vocab, hasBias: false);
        if (tied)
            _lmHead.weight = _model.EmbeddingWeight; // one Parameter, as HF ties them
        RegisterComponents();
    }

    public Parameter EmbeddingWeight => _model.EmbeddingWeight;

    public Parameter HeadWeight => _lmHead.weight;
}
