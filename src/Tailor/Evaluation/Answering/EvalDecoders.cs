using Tailor.Generation;
using Tailor.Model;
using Tailor.Serving;

namespace Tailor.Evaluation.Answering;

/// <summary>
/// The ways <c>tailor eval</c> can decode a model's answers (<see cref="EvalOptions.Decoder"/>), all greedy with the same
/// stop rules, and the measurement behind the default.
/// </summary>
internal static class EvalDecoders
{
    /// <summary>The default: the fastest in <c>scripts/bench-eval-decoders.sh</c> on a 2-core CPU (see <see cref="Description"/>).</summary>
    public const EvalDecoder Default = EvalDecoder.Engine;

    /// <summary>The option's help text, with the measurement that chose the default.</summary>
    public const string Description =
        "how answers are decoded (greedy, same stop rules, same answers up to float32 near-ties): engine (tailor serve's continuous batching on "
        + "its own thread: batch_size rows decoded together, a finished row replaced by the next prompt at once), cpu (prompts prefilled in "
        + "batches of batch_size by libtorch, then each row decoded alone on the CpuDecoder, one row per core), cpu_serial (the same, one row "
        + "at a time), padded (batches of batch_size that each decode until their longest row ends: the path before the others). engine is the "
        + "default as the fastest measured (scripts/bench-eval-decoders.sh, 2 cores, 300 items of an instruction-tuned tailor-base-small: "
        + "4x padded's items/s on summaries, 14x on translations, 5.6x on sentiment; docs/evaluation.md); the CpuDecoder's one-row products "
        + "lose to batched ones on small models. cpu and cpu_serial need Llama/Qwen2 on the CPU, else engine runs";

    /// <summary>The help text of <see cref="EvalOptions.StopRepetition"/>.</summary>
    public const string StopRepetitionDescription =
        "end an answer early once it loops (the same 1-16 tokens repeated back to back 4 times and over at least 16 tokens); it is kept as written up "
        + "to there, marked finish_reason repetition and counted off-task (repetition). Only looping answers change, and only by being shorter: a "
        + "loop cut short matches fewer reference n-grams, so its ROUGE/chrF drop a little (a degenerate 30-step instruct model: translation chrF "
        + "7.88 to 6.05 at a third of the tokens, ROUGE-L 0.0019 to 0.0015; docs/evaluation.md), and loops inside one word now count off-task "
        + "too; false = let loops run to the token cap, as before";

    /// <summary>The default n-gram ban of <see cref="EvalOptions.NoRepeatNgram"/> (see <see cref="NoRepeatNgramDescription"/>).</summary>
    public const int DefaultNoRepeatNgram = 3;

    /// <summary>The help text of <see cref="EvalOptions.NoRepeatNgram"/>.</summary>
    public const string NoRepeatNgramDescription =
        "greedy decoding never writes the same N-gram of tokens twice within one answer (0 = off; the prompt does not count, so a summary may "
        + "still copy its input), as HF generate's no_repeat_ngram_size. 3, the default, was chosen on the dev split (150 items per task, "
        + "the default run's tuned models, docs/evaluation.md): against 0 it raised chrF by 0.8-1.6 in each direction and left ROUGE-L "
        + "within 0.004, and off-task answers fell from 6-21% to 0-3%, most of them loops that no longer start; 2 and 4 did no better. "
        + "Loops can no longer form, so stop_repetition only acts with 0. Every model of a comparison is decoded the same way";

    /// <summary>The decoder that runs for <paramref name="model"/>: the CpuDecoder ones need Llama/Qwen2 on the CPU, else engine.</summary>
    public static EvalDecoder Resolve(EvalDecoder decoder, PretrainedModel model) =>
        decoder is EvalDecoder.Cpu or EvalDecoder.CpuSerial && !(model.Model is LlamaForCausalLM && model.Model.Device.type == TorchSharp.DeviceType.CPU) ? EvalDecoder.Engine : decoder;

    /// <summary>Today's padded batches: <paramref name="batchSize"/> prompts at a time, each batch until its longest row ends.</summary>
    public static IReadOnlyList<GenerationResult> Padded(TextGenerator generator, IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions sampling,
        int batchSize, Action<int> done, CancellationToken cancel)
    {
        var results = new List<GenerationResult>(prompts.Count);
        for (int start = 0; start < prompts.Count; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            results.AddRange(generator.GenerateBatch([.. prompts.Skip(start).Take(batchSize)], sampling, cancel));
            done(results.Count);
        }
        return results;
    }

    /// <summary>Continuous batching on a <see cref="GenerationEngine"/> of <paramref name="batchSize"/> rows; every prompt is queued at once.</summary>
    public static IReadOnlyList<GenerationResult> OnEngine(PretrainedModel model, IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions sampling,
        int batchSize, Action<int> done, CancellationToken cancel)
    {
        using var engine = new GenerationEngine(model.Model, ids => model.Tokenizer.Decode(ids, skipSpecial: true), model.StopIds,
            new EngineOptions { MaxBatch = batchSize, Queue = prompts.Count });
        var handles = prompts.Select(p => engine.Submit(p, sampling, cancel)).ToArray();
        var results = new GenerationResult[handles.Length];
        for (int i = 0; i < handles.Length; i++)
        {
            results[i] = handles[i].CompleteAsync(cancel).GetAwaiter().GetResult();
            done(i + 1);
        }
        return results;
    }
}
