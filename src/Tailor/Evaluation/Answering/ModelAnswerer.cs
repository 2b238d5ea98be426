using Tailor.Data.Instructions;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Text;
using Tailor.Torch;
using Tailor.Training;

namespace Tailor.Evaluation.Answering;

internal sealed class ModelAnswerer : Answerer
{
    private readonly EvalOptions _o;
    private readonly PretrainedModel _model;
    private readonly ExampleEncoder? _encoder;
    private readonly TextGenerator _generator;
    private readonly EvalDecoder _decoder;
    private readonly CpuBatchGenerator? _cpu;

    public ModelAnswerer(EvalOptions o, Action<string> say)
    {
        _o = o;
        TorchRuntime.SetThreads(o.Runtime.Threads);
        var device = TorchRuntime.SelectDevice(o.Runtime.Device);
        _model = PretrainedModel.Load(o.Model!, device);
        string folder = o.Model!;
        Name = o.Name ?? DefaultName(folder);
        Source = folder;
        Hash = File.Exists(Path.Combine(folder, Formats.HfCheckpoint.WeightsFile)) ? StableHash.Sha256File(Path.Combine(folder, Formats.HfCheckpoint.WeightsFile))[..16] : "sharded";
        string? marker = TunedModelMarker.PromptFormatOf(folder);
        Format = o.Format != EvalFormat.Auto ? RecipeOptions.Name(o.Format)
            : marker == "chatml" ? "chatml" : marker == "plain" ? "plain"
            : _model.Tokenizer.ChatTemplate is not null ? "chatml" : "base";
        Kind = Format switch { "chatml" => "chat", "plain" => "finetuned", _ => "base" };
        _taskPrefix = Format == "plain" && TunedModelMarker.TaskPrefixOf(folder);
        if (Format == "chatml")
        {
            if (_model.Tokenizer.ChatTemplate is null) ChatTemplate.Install(_model.Tokenizer);
            _encoder = new ExampleEncoder(_model.Tokenizer, PromptFormat.ChatMl, folder);
        }
        else if (Format == "plain") _encoder = new ExampleEncoder(_model.Tokenizer, PromptFormat.Plain, folder);
        _generator = _model.CreateGenerator();
        _decoder = EvalDecoders.Resolve(o.Decoder, _model);
        if (_decoder is EvalDecoder.Cpu or EvalDecoder.CpuSerial)
        {
            int threads = TorchSharp.torch.get_num_threads();
            _cpu = new CpuBatchGenerator((LlamaForCausalLM)_model.Model, ids => _model.Tokenizer.Decode(ids, skipSpecial: true), _model.StopIds,
                workers: _decoder == EvalDecoder.Cpu ? Math.Min(threads, Environment.ProcessorCount) : 1, threads);
        }
        if (_decoder != o.Decoder) say($"decoder {RecipeOptions.Name(o.Decoder)} runs Llama/Qwen2 on the CPU only; this model decodes on {RecipeOptions.Name(_decoder)}");
        say($"model {Name}: {folder}, {_model.Config.NumHiddenLayers} layers, prompt format {Format} ({(marker is null ? "no tailor.json" : "tailor.json: " + marker)})");
    }

    public override string Name { get; }
    public override string Source { get; }
    public override string Hash { get; }
    public override string Kind { get; }
    public override string Format { get; }
    public override bool CanRank => true;

    private readonly bool _taskPrefix;

    /// <inheritdoc/>
    public override bool TaskPrefix => _taskPrefix;

    private int Context => _model.Config.MaxPositionEmbeddings;

    private int[] Encode(Prompt p) => p.Messages is not null
        ? _encoder!.EncodePrompt(p.Messages)
        : _encoder is not null ? _encoder.EncodePrompt([new ChatMessage(ChatRole.User, p.Text!)]) : [.. _model.Tokenizer.Encode(p.Text!)];

    private string Show(int[] ids) => _model.Tokenizer.Decode(ids);

    /// <summary>
    /// The question's prompt ids, made to fit the context with room for the answer: the input is shortened word by
    /// word, down to 64 words while solved examples remain, then examples are dropped one by one, then the input is
    /// shortened further.
    /// </summary>
    private int[] Fit(Question q, int maxNew)
    {
        int budget = Context - maxNew - 1;
        string input = q.Record.Input;
        int shots = q.Shots;
        int[] ids = Encode(q.Render(input, shots));
        var words = input.Split(' ');
        int keep = words.Length;
        while (ids.Length > budget && (keep > 1 || shots > 0))
        {
            if (shots > 0 && keep <= 64) shots--;
            else keep = Math.Max(shots > 0 ? 64 : 1, Math.Min(keep - 1, (int)(keep * Math.Min(0.9, (double)budget / ids.Length))));
            ids = Encode(q.Render(keep < words.Length ? string.Join(' ', words.Take(keep)) + " …" : input, shots));
        }
        if (ids.Length > budget) throw new TailorException($"item {q.Record.Id}: the prompt alone needs {ids.Length} tokens; the model's context is {Context}. Use fewer --shots.");
        return ids;
    }

