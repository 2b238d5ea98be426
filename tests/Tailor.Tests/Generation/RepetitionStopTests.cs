using Tailor.Generation;

namespace Tailor.Tests.Generation;

public class RepetitionStopTests
{
    private static readonly RepetitionStop Stop = new();

    private static int[] Repeat(int[] unit, int times) => [.. Enumerable.Repeat(unit, times).SelectMany(u => u)];

    [Fact]
    public void A_token_run_of_sixteen_is_a_loop_and_fifteen_is_not()
    {
        Assert.Equal((1, 16), Stop.Find([9, 4, .. Repeat([7], 16)]));
        Assert.Null(Stop.Find([9, 4, .. Repeat([7], 15)]));
    }

    [Fact]
    public void A_two_token_unit_needs_eight_copies_and_a_four_token_unit_four()
    {
        Assert.Equal((2, 8), Stop.Find([1, .. Repeat([5, 6], 8)]));
        Assert.Null(Stop.Find([1, .. Repeat([5, 6], 7)]));
        Assert.Equal((4, 4), Stop.Find([3, .. Repeat([10, 11, 12, 13], 4)]));
        Assert.Null(Stop.Find([3, .. Repeat([10, 11, 12, 13], 3)]));
    }

    [Fact]
    public void Only_the_end_counts_and_a_partial_copy_there_still_loops()
    {
        // A loop that the answer left is not one; a loop cut mid-unit still is (the unit is found shifted).
        Assert.Null(Stop.Find([.. Repeat([5, 6], 10), 1, 2, 3]));
        Assert.NotNull(Stop.Find([.. Repeat([5, 6, 7], 6), 5]));
    }

    [Fact]
    public void Ordinary_text_with_short_repeats_is_not_a_loop()
    {
        int[] sentence = [20, 21, 21, 22, 23, 24, 23, 24, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34];
        Assert.Null(Stop.Find(sentence));
        Assert.Null(Stop.Find([]));
        Assert.Null(Stop.Find(Repeat([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], 3)));   // period above 16
    }

    [Fact]
    public void Out_of_range_settings_are_refused_with_their_name()
    {
        Assert.Contains("min repeats", Assert.Throws<TailorException>(() => new SamplingOptions { StopOnRepetition = new RepetitionStop { MinRepeats = 1 } }.Validate()).Message);
        Assert.Contains("max period", Assert.Throws<TailorException>(() => new RepetitionStop { MaxPeriod = 0 }.Validate()).Message);
    }
}
