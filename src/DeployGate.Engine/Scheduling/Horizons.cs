namespace DeployGate.Engine.Scheduling;

/// <summary>Spans to search ahead, shortest first, ending with the full horizon. Searching [t, t+span)
/// for the first opening and widening only when nothing is found gives the same answer as one search
/// over the full horizon, because each search sees every interval that starts within its span.</summary>
internal static class Horizons
{
    private static readonly TimeSpan[] Steps = [TimeSpan.FromDays(2), TimeSpan.FromDays(14)];
    private static readonly TimeSpan[] ForTimeline = Build(Timeline.Horizon);

    /// <summary>The spans for <paramref name="full"/> (the evaluator's horizon is built once: a deny searches with it).</summary>
    public static ReadOnlySpan<TimeSpan> Growing(TimeSpan full) => full == Timeline.Horizon ? ForTimeline : Build(full);

    private static TimeSpan[] Build(TimeSpan full) => [.. Steps.Where(s => s < full), full];
}
