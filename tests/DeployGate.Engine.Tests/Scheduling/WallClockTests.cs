using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine.Tests.Scheduling;

public sealed class WallClockTests
{
    [Theory]
    // Europe/Berlin spring gap: 02:00–03:00 on 2026-03-29 does not exist; maps to 03:00 CEST = 01:00Z.
    [InlineData("Europe/Berlin", "2026-03-29T02:00", "2026-03-29T01:00:00Z")]
    [InlineData("Europe/Berlin", "2026-03-29T02:59", "2026-03-29T01:00:00Z")]
    [InlineData("Europe/Berlin", "2026-03-29T03:00", "2026-03-29T01:00:00Z")]
    // Europe/Berlin autumn overlap: 02:30 happens twice; the first (CEST) wins.
    [InlineData("Europe/Berlin", "2026-10-25T02:30", "2026-10-25T00:30:00Z")]
    [InlineData("Europe/Berlin", "2026-10-25T03:00", "2026-10-25T02:00:00Z")]
    // Lord Howe: a 30-minute gap (02:00–02:30) and overlap (01:30–02:00).
    [InlineData("Australia/Lord_Howe", "2026-10-04T02:15", "2026-10-03T15:30:00Z")]
    [InlineData("Australia/Lord_Howe", "2026-04-05T01:45", "2026-04-04T14:45:00Z")]
    // Chatham: +12:45 / +13:45.
    [InlineData("Pacific/Chatham", "2026-09-27T03:00", "2026-09-26T14:00:00Z")]
    [InlineData("Pacific/Chatham", "2026-04-05T03:00", "2026-04-04T13:15:00Z")]
    // No DST: Kolkata, Sao Paulo.
    [InlineData("Asia/Kolkata", "2026-03-29T02:30", "2026-03-28T21:00:00Z")]
    [InlineData("America/Sao_Paulo", "2026-11-01T00:00", "2026-11-01T03:00:00Z")]
    public void ToInstant_ResolvesGapsForwardAndOverlapsToTheFirstOccurrence(string zone, string wall, string expected)
    {
        var tz = TimeZoneInfo.FindSystemTimeZoneById(zone);
        var local = DateTime.ParseExact(wall, "yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TestSupport.At(expected), WallClock.ToInstant(local, tz));
    }
}

public sealed class IntervalsTests
{
    private static OpenInterval I(int a, int b) => new(TestSupport.Now.AddHours(a), TestSupport.Now.AddHours(b));

    [Fact]
    public void Normalize_MergesOverlappingAndTouching() =>
        Assert.Equal([I(0, 3), I(4, 5)], Intervals.Normalize([I(2, 3), I(0, 1), I(1, 2), I(4, 5), I(6, 6)]));

    [Fact]
    public void Subtract_CutsHolesHalfOpen() =>
        Assert.Equal([I(0, 1), I(2, 3), I(7, 8)], Intervals.Subtract([I(0, 3), I(5, 8)], [I(1, 2), I(4, 7)]));
}

public sealed class LayeringTests
{
    [Fact]
    public void Engine_ReferencesNoHostingOrStorage() =>
        Assert.DoesNotContain(typeof(Decision).Assembly.GetReferencedAssemblies(), a =>
            a.Name!.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) ||
            a.Name is "Npgsql" or "Microsoft.Data.Sqlite" or "System.Net.Http" or "Microsoft.Extensions.Http");
}
