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

    public override int Run(string[] args)
    {
        var cl = Parse(args, "tailor generate --model DIR --prompt TEXT [options]",
            "Generates a continuation of TEXT with the model in DIR. Stops at the end-of-text token, a --stop string or\n" +
            "--max-new-tokens. Text streams to stdout as it is produced unless --json is given.", RecipeCommandLine.Specs<GenerateOptions>(), 1);
        if (cl is null) return 0;
        if (cl.Has("--prompt") && cl.Positionals.Count > 0) throw new UsageException("give the prompt once (--prompt or a bare argument), not both.");
        var o = RecipeCommandLine.Load(cl, new GenerateOptions());
        if (cl.Positionals.Count == 1) o.Prompt = cl.Positionals[0];
        RecipeCommandLine.Validate<GenerateOptions>(o.Validate);
        var device = TorchRuntime.SelectDevice(o.Runtime.Device);
        TorchRuntime.SetThreads(o.Runtime.Threads);
        var dtype = o.Dtype == WeightsDtype.Bfloat16 ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32;
        bool cpuEngine = o.Engine == DecodeEngine.Cpu || (o.Engine == DecodeEngine.Auto && device.type == TorchSharp.DeviceType.CPU);
        var options = o.Sampling;

        using var model = PretrainedModel.Load(o.Model!, device, dtype);
        var ids = model.Tokenizer.Encode(o.Prompt!);
        if (ids.Count == 0) throw new UsageException("the prompt is empty.");
        if (cpuEngine && !model.UsesCpuDecoder(true))
            Console.Error.WriteLine($"note: the cpu engine implements Llama/Qwen2 only; this {model.Config.Architectures.FirstOrDefault()} model decodes on the torch engine.");
        var generator = model.CreateGenerator(cpuDecoder: cpuEngine);
        if (o.Json)
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
