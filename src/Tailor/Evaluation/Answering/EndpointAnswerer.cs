using System.Globalization;
using System.Text.Json.Nodes;

namespace Tailor.Evaluation.Answering;

/// <summary>
/// A model behind an OpenAI-compatible server: chat completions for chat models (the server applies its own chat
/// template), completions with the base prompt otherwise (--format base). Greedy (temperature 0), the task's
/// answer cap as max_tokens, the answer being the first line with text (no stop string is sent: a server would end an
/// answer at a newline before its first word, which a local model does not); several servers (a comma-separated list) share the items through
/// an <see cref="EndpointPool"/>, four requests in flight per server. The n-gram ban (--no-repeat-ngram) is sent as
/// <c>no_repeat_ngram_size</c>, which tailor serve honours; a server that ignores the field decodes without it, so compare
/// such a server with local models at --no-repeat-ngram 0.
/// </summary>
internal sealed class EndpointAnswerer : Answerer
{
    private readonly EvalOptions _o;
    private readonly EndpointPool _pool;
    private readonly string _model;
    private readonly Action<string> _say;

    public EndpointAnswerer(EvalOptions o, Action<string> say)
    {
        _o = o;
        _say = say;
        _pool = new EndpointPool(o.Endpoint!, o.ApiKey ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY"), TimeSpan.FromMinutes(5));
        _model = o.EndpointModel ?? FirstModel();
        for (int i = o.EndpointModel is null ? 1 : 0; i < _pool.Addresses.Count && _pool.Addresses.Count > 1; i++)
            if (!_pool.Models(i).Contains(_model))   // one model behind every server, or the results would mix models
                throw new TailorException($"endpoint {_pool.Addresses[i]} does not serve model {_model}; list servers of one model, or give --endpoint-model.");
        Format = o.Format is EvalFormat.Auto or EvalFormat.Chatml ? "chatml" : "base";
        Kind = Format == "chatml" ? "chat" : "base";
        Name = o.Name ?? _model;
        say($"endpoint {string.Join(", ", _pool.Addresses)}: model {_model}, {(Format == "chatml" ? "chat completions" : "completions")}");
        if (o.NumBeams == 0) say("endpoint answers are greedy (beam search is for local models): compare them with local models evaluated at --num-beams 1");
    }

    /// <summary>Per-server throughput for results.json's config.</summary>
    public IEnumerable<KeyValuePair<string, string>> Metadata() => _pool.Stats().Select((s, i) => KeyValuePair.Create($"endpoint_{i}",
        string.Create(CultureInfo.InvariantCulture, $"{s.Address} requests={s.Requests} failures={s.Failures} completion_tokens={s.CompletionTokens} items_per_s={s.ItemsPerSecond:0.###} tokens_per_s={s.TokensPerSecond:0.#}")));

    public override string Name { get; }
    public override string Source => _o.Endpoint! + "#" + _model;
    public override string Hash => "endpoint";
    public override string Kind { get; }
    public override string Format { get; }

    private string FirstModel() => _pool.Models(0).FirstOrDefault()
        ?? throw new TailorException($"endpoint {_pool.Addresses[0]}: /models lists no model; give --endpoint-model.");

    public override IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel)
    {
        int maxNew = Math.Max(1, (int)Math.Round(task.MaxNewTokens * _o.MaxNewTokensScale));
        var answers = new Answer[questions.Count];
        int finished = 0;
        Parallel.For(0, questions.Count, new ParallelOptions { MaxDegreeOfParallelism = _pool.Parallelism, CancellationToken = cancel }, i =>
        {
            var p = questions[i].Render(questions[i].Record.Input, questions[i].Shots);
            JsonObject body;
            string path, shown;
            if (Format == "chatml")
            {
                var messages = new JsonArray([.. p.Messages!.Select(m => (JsonNode)new JsonObject { ["role"] = m.RoleName, ["content"] = m.Content })]);
                body = new JsonObject { ["model"] = _model, ["messages"] = messages };
                path = "chat/completions";
                shown = string.Join("\n", p.Messages!.Select(m => m.RoleName + ": " + m.Content));
            }
            else
            {
                body = new JsonObject { ["model"] = _model, ["prompt"] = p.Text };
                path = "completions";
                shown = p.Text!;
            }
            body["temperature"] = 0;
            body["max_tokens"] = maxNew;
            body["seed"] = 0;
            if (_o.NoRepeatNgram > 0) body["no_repeat_ngram_size"] = _o.NoRepeatNgram;   // tailor serve's extension; see the class summary
            var json = _pool.Post(path, body.ToJsonString(), questions[i].Record.Id, cancel);
            var choice = json?["choices"]?[0];
            string answer = (Format == "chatml" ? choice?["message"]?["content"] : choice?["text"])?.GetValue<string>() ?? "";
            int tokens = json?["usage"]?["completion_tokens"]?.GetValue<int>() ?? 0;
            answers[i] = new Answer(shown, answer.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "", tokens);
            done(Interlocked.Increment(ref finished));
        });
        foreach (string line in _pool.Describe()) _say($"{task.Name}: {line}");   // cumulative over the tasks so far
        return answers;
    }

    public override void Dispose() => _pool.Dispose();
}
