using Tailor.Training;

namespace Tailor.Cli;

/// <summary>A one-line live progress bar on stderr: step, loss, tokens/s, elapsed and ETA. Plain lines when stderr is redirected.</summary>
public sealed class ProgressBar
{
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private readonly string _label;
    private int _lastWidth;

    /// <summary>Creates a bar whose lines start with <paramref name="label"/>.</summary>
    public ProgressBar(string label) => _label = label;

    /// <summary>Draws a training report (or prints its message on a line of its own).</summary>
    public void Report(TrainProgress p)
    {
        if (p.Message is not null)
        {
            Line(p.Message);
            return;
        }
        if (p.Loss is null) return;
        double fraction = p.TotalSteps == 0 ? 1 : (double)p.Step / p.TotalSteps;
        const int width = 24;
        int filled = (int)Math.Round(fraction * width);
        string bar = new string('█', filled) + new string('·', width - filled);
        string text = $"{_label} {bar} {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E1}  " +
                      $"{p.TokensPerSecond:F0} tok/s  {Format(p.Elapsed)} elapsed  ETA {Format(p.Eta)}";
        if (_interactive)
        {
            Console.Error.Write("\r" + text.PadRight(_lastWidth));
            _lastWidth = text.Length;
            if (p.Step == p.TotalSteps) Finish();
        }
        else
        {
            Console.Error.WriteLine(text);
        }
    }

    /// <summary>
    /// Draws progress over items (evaluation, a stage of a run): done/total, rate and ETA. When stderr is redirected, a
    /// line is printed at each tenth only.
    /// </summary>
    public void Items(string what, long done, long total, TimeSpan elapsed)
    {
        double fraction = total == 0 ? 1 : (double)done / total;
        const int width = 24;
        int filled = (int)Math.Round(fraction * width);
        string bar = new string('█', filled) + new string('·', width - filled);
        double rate = elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
        var eta = rate > 0 ? TimeSpan.FromSeconds((total - done) / rate) : TimeSpan.Zero;
        string text = $"{_label} {what} {bar} {done}/{total}  {rate:F1}/s  {Format(elapsed)} elapsed  ETA {Format(eta)}";
        if (_interactive)
        {
            Console.Error.Write("\r" + text.PadRight(_lastWidth));
            _lastWidth = text.Length;
            if (done == total) Finish();
        }
        else if (done == total || (int)(10 * fraction) != (int)(10 * (total == 0 ? 1 : (double)(done - 1) / total)))
        {
            Console.Error.WriteLine(text);
        }
    }

    /// <summary>Prints a message above the bar.</summary>
    public void Line(string message)
    {
        if (_interactive && _lastWidth > 0) Console.Error.Write("\r" + new string(' ', _lastWidth) + "\r");
        _lastWidth = 0;
        Console.Error.WriteLine($"{_label} {message}");
    }

    /// <summary>Ends the bar's line.</summary>
    public void Finish()
    {
        if (_interactive && _lastWidth > 0) Console.Error.WriteLine();
        _lastWidth = 0;
    }

    /// <summary>h:mm:ss or m:ss.</summary>
    public static string Format(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
}
