namespace Tailor.Generation;

/// <summary>
/// Ends a row whose output has fallen into a loop: its last tokens are one unit of 1 to <see cref="MaxPeriod"/> tokens
/// repeated back to back at least <see cref="MinRepeats"/> times, covering at least <see cref="MinSpan"/> tokens
/// ("de les de les de les …", "........"). Each repeat makes the next one more likely, so under greedy decoding the rest
/// of the answer is mostly more of the same, up to the token cap or until the model ends the line inside the loop
/// (measured in docs/evaluation.md). A pure function of the ids.
/// </summary>
/// <remarks>
/// The defaults are set so that ordinary text does not trip it: a real sentence may repeat a word or a short phrase two
/// or three times ("very, very", "la la la"), but not one token 16 times in a row, a two-token unit 8 times or a
/// four-token unit 4 times. The text kept is what the model wrote up to the stop, loop included, so metrics and
/// off-task checks see the real (degenerate) output, only shorter; the row's finish reason says "repetition".
/// </remarks>
public sealed record RepetitionStop
{
    /// <summary>Longest repeated unit looked for, in tokens. 16 covers a looping clause ("Dieses Paket enthält die …").</summary>
    public int MaxPeriod { get; init; } = 16;

    /// <summary>Fewest back-to-back copies of the unit. 4: three copies of a short phrase still happen in real text.</summary>
    public int MinRepeats { get; init; } = 4;

    /// <summary>Fewest tokens the copies must cover together. 16: a one-token unit must repeat 16 times, a two-token one 8 times.</summary>
    public int MinSpan { get; init; } = 16;

    /// <summary>The loop found at the end of <paramref name="ids"/>: (unit length, copies), or null when there is none.</summary>
    public (int Period, int Repeats)? Find(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int n = ids.Count;
        for (int period = 1; period <= MaxPeriod && period * MinRepeats <= n; period++)
        {
            // Tokens matching the token one period earlier, counted back from the end: the copies cover period + that.
            int matching = 0;
            while (matching + period < n && ids[n - 1 - matching] == ids[n - 1 - matching - period]) matching++;
            int repeats = (matching + period) / period;
            if (repeats >= MinRepeats && repeats * period >= MinSpan) return (period, repeats);
        }
        return null;
    }

    /// <summary>Whether <paramref name="ids"/> end in a loop (see <see cref="Find"/>).</summary>
    public bool IsLooping(IReadOnlyList<int> ids) => Find(ids) is not null;

    /// <summary>Throws a <see cref="TailorException"/> naming the first out-of-range value.</summary>
    public void Validate()
    {
        if (MaxPeriod < 1) throw new TailorException($"repetition stop: max period is {MaxPeriod}; it must be 1 or more.");
        if (MinRepeats < 2) throw new TailorException($"repetition stop: min repeats is {MinRepeats}; it must be 2 or more.");
        if (MinSpan < 1) throw new TailorException($"repetition stop: min span is {MinSpan}; it must be 1 or more.");
    }
}
