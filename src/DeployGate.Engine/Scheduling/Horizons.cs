namespace DeployGate.Engine.Scheduling;

/// <summary>Spans to search ahead, shortest first, ending with the full horizon. Searching [t, t+span)
/// for the first opening and widening only when nothing is found gives the same answer as one search
/// over the full horizon, because each search sees every interval that starts within its span.</summary>
internal static class Horizons
{
    private static readonly TimeSpan[] Steps = [TimeSpan.FromDays(2), TimeSpan.FromDays(14)];

    public static IEnumerable<TimeSpan> Growing(TimeSpan full)
    {
        foreach (var step in Steps)
        {
            if (step < full) yield return step;
        }
        yield return full;
    }
}
