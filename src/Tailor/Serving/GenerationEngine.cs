using System.ComponentModel;
using System.Threading.Channels;
using Tailor.Generation;
using Tailor.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Tailor.Serving;

/// <summary>Limits of a <see cref="GenerationEngine"/>; each default says why.</summary>
public sealed record EngineOptions
{
    /// <summary>
    /// Most requests decoded together. 8 keeps one decode step of a small model within a few milliseconds on a laptop
    /// CPU while still amortizing the weight reads over several rows; raise it on a GPU.
    /// </summary>
    [Description("most requests decoded together: 8 keeps one decode step of a small model within a few ms on a laptop CPU while amortising the weight reads (raise it on a GPU)")]
    public int MaxBatch { get; init; } = 8;

    /// <summary>
    /// Most requests waiting for a free row; one more is refused (<see cref="EngineBusyException"/>, HTTP 429) rather than
    /// left to wait without bound. 64 is a few seconds of work for the small model at the default batch.
    /// </summary>
    [Description("most requests waiting for a free batch row; one more gets 429 rather than waiting without bound: 64 is a few seconds of work for the small model")]
    public int Queue { get; init; } = 64;

    /// <summary>
    /// Most prompt positions prefilled together (newcomers × their longest prompt, left-padded), as vLLM's
    /// max_num_batched_tokens: newcomers past it wait for the next step, so a prefill's activations stay bounded however
    /// large the batch. 8192: an evaluation at batch 48 of 3-shot base prompts (~450 tokens each) peaked at 5.8 GB with
    /// all 48 prefilled at once, against 2.2 GB at batch 16; a single prompt longer than this is still admitted alone.
    /// </summary>
    [Description("most prompt tokens prefilled together (newcomers x their longest prompt); more wait for the next step, so prefill memory stays bounded at any batch size (vLLM's max_num_batched_tokens)")]
    public int PrefillTokens { get; init; } = 8192;

    /// <summary>Throws a <see cref="TailorException"/> naming the first out-of-range option.</summary>
    public void Validate()
    {
        if (MaxBatch is < 1 or > 1024) throw new TailorException($"max_batch = {MaxBatch}: must be between 1 and 1024.");
        if (Queue < 0) throw new TailorException($"queue = {Queue}: must be 0 or more.");
        if (PrefillTokens < 1) throw new TailorException($"prefill_tokens = {PrefillTokens}: must be positive.");
    }
}

/// <summary>The request queue is full; try again later (HTTP 429).</summary>
public sealed class EngineBusyException(string message) : TailorException(message);

/// <summary>The engine is shutting down or stopped and takes no new requests (HTTP 503).</summary>
public sealed class EngineStoppedException(string message) : TailorException(message);

/// <summary>A prompt plus the tokens asked for do not fit the model's context (HTTP 400, <c>context_length_exceeded</c>).</summary>
public sealed class ContextLengthException(string message, int promptTokens, int maxNewTokens, int contextLength) : TailorException(message)
{
    /// <summary>Prompt length in tokens.</summary>
    public int PromptTokens { get; } = promptTokens;

    /// <summary>Tokens asked for.</summary>
    public int MaxNewTokens { get; } = maxNewTokens;

    /// <summary>The model's context (max_position_embeddings).</summary>
    public int ContextLength { get; } = contextLength;
}

/// <summary>Counters of an engine, read at one moment (each counter is exact; together they are a near-snapshot).</summary>
/// <param name="Active">Requests being decoded now.</param>
/// <param name="Queued">Requests waiting for a row.</param>
/// <param name="Completed">Requests that finished (stop or length).</param>
/// <param name="Cancelled">Requests cancelled by their caller (a client that went away) or by shutdown.</param>
/// <param name="Rejected">Requests refused because the queue was full.</param>
/// <param name="GeneratedTokens">Tokens sampled over the engine's life, end-of-sequence tokens included (they are not output).</param>
/// <param name="DecodeSteps">Batched forward passes (prefills and decode steps).</param>
/// <param name="LiveTensors">Tensors alive on the worker thread when it last went round its loop (the KV cache included); flat over time unless something leaks.</param>
public sealed record EngineStats(int Active, int Queued, long Completed, long Cancelled, long Rejected, long GeneratedTokens, long DecodeSteps, long LiveTensors);

