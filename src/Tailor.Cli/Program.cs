using Tailor;
using Tailor.Cli;
using Tailor.Cli.Commands;

// `tailor <command> [options]`: a thin shell over the library. Results go to stdout, progress and errors to stderr.
var commands = new Command[]
{
    new TokenizerCommand(),
    new PretrainCommand(),
    new FinetuneCommand(),
    new InstructCommand(),
    new InfoCommand(),
    new EmbedCommand(),
    new GenerateCommand(),
    new EvalCommand(),
    new RunCommand(),
    new ServeCommand(),
    new ExportCommand(),
    new ScoreCommand(),
    new CompareCommand(),
    new BenchCommand(),
};

if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
{
    Console.WriteLine("usage: tailor <command> [options]   (tailor <command> --help for its options)\n");
    Console.WriteLine("Tailor pre-trains, fine-tunes, instruction-tunes, evaluates and exports Llama/Qwen2 and GPT-2 language models, and embeds text with BERT/RoBERTa encoders.\n");
    Console.WriteLine("commands:");
    foreach (var c in commands) Console.WriteLine($"  {c.Name,-12}{c.Summary}");
    return args.Length == 0 ? 2 : 0;
}
if (args[0] == "--version")
{
    Console.WriteLine(typeof(TailorException).Assembly.GetName().Version);
    return 0;
}

var command = commands.FirstOrDefault(c => c.Name == args[0]);
if (command is null)
{
    Console.Error.WriteLine($"tailor: unknown command '{args[0]}'. Commands: {string.Join(", ", commands.Select(c => c.Name))}.");
    return 2;
}
bool verbose = args.Contains("--verbose");
if (!verbose) RankOutput.QuietUnlessRankZero(command.Name);   // under mpirun, rank 0 alone prints
try
{
    Tailor.Torch.NativeHandles.EnsureKeptAlive();
    return command.Run(args[1..]);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"tailor {command.Name}: {e.Message} See 'tailor {command.Name} --help'.");
    return 2;
}
catch (Exception e) when (!verbose && Errors.IsUserError(e))
{
    Console.Error.WriteLine($"tailor {command.Name}: {Errors.OneLine(e)}");
    return 1;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine($"tailor {command.Name}: cancelled.");
    return 130;
}
catch (Exception e) when (verbose)
{
    Console.Error.WriteLine(e);
    return 1;
}
