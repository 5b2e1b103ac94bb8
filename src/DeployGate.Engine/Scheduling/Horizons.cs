namespace DeployGate.Engine.Scheduling;

/// <summary>Spans to search ahead, shortest first, ending with the full horizon. Searching [t, t+span)
/// for the first opening and widening only when nothing is found gives the same answer as one search
/// over the full horizon, because each search sees every interval that starts within its span. Each span is four
/// times the one before (up to the horizon), so an answer more than two days ahead is found in a span shorter than four
/// times its distance, after spans a third as long in all: a freeze of two weeks is searched over 2 + 8 + 32 = 42 days
/// of intervals, not the 2 + 14 + 366 of the steps before.</summary>
internal static class Horizons
{
    private static readonly TimeSpan[] Steps = [TimeSpan.FromDays(2), TimeSpan.FromDays(8), TimeSpan.FromDays(32), TimeSpan.FromDays(128)];
    private static readonly TimeSpan[] ForTimeline = Build(Timeline.Horizon);

    /// <summary>The spans for <paramref name="full"/> (the evaluator's horizon is built once: a deny searches with it).</summary>
    public static ReadOnlySpan<TimeSpan> Growing(TimeSpan full) => full == Timeline.Horizon ? ForTimeline : Build(full);

    private static TimeSpan[] Build(TimeSpan full) => [.. Steps.Where(s => s < full), full];
}