/// <summary>A submitted request: read its events with <see cref="ReadAllAsync"/>.</summary>
public sealed class GenerationHandle
{
    private readonly Channel<TokenEvent> _events;

    internal GenerationHandle(int promptTokens, Channel<TokenEvent> events)
    {
        PromptTokens = promptTokens;
        _events = events;
    }

    /// <summary>Prompt length in tokens.</summary>
    public int PromptTokens { get; }

    /// <summary>
    /// The request's events in order (<see cref="TokenEvent.Row"/> is always 0); the last one has a FinishReason.
    /// Throws <see cref="OperationCanceledException"/> when the request was cancelled, or the engine's error.
    /// </summary>
    public IAsyncEnumerable<TokenEvent> ReadAllAsync(CancellationToken cancel = default) => _events.Reader.ReadAllAsync(cancel);

    /// <summary>Reads every event and returns the whole result.</summary>
    public async Task<GenerationResult> CompleteAsync(CancellationToken cancel = default)
    {
        var ids = new List<int>();
        var text = new System.Text.StringBuilder();
        string reason = "length";
        await foreach (var e in ReadAllAsync(cancel).ConfigureAwait(false))
        {
            if (e.Id >= 0) ids.Add(e.Id);
            text.Append(e.Delta);
            if (e.FinishReason is not null) reason = e.FinishReason;
        }
        return new GenerationResult(ids, text.ToString(), reason, PromptTokens);
    }
}

/// <summary>
/// Continuous batching over one model: requests wait in a bounded queue, and a single worker thread decodes up to
/// <see cref="EngineOptions.MaxBatch"/> of them together, admitting a waiting request as soon as a row frees up (after
/// any decode step, not only when the whole batch is done). Each request keeps its own sampling options and seed, so
/// its text does not depend on what it was batched with (greedy output equals <see cref="TextGenerator.Generate"/>'s).
/// </summary>
/// <remarks>
/// <para>The KV cache is one preallocated (MaxBatch, KV, context, D) tensor per layer. Active rows are its first n rows
/// and all end at one write position <c>p</c>; row r's own keys start at column <c>start[r]</c> (left padding, hidden by
/// the attention mask; RoPE positions count from <c>start[r]</c>). A newcomer is prefilled on its own (batched with the
/// other newcomers, left-padded) and its keys are copied into a free row so they end at <c>p</c>; if its prompt is longer
/// than <c>p</c>, every row first moves right. When <c>p</c> reaches the context, or the oldest row's start passes half of
/// <c>p</c>, all rows move left by the smallest start; because every request was checked to fit the context alone, this
/// always frees room. A finished row is replaced by the last active row, so the decode batch stays dense.</para>
/// <para>Only the worker thread touches TorchSharp; it holds inference mode and one dispose scope per step.</para>
/// </remarks>
public sealed class GenerationEngine : IDisposable
{
    private readonly CausalLM _model;
    private readonly Func<IReadOnlyList<int>, string> _decode;
    private readonly HashSet<int> _eos;
    private readonly EngineOptions _options;
    private readonly Channel<Request> _queue;
    private readonly Thread _worker;
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _queued, _active, _outstanding;
    private long _completed, _cancelled, _rejected, _generated, _steps, _liveTensors;
    private volatile bool _accepting = true;

    /// <summary>
    /// Starts the worker thread. <paramref name="decode"/> turns ids into text (specials skipped);
    /// <paramref name="eosIds"/> end a request when its options say <see cref="SamplingOptions.StopAtEos"/>.
    /// The model is not owned: keep it alive until the engine is disposed.
    /// </summary>
    public GenerationEngine(CausalLM model, Func<IReadOnlyList<int>, string> decode, IEnumerable<int> eosIds, EngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(decode);
        ArgumentNullException.ThrowIfNull(eosIds);
        _options = options ?? new EngineOptions();
        _options.Validate();
        _model = model;
        _decode = decode;
        _eos = [.. eosIds];
        ContextLength = model.DecoderConfig.MaxPositionEmbeddings;
        _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
        _worker = new Thread(Run) { IsBackground = true, Name = "tailor-engine" };
        _worker.Start();
    }

