using BenchmarkDotNet.Attributes;
using Tailor.Evaluation.Metrics;

namespace Tailor.Bench;

/// <summary>Corpus metrics over 1,000 WMT-length segments: they must never be the slow part of an evaluation.</summary>
[MemoryDiagnoser]
public class MetricScoring
{
    private string[] _hyps = [];
    private string?[] _refs = [];

    [GlobalSetup]
    public void Setup()
    {
        _hyps = new string[1000];
        _refs = new string?[1000];
        for (int i = 0; i < _hyps.Length; i++)
        {
            _hyps[i] = $"The quick brown fox {i} jumps over the lazy dog, said the report on day {i % 31}.";
            _refs[i] = $"A quick brown fox {i} jumped over the lazy dog, the report said on day {i % 29}.";
        }
    }

    [Benchmark]
    public double Bleu13a() => Bleu.Corpus(_hyps, [_refs]).Score;

    [Benchmark]
    public double ChrFPlusPlus() => ChrF.Corpus(_hyps, [_refs], new ChrFOptions(WordOrder: 2)).Score;

    [Benchmark]
    public double RougeLsumStemmed()
    {
        double sum = 0;
        for (int i = 0; i < _hyps.Length; i++) sum += Rouge.Score(_refs[i]!, _hyps[i], "rougeLsum", useStemmer: true).FMeasure;
        return sum;
    }
}