    /// <inheritdoc/>
    public override int Beams(EvalTask task) => _o.NumBeams > 0 ? _o.NumBeams : task.Beams;

    public override IReadOnlyList<Answer> Answer(EvalTask task, IReadOnlyList<Question> questions, Action<int> done, CancellationToken cancel)
    {
        int maxNew = Math.Max(1, (int)Math.Round(task.MaxNewTokens * _o.MaxNewTokensScale));
        var prompts = questions.Select(q => Fit(q, maxNew)).ToArray();
        var sampling = new SamplingOptions { MaxNewTokens = maxNew, Temperature = 0, Stop = ["\n"], StopAfterText = true, StopAtEos = true,
            StopOnRepetition = _o.StopRepetition ? new RepetitionStop() : null, NoRepeatNgramSize = _o.NoRepeatNgram, NumBeams = Beams(task), LengthPenalty = _o.LengthPenalty };
        // Longest first, so a slow batch shows early in the ETA and rows of a batch have similar lengths.
        var order = Enumerable.Range(0, prompts.Length).OrderByDescending(i => prompts[i].Length).ToArray();
        IReadOnlyList<int>[] sorted = [.. order.Select(i => prompts[i])];
        var results = sampling.NumBeams > 1 ? EvalDecoders.Padded(_generator, sorted, sampling, Math.Max(1, _o.BatchSize / sampling.NumBeams), done, cancel)
            : _decoder switch
        {
            EvalDecoder.Cpu or EvalDecoder.CpuSerial => _cpu!.Generate(sorted, sampling, _o.BatchSize, done, cancel),
            EvalDecoder.Engine => EvalDecoders.OnEngine(_model, sorted, sampling, _o.BatchSize, done, cancel),
            _ => EvalDecoders.Padded(_generator, sorted, sampling, _o.BatchSize, done, cancel),
        };
        var answers = new Answer[questions.Count];
        for (int j = 0; j < order.Length; j++)
            answers[order[j]] = new Answer(Show(prompts[order[j]]), results[j].Text.Trim(), results[j].Ids.Count, results[j].FinishReason);
        return answers;
    }

    /// <summary>
    /// Log-likelihood ranking (lm-evaluation-harness's multiple choice): for each option, the summed log-probability
    /// of its tokens after the prompt; acc takes the best sum, acc_norm the best sum per character of the option.
    /// The option follows the prompt as the model's answer would: after a space for base prompts ("Sentiment:
    /// positive"), directly for plain and chat prompts (which end in a newline).
    /// </summary>
    public override IReadOnlyList<(double, double, string, string)> Rank(EvalTask task, IReadOnlyList<Question> questions, CancellationToken cancel)
    {
        string lead = Format == "base" ? " " : "";
        var optionIds = task.Options.Select(opt => _model.Tokenizer.Encode(lead + opt).ToArray()).ToArray();
        int longestOption = optionIds.Max(x => x.Length);
        var prompts = questions.Select(q => Fit(q, longestOption)).ToArray();
        var pairs = new List<(int[] Prompt, int[] Continuation)>();
        for (int i = 0; i < prompts.Length; i++)
            for (int k = 0; k < optionIds.Length; k++) pairs.Add((prompts[i], optionIds[k]));
        var sums = LogLikelihood.OfContinuations(_model.Model, pairs, _o.BatchSize, cancel);
        var logp = new double[prompts.Length, optionIds.Length];
        for (int n = 0; n < sums.Length; n++) logp[n / optionIds.Length, n % optionIds.Length] = sums[n];
        var result = new List<(double, double, string, string)>(questions.Count);
        for (int i = 0; i < questions.Count; i++)
        {
            int best = 0, bestNorm = 0;
            for (int k = 1; k < optionIds.Length; k++)
            {
                if (logp[i, k] > logp[i, best]) best = k;
                if (logp[i, k] / task.Options[k].Length > logp[i, bestNorm] / task.Options[bestNorm].Length) bestNorm = k;
            }
            string gold = questions[i].Record.References[0];
            result.Add((task.Options[best] == gold ? 1 : 0, task.Options[bestNorm] == gold ? 1 : 0, task.Options[best], Show(prompts[i])));
        }
        return result;
    }

    public override void Dispose() => _model.Dispose();
}
