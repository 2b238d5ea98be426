using Tailor.Model;
using static TorchSharp.torch;

namespace Tailor.Generation;

/// <summary>
/// Generation for many prompts on the CPU, each row on its own: prompts are prefilled in left-padded batches by the
/// TorchSharp model (matrix-matrix products, the fast way through a long input), then every row decodes alone on a
/// <see cref="CpuDecoder"/> from its share of that prefill, rows spread over <see cref="Workers"/> threads. A row stops
/// as soon as it is done (no waiting for the batch's longest row, no padded decode steps) and decoding costs no
/// TorchSharp call per operation.
/// </summary>
/// <remarks>
/// Results equal <see cref="TextGenerator.GenerateBatch"/>'s for the same batches: the same prefill, the same sampler
/// per row (seed offset by the row's index in its batch), the same stop rules. Decoding runs the same float32 forward
/// in a different order of additions, so logits differ in the last bits and a near-tie between two tokens can break the
/// other way (tests check equal greedy text on a tiny model; <c>scripts/bench-eval-decoders.sh</c> counts differing
/// answers on real ones). Llama/Qwen2 on the CPU only, like <see cref="CpuDecoder"/>.
/// </remarks>
public sealed class CpuBatchGenerator
{
    private readonly LlamaForCausalLM _model;
    private readonly Func<IReadOnlyList<int>, string> _decode;
    private readonly HashSet<int> _eos;
    private readonly CpuDecoder[] _decoders;

