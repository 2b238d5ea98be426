using Tailor.Training;

namespace Tailor.Tests.Training;

public sealed class ScheduleTests
{
    [Theory]
    [InlineData(0, 0.1)]      // warm-up: (step + 1) / warmup of the peak
    [InlineData(9, 1.0)]
    [InlineData(50, 1.0)]     // stable
    [InlineData(80, 1.0)]     // the decay starts at total - decay = 80
    [InlineData(90, 0.55)]    // half-way down from 1.0 to 0.1
    [InlineData(99, 0.145)]
    [InlineData(100, 0.1)]    // at and after the total: the floor
    [InlineData(500, 0.1)]
    public void Warmup_stable_decay_holds_the_peak_then_falls_linearly_to_the_floor(long step, double expected) =>
        Assert.Equal(expected, Optimizers.WarmupStableDecay(step, 10, 100, 20, 1.0, 0.1), 12);

    [Fact]
    public void Lowering_the_total_of_a_warmup_stable_decay_run_gives_a_full_decay_from_the_current_step()
    {
        // A run planned for 100 steps and ended at 60 instead: up to step 40 both schedules agree, then the shorter one decays.
        for (long step = 0; step < 40; step++)
            Assert.Equal(Optimizers.WarmupStableDecay(step, 10, 100, 20, 1.0, 0.1), Optimizers.WarmupStableDecay(step, 10, 60, 20, 1.0, 0.1));
        Assert.Equal(0.55, Optimizers.WarmupStableDecay(50, 10, 60, 20, 1.0, 0.1), 12);
        Assert.Equal(0.1, Optimizers.WarmupStableDecay(60, 10, 60, 20, 1.0, 0.1), 12);
    }

    [Fact]
    public void The_pretrain_schedule_option_picks_cosine_by_default_and_wsd_with_a_fifth_of_the_steps_as_decay()
    {
        var cosine = new PretrainOptions { MaxSteps = 100, WarmupSteps = 10, Optimizer = new() { LearningRate = 1.0, WeightDecay = 0.1 }, MinLearningRate = 0.1 };
        Assert.Equal(Optimizers.CosineWithWarmup(50, 10, 100, 1.0, 0.1), cosine.LearningRateAt(50));
        var wsd = cosine with { Schedule = LrSchedule.Wsd };
        Assert.Equal(1.0, wsd.LearningRateAt(79));
        Assert.Equal(0.55, wsd.LearningRateAt(90), 12);
        Assert.Equal(0.325, (wsd with { DecaySteps = 40 }).LearningRateAt(90), 12);
    }

    [Theory]
    [InlineData(LrSchedule.Linear, null, "schedule = linear: use cosine or wsd.")]
    [InlineData(LrSchedule.Wsd, 0L, "decay_steps = 0: must be positive and at most max_steps - warmup_steps = 90.")]
    [InlineData(LrSchedule.Wsd, 91L, "decay_steps = 91: must be positive and at most max_steps - warmup_steps = 90.")]
    public void A_bad_schedule_or_decay_length_is_refused_with_the_option_named(LrSchedule schedule, long? decay, string message)
    {
        var o = new PretrainOptions { MaxSteps = 100, WarmupSteps = 10, Schedule = schedule, DecaySteps = decay };
        Assert.Equal(message, Assert.Throws<TailorException>(o.Validate).Message);
    }

    [Theory]
    [InlineData(0, 0.1)]      // warm-up: (step + 1) / warmup of the peak
    [InlineData(9, 1.0)]
    [InlineData(10, 1.0)]     // the cosine starts at its peak
    [InlineData(55, 0.55)]    // half-way: the mean of peak and floor
    [InlineData(100, 0.1)]    // at and after the total: the floor
    [InlineData(1000, 0.1)]
    public void Cosine_with_warmup_rises_linearly_then_follows_half_a_cosine_to_the_floor(long step, double expected) =>
        Assert.Equal(expected, Optimizers.CosineWithWarmup(step, 10, 100, 1.0, 0.1), 12);
}
