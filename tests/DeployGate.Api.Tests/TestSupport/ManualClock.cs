namespace DeployGate.Api.Tests;

/// <summary>A hand-made fake clock (Microsoft.Extensions.TimeProvider.Testing is not available here).</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