    /// <summary>
    /// Copies the weights of <paramref name="model"/> once into a <see cref="CpuDecoder"/> that <paramref name="workers"/>
    /// threads share. With one worker its matrix-vector products use all <paramref name="threads"/>; with several, each
    /// worker decodes its own row on one thread (no synchronisation per product). The model is kept for the prefill.
    /// </summary>
    public CpuBatchGenerator(LlamaForCausalLM model, Func<IReadOnlyList<int>, string> decode, IEnumerable<int> eosIds, int workers, int threads)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(decode);
        ArgumentNullException.ThrowIfNull(eosIds);
        if (model.Device.type != TorchSharp.DeviceType.CPU) throw new TailorException("the CPU decoder runs on the CPU only; use the engine or padded decoder on other devices.");
        if (workers < 1) throw new TailorException($"workers = {workers}: must be 1 or more.");
        _model = model;
        _decode = decode;
        _eos = [.. eosIds];
        var first = new CpuDecoder(model, threads: workers == 1 ? Math.Max(1, threads) : 1);
        _decoders = [first, .. Enumerable.Range(1, workers - 1).Select(_ => first.Share(1))];
    }

    /// <summary>Rows decoded at the same time, one per thread.</summary>
    public int Workers => _decoders.Length;

    /// <summary>
    /// Generates for every prompt, in order: prefills <paramref name="batchSize"/> prompts at a time (give them sorted by
    /// length, so little of a batch is padding), then decodes the batch's rows. <paramref name="done"/> gets the count
    /// finished after each batch.
    /// </summary>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, int batchSize,
        Action<int>? done = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (batchSize < 1) throw new TailorException($"batch size = {batchSize}: must be 1 or more.");
        var results = new GenerationResult[prompts.Count];
        for (int start = 0; start < prompts.Count; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = prompts.Skip(start).Take(batchSize).ToArray();
            var batchResults = GenerateBatch(batch, options, cancel);
            batchResults.CopyTo(results, start);
            done?.Invoke(start + batch.Length);
        }
        return results;
    }

    private GenerationResult[] GenerateBatch(IReadOnlyList<int>[] prompts, SamplingOptions options, CancellationToken cancel)
    {
        int b = prompts.Length;
        int capacity = _decoders[0].Capacity;
        if (prompts.Any(p => p.Count == 0)) throw new TailorException("a prompt is empty; give at least one token.");
        int longest = prompts.Max(p => p.Count);
        if (longest >= capacity)
            throw new TailorException($"the prompt has {longest} tokens; the model's context is {capacity} (max_position_embeddings). Shorten it.");
        if (options.MaxNewTokens == 0) return [.. prompts.Select(p => new GenerationResult([], "", "length", p.Count))];

        // 1. Prefill the batch, left-padded, exactly as TextGenerator does; keep the cache on the host as float32.
        var padLengths = prompts.Select(p => longest - p.Count).ToArray();
        int layers = _model.Config.NumHiddenLayers;
        var keys = new float[layers][];
        var values = new float[layers][];
        float[] logits;
        using (inference_mode())
        using (NewDisposeScope())
        {
            var ids = new long[b * longest];
            for (int r = 0; r < b; r++)
                for (int j = 0; j < prompts[r].Count; j++) ids[r * longest + padLengths[r] + j] = prompts[r][j];
            using var cache = new KvCache(_model.Config, b, longest, _model.DType, _model.Device);
            var input = tensor(ids, [b, longest]);                                            // (B, T)
            Tensor? positions = null, mask = null;
            if (padLengths.Any(n => n > 0)) (positions, mask) = TextGenerator.PrefillPaddingInputs(padLengths, longest, _model.Device);
            logits = _model.Forward(input, positions, mask, cache, lastOnly: true).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();   // (B, 1, V)
            for (int l = 0; l < layers; l++)
            {
                keys[l] = cache.Keys(l).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();      // (B, KV, T, D)
                values[l] = cache.Values(l).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            }
        }

        // 2. Decode each row on its own, the workers taking rows in turn.
        int vocab = logits.Length / b;
        var results = new GenerationResult[b];
        int next = -1;
        void Work(CpuDecoder decoder)
        {
            int r;
            while ((r = Interlocked.Increment(ref next)) < b)
            {
                cancel.ThrowIfCancellationRequested();
                decoder.LoadPrefill(keys, values, longest, r, padLengths[r], prompts[r].Count);
                results[r] = DecodeRow(decoder, prompts[r], logits.AsSpan(r * vocab, vocab).ToArray(), new Sampler(options, r), options, cancel);
            }
        }
        if (_decoders.Length == 1) Work(_decoders[0]);
        else
        {
            var threads = _decoders.Skip(1).Select(d => Task.Factory.StartNew(() => Work(d), cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
            Exception? mine = null;
            try { Work(_decoders[0]); }
            catch (Exception e) { mine = e; Interlocked.Exchange(ref next, b); }                     // the other workers stop after their row
            try { Task.WaitAll(threads); }
            catch (AggregateException e) when (mine is null) { throw e.InnerExceptions[0]; }
            catch (AggregateException) { }
            if (mine is not null) throw mine;
        }
        return results;
    }

    // One row after its prefill: the loop of TextGenerator's CpuDecoder path, without streaming.
    private GenerationResult DecodeRow(CpuDecoder decoder, IReadOnlyList<int> prompt, float[] logits, Sampler sampler, SamplingOptions options, CancellationToken cancel)
    {
        var row = new TextGenerator.RowState(prompt, sampler, options.Stop, options.StopAfterText);
        int capacity = Math.Min(prompt.Count + options.MaxNewTokens, decoder.Capacity);
        string reason;
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            int id = row.Sampler.Next(logits, row.Seen, row.Generated);
            if (options.StopAtEos && _eos.Contains(id))
            {
                reason = "stop";                                                             // EOS itself is not output
                break;
            }
            var (_, stopHit) = row.Accept(id, _decode);
            string? end = stopHit ? "stop"
                : row.Generated.Count >= options.MaxNewTokens || prompt.Count + row.Generated.Count >= capacity ? "length"
                : options.StopOnRepetition?.IsLooping(row.Generated) == true ? "repetition"
                : null;
            if (end is not null)
            {
                reason = end;
                break;
            }
            decoder.Forward([id]).CopyTo(logits);
        }
        row.Finish();
        return new GenerationResult([.. row.Generated], row.Text, reason, prompt.Count);
    }
}
