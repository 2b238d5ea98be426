using System.Text.Json;
using Tailor.Generation;
using Tailor.Model;
using Tailor.Torch;

namespace Tailor.Cli.Commands;

/// <summary>`tailor generate`: continue a prompt with a model folder, streaming the text.</summary>
public sealed class GenerateCommand : Command
{
    public override string Name => "generate";

    public override string Summary => "continue a prompt with a model (greedy or sampled), streaming the text";

    private static readonly OptionSpec[] Specs =
    [
        new("--model", "DIR", "Hugging Face model folder (config.json, model.safetensors, tokenizer.json)"),
        new("--prompt", "TEXT", "the prompt (or give it as the only bare argument)"),
        new("--max-new-tokens", "N", "most tokens to generate (default 128)"),
        new("--temperature", "T", "0 = greedy (default); otherwise sample from softmax(logits / T)"),
        new("--top-k", "K", "sample only among the K most likely tokens (default 0 = off)"),
        new("--top-p", "P", "sample only among the smallest set of tokens with probability >= P (default 1 = off)"),
        new("--repetition-penalty", "R", "divide positive / multiply negative logits of seen tokens by R (default 1 = off)"),
        new("--seed", "S", "sampling seed; the same seed gives the same text"),
        new("--stop", "STR", "stop when STR appears (repeatable); STR is not printed", Repeatable: true),
        new("--json", null, "print {\"text\": ..., \"ids\": [...]} for the new tokens instead of streaming"),
        new("--dtype", "float32|bfloat16", "weights dtype in memory (default float32)"),
        new("--engine", "cpu|torch", "cpu: Tailor's own batch-1 decoder, no TorchSharp call per operation (default on --device cpu; Llama/Qwen2 only, GPT-2 always uses torch); torch: a TorchSharp forward per token"),
        .. CommandLine.RuntimeOptions,
    ];

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor generate --model DIR --prompt TEXT [options]",
            "Generates a continuation of TEXT with the model in DIR. Stops at the end-of-text token, a --stop string or\n" +
            "--max-new-tokens. Text streams to stdout as it is produced unless --json is given.", Specs, 1);
        if (cl is null) return 0;
        string prompt = cl.String("--prompt") ?? (cl.Positionals.Count == 1 ? cl.Positionals[0]
            : throw new UsageException("give the prompt: --prompt TEXT."));
        if (cl.Has("--prompt") && cl.Positionals.Count > 0) throw new UsageException($"give the prompt once (--prompt or a bare argument), not both.");
        var options = new SamplingOptions
        {
            MaxNewTokens = cl.Int("--max-new-tokens", 128, 0),
            Temperature = cl.Double("--temperature", 0, 0),
            TopK = cl.Int("--top-k", 0, 0),
            TopP = cl.Double("--top-p", 1.0, double.Epsilon, 1.0),
            RepetitionPenalty = cl.Double("--repetition-penalty", 1.0, double.Epsilon),
            Seed = cl.IntOrNull("--seed"),
            Stop = cl.All("--stop"),
        };
        options.Validate();
        var device = TorchRuntime.SelectDevice(cl.String("--device", "cpu")!);
        TorchRuntime.SetThreads(cl.IntOrNull("--threads", 1));
        var dtype = cl.Choice("--dtype", "float32", "float32", "bfloat16") == "bfloat16"
            ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32;

        string engine = cl.Choice("--engine", device.type == TorchSharp.DeviceType.CPU ? "cpu" : "torch", "cpu", "torch");
        if (engine == "cpu" && device.type != TorchSharp.DeviceType.CPU)
            throw new UsageException("--engine cpu runs on the CPU only; use --engine torch with --device cuda.");

        using var model = PretrainedModel.Load(cl.Required("--model"), device, dtype);
        var ids = model.Tokenizer.Encode(prompt);
        if (ids.Count == 0) throw new UsageException("the prompt is empty.");
        if (engine == "cpu" && !model.UsesCpuDecoder(true))
            Console.Error.WriteLine($"note: the cpu engine implements Llama/Qwen2 only; this {model.Config.Architectures.FirstOrDefault()} model decodes on the torch engine.");
        var generator = model.CreateGenerator(cpuDecoder: engine == "cpu");
        if (cl.Flag("--json"))
        {
            var result = generator.Generate(ids, options);
            Console.WriteLine(JsonSerializer.Serialize(new { text = result.Text, ids = result.Ids, finish_reason = result.FinishReason }));
            return 0;
        }
        using var stdout = Console.OpenStandardOutput();
        foreach (var e in generator.Stream([ids], options))
        {
            if (e.Delta.Length == 0) continue;
            var bytes = System.Text.Encoding.UTF8.GetBytes(e.Delta);
            stdout.Write(bytes);
            stdout.Flush();
        }
        stdout.Write("\n"u8);
        return 0;
    }
}