    /// <summary>The model's context in tokens: prompt plus new tokens must fit in it.</summary>
    public int ContextLength { get; }

    /// <summary>The limits it runs with.</summary>
    public EngineOptions Options => _options;

    /// <summary>Whether new requests are taken (false once <see cref="StopAsync"/> has begun).</summary>
    public bool Accepting => _accepting;

    /// <summary>The engine's counters now.</summary>
    public EngineStats Stats => new(Volatile.Read(ref _active), Volatile.Read(ref _queued), Interlocked.Read(ref _completed),
        Interlocked.Read(ref _cancelled), Interlocked.Read(ref _rejected), Interlocked.Read(ref _generated), Interlocked.Read(ref _steps), Interlocked.Read(ref _liveTensors));

    /// <summary>
    /// Queues a request and returns at once. <paramref name="cancel"/> (a client that went away) removes it from the
    /// batch at the next step; its events then end with <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <exception cref="TailorException">The options are out of range or the prompt is empty.</exception>
    /// <exception cref="ContextLengthException">Prompt plus <see cref="SamplingOptions.MaxNewTokens"/> exceed the context.</exception>
    /// <exception cref="EngineBusyException">The queue is full.</exception>
    /// <exception cref="EngineStoppedException">The engine is stopping.</exception>
    public GenerationHandle Submit(IReadOnlyList<int> prompt, SamplingOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (prompt.Count == 0) throw new TailorException("the prompt is empty; give at least one token.");
        if ((long)prompt.Count + options.MaxNewTokens > ContextLength)
            throw new ContextLengthException(
                $"the prompt has {prompt.Count} tokens and {options.MaxNewTokens} new tokens were asked for, {prompt.Count + (long)options.MaxNewTokens} in all; "
                + $"the model's context is {ContextLength} tokens. Shorten the prompt or ask for fewer tokens (max_tokens).",
                prompt.Count, options.MaxNewTokens, ContextLength);
        if (!_accepting) throw new EngineStoppedException("the server is shutting down and takes no new requests.");

        var events = Channel.CreateUnbounded<TokenEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var handle = new GenerationHandle(prompt.Count, events);
        if (options.MaxNewTokens == 0)
        {
            events.Writer.TryWrite(new TokenEvent(0, -1, "", "length"));
            events.Writer.TryComplete();
            Interlocked.Increment(ref _completed);
            return handle;
        }
        // Admission counts every request not yet finished, so "full" does not depend on how fast the worker dequeues.
        if (Interlocked.Increment(ref _outstanding) > _options.MaxBatch + _options.Queue)
        {
            Interlocked.Decrement(ref _outstanding);
            Interlocked.Increment(ref _rejected);
            throw new EngineBusyException(
                $"the server is at capacity ({_options.MaxBatch} requests running, {_options.Queue} waiting); retry later.");
        }
        var request = new Request([.. prompt], options, events.Writer, cancel);
        Interlocked.Increment(ref _queued);
        if (!_queue.Writer.TryWrite(request))
        {
            Interlocked.Decrement(ref _queued);
            Interlocked.Decrement(ref _outstanding);
            throw new EngineStoppedException("the server is shutting down and takes no new requests.");
        }
        return handle;
    }

    /// <summary>Generates for one prompt and waits for the whole result (see <see cref="Submit"/> for the exceptions).</summary>
    public Task<GenerationResult> GenerateAsync(IReadOnlyList<int> prompt, SamplingOptions options, CancellationToken cancel = default) =>
        Submit(prompt, options, cancel).CompleteAsync(cancel);

    /// <summary>
    /// Stops taking requests, lets queued and running ones finish for up to <paramref name="drain"/>, then cancels the
    /// rest (their events end with <see cref="OperationCanceledException"/>) and ends the worker.
    /// </summary>
    public async Task StopAsync(TimeSpan drain)
    {
        _accepting = false;
        _queue.Writer.TryComplete();
        if (await Task.WhenAny(_stopped.Task, Task.Delay(drain)).ConfigureAwait(false) != _stopped.Task)
            await _abort.CancelAsync().ConfigureAwait(false);
        await _stopped.Task.ConfigureAwait(false);
    }

    /// <summary>Cancels everything at once and waits for the worker to end.</summary>
    public void Dispose()
    {
        StopAsync(TimeSpan.Zero).GetAwaiter().GetResult();
        _abort.Dispose();
    }

    private sealed class Request(int[] prompt, SamplingOptions options, ChannelWriter<TokenEvent> events, CancellationToken cancel)
    {
        public int[] Prompt { get; } = prompt;
        public SamplingOptions Options { get; } = options;
        public ChannelWriter<TokenEvent> Events { get; } = events;
        public CancellationToken Cancel { get; } = cancel;

        /// <summary>Set once its events are closed (finished, cancelled or failed); only the worker closes.</summary>
        public bool Closed { get; set; }
    }

    /// <summary>A request being decoded: its row text state, where its keys start, the token to feed next.</summary>
    private sealed class Row(Request request)
    {
        public Request Request { get; } = request;
        public TextGenerator.RowState Text { get; } = new(request.Prompt, new Sampler(request.Options), request.Options.Stop, request.Options.StopAfterText);
        public long Start { get; set; }
        public long NextId { get; set; }
    }

    private void Run()
    {
        var config = _model.DecoderConfig;
        int layers = config.NumHiddenLayers;
        var keys = new Tensor[layers];
        var values = new Tensor[layers];
        var rows = new List<Row>();
        Request? deferred = null;                                                           // read, but over the prefill budget: admitted next step
        try
        {
            using var inference = inference_mode();
            for (int l = 0; l < layers; l++)
            {
                keys[l] = zeros([_options.MaxBatch, config.KeyValueHeads, ContextLength, config.HeadDim], _model.DType, _model.Device).DetachFromDisposeScope();
                values[l] = zeros([_options.MaxBatch, config.KeyValueHeads, ContextLength, config.HeadDim], _model.DType, _model.Device).DetachFromDisposeScope();
            }
            long p = 0;                                                                      // next cache column to write
            while (true)
            {
                Interlocked.Exchange(ref _liveTensors, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
                if (_abort.IsCancellationRequested) break;
                if (rows.Count == 0 && deferred is null)
                {
                    p = 0;
                    // Idle: sleep until a request arrives, the queue closes (drained: done) or an abort.
                    try
                    {
                        if (!_queue.Reader.WaitToReadAsync(_abort.Token).AsTask().GetAwaiter().GetResult()) break;
                    }
                    catch (OperationCanceledException) { break; }
                }
                var admitted = new List<Request>();
                int longestAdmitted = 0;
                while (rows.Count + admitted.Count < _options.MaxBatch)
                {
                    Request request;
                    if (deferred is not null) (request, deferred) = (deferred, null);
                    else if (_queue.Reader.TryRead(out var read))
                    {
                        Interlocked.Decrement(ref _queued);
                        request = read;
                    }
                    else break;
                    if (request.Cancel.IsCancellationRequested)
                    {
                        Cancel(request);
                        continue;
                    }
                    // The prefill's size is newcomers x longest prompt: past the budget, this one waits for the next step.
                    int longest = Math.Max(longestAdmitted, request.Prompt.Length);
                    if (admitted.Count > 0 && (long)(admitted.Count + 1) * longest > _options.PrefillTokens)
                    {
                        deferred = request;
                        break;
                    }
                    admitted.Add(request);
                    longestAdmitted = longest;
                }
                try
                {
                    if (admitted.Count > 0) p = Admit(admitted, rows, keys, values, p);
                    for (int r = rows.Count - 1; r >= 0; r--)
                    {
                        if (!rows[r].Request.Cancel.IsCancellationRequested) continue;
                        Cancel(rows[r].Request);
                        Remove(rows, r, keys, values, p);
                    }
                    if (rows.Count == 0) continue;
                    p = Compact(rows, keys, values, p);
                    p = Step(rows, keys, values, p);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The cache may be half-updated: fail every running request with the error and start clean.
                    foreach (var row in rows) Fail(row.Request, e);
                    foreach (var request in admitted) Fail(request, e);
                    rows.Clear();
                    Volatile.Write(ref _active, 0);
                }
            }
        }
        finally
        {
            foreach (var row in rows) Cancel(row.Request);
            if (deferred is not null) Cancel(deferred);
            Volatile.Write(ref _active, 0);
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var request))
            {
                Interlocked.Decrement(ref _queued);
                Cancel(request);
            }
            foreach (var t in keys) t?.Dispose();
            foreach (var t in values) t?.Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>Prefills the newcomers together (left-padded), samples their first tokens and places their keys in free rows ending at p.</summary>
    private long Admit(List<Request> admitted, List<Row> rows, Tensor[] keys, Tensor[] values, long p)
    {
        int k = admitted.Count;
        int longest = admitted.Max(a => a.Prompt.Length);
        if (longest > p && rows.Count > 0) MoveColumns(rows.Count, keys, values, 0, longest - p, p);
        foreach (var row in rows) row.Start += Math.Max(0, longest - p);
        p = Math.Max(p, longest);

        float[] logits;
        using (NewDisposeScope())
        {
            var padLengths = admitted.Select(a => longest - a.Prompt.Length).ToArray();
            var ids = new long[k * longest];
            for (int i = 0; i < k; i++)
                for (int j = 0; j < admitted[i].Prompt.Length; j++) ids[i * longest + padLengths[i] + j] = admitted[i].Prompt[j];
            using var cache = new KvCache(_model.DecoderConfig, k, longest, _model.DType, _model.Device);
            var input = tensor(ids, [k, longest], device: _model.Device);                     // (k, T)
            Tensor? positions = null, mask = null;
            if (padLengths.Any(n => n > 0)) (positions, mask) = TextGenerator.PrefillPaddingInputs(padLengths, longest, _model.Device);
            logits = ToHost(_model.Forward(input, positions, mask, cache, lastOnly: true));    // (k, 1, V)
            for (int l = 0; l < keys.Length; l++)
            {
                // Newcomers go to rows [n, n + k), columns [p - longest, p): each ends where the running rows end.
                keys[l].narrow(0, rows.Count, k).narrow(2, p - longest, longest).copy_(cache.Keys(l));
                values[l].narrow(0, rows.Count, k).narrow(2, p - longest, longest).copy_(cache.Values(l));
            }
        }
        Interlocked.Increment(ref _steps);
        int vocab = logits.Length / k;
        int first = rows.Count;
        rows.AddRange(admitted.Select(a => new Row(a) { Start = p - a.Prompt.Length }));
        Volatile.Write(ref _active, rows.Count);
        var finished = new List<int>();
        for (int i = 0; i < k; i++)
            if (Pick(rows[first + i], logits.AsSpan(i * vocab, vocab))) finished.Add(first + i);
        for (int i = finished.Count - 1; i >= 0; i--) Remove(rows, finished[i], keys, values, p);
        return p;
    }

    /// <summary>One decode step for every running row: feed each its last token at column p, sample the next.</summary>
    private long Step(List<Row> rows, Tensor[] keys, Tensor[] values, long p)
    {
        int n = rows.Count;
        float[] logits;
        using (NewDisposeScope())
        {
            var device = _model.Device;
            using var cache = new KvCache(keys, values, n, p);
            var input = tensor(rows.Select(r => r.NextId).ToArray(), [n, 1], device: device);  // (n, 1)
            Tensor? positions = null, mask = null;
            if (rows.Any(r => r.Start > 0))
            {
                positions = tensor(rows.Select(r => p - r.Start).ToArray(), [n, 1], device: device);  // (n, 1)
                var allowed = new bool[n * (p + 1)];
                for (int r = 0; r < n; r++)
                    for (long c = rows[r].Start; c <= p; c++) allowed[r * (p + 1) + c] = true;
                mask = tensor(allowed, [n, 1, 1, p + 1], device: device);                        // (n, 1, 1, S)
            }
            logits = ToHost(_model.Forward(input, positions, mask, cache, lastOnly: true));    // (n, 1, V)
        }
        Interlocked.Increment(ref _steps);
        p++;
        int vocab = logits.Length / n;
        var finished = new List<int>();
        for (int r = 0; r < n; r++)
            if (Pick(rows[r], logits.AsSpan(r * vocab, vocab))) finished.Add(r);
        for (int i = finished.Count - 1; i >= 0; i--) Remove(rows, finished[i], keys, values, p);
        return p;
    }

    /// <summary>Samples a row's next token and sends its event; returns whether the row finished.</summary>
    private bool Pick(Row row, Span<float> logits)
    {
        var request = row.Request;
        var text = row.Text;
        int id = text.Sampler.Next(logits, text.Seen, text.Generated);
        Interlocked.Increment(ref _generated);
        if (request.Options.StopAtEos && _eos.Contains(id))
        {
            Finish(request, new TokenEvent(0, -1, text.Finish(), "stop"));
            return true;
        }
        var (delta, stopHit) = text.Accept(id, _decode);
        string? reason = stopHit ? "stop" : text.Generated.Count >= request.Options.MaxNewTokens ? "length"
            : request.Options.StopOnRepetition?.IsLooping(text.Generated) == true ? "repetition" : null;
        if (reason is null)
        {
            row.NextId = id;
            request.Events.TryWrite(new TokenEvent(0, id, delta, null));
            return false;
        }
        Finish(request, new TokenEvent(0, id, delta + text.Finish(), reason));
        return true;
    }

    /// <summary>
    /// Moves every row left by the smallest start when the cache is full or that start is past half of p (attention
    /// then reads half padding). Returns the new p.
    /// </summary>
    private static long Compact(List<Row> rows, Tensor[] keys, Tensor[] values, long p)
    {
        long shift = rows.Min(r => r.Start);
        long capacity = keys[0].shape[2];
        if (shift == 0 || (p < capacity && shift * 2 < p)) return p;
        MoveColumns(rows.Count, keys, values, shift, 0, p - shift);
        foreach (var row in rows) row.Start -= shift;
        return p - shift;
    }

    /// <summary>Copies columns [from, from + length) of the first n rows to [to, to + length) (through a copy, as they may overlap).</summary>
    private static void MoveColumns(int n, Tensor[] keys, Tensor[] values, long from, long to, long length)
    {
        if (length <= 0) return;
        using var scope = NewDisposeScope();
        foreach (var cache in keys.Concat(values))
        {
            var rows = cache.narrow(0, 0, n);
            rows.narrow(2, to, length).copy_(rows.narrow(2, from, length).clone());
        }
    }

    /// <summary>Drops row r; the last running row takes its place (its keys are copied up to column p).</summary>
    private void Remove(List<Row> rows, int r, Tensor[] keys, Tensor[] values, long p)
    {
        int last = rows.Count - 1;
        if (r != last)
        {
            using var scope = NewDisposeScope();
            foreach (var cache in keys.Concat(values))
                cache[r].narrow(1, 0, p).copy_(cache[last].narrow(1, 0, p));                   // (KV, p, D)
            rows[r] = rows[last];
        }
        rows.RemoveAt(last);
        Volatile.Write(ref _active, rows.Count);
    }

    private void Finish(Request request, TokenEvent last)
    {
        if (!Close(request)) return;
        request.Events.TryWrite(last);
        request.Events.TryComplete();
        Interlocked.Increment(ref _completed);
    }

    private void Cancel(Request request)
    {
        if (!Close(request)) return;
        request.Events.TryComplete(new OperationCanceledException(request.Cancel.IsCancellationRequested
            ? "the request was cancelled." : "the server shut down before the request finished.", request.Cancel));
        Interlocked.Increment(ref _cancelled);
    }

    private void Fail(Request request, Exception error)
    {
        if (Close(request)) request.Events.TryComplete(error);
    }

    /// <summary>Marks the request closed and frees its place; false when it already was.</summary>
    private bool Close(Request request)
    {
        if (request.Closed) return false;
        request.Closed = true;
        Interlocked.Decrement(ref _outstanding);
        return true;
    }

    private static float[] ToHost(Tensor logits) => logits.to_type(ScalarType.Float32).cpu().data<float>().ToArray();
}
