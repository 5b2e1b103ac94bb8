using System.Globalization;
using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine.Tests.Scheduling;

/// <summary><see cref="LocalTime"/> writes what the custom format through the zone writes, in every zone: the local
/// times deny messages name (users' scripts and the docs quote them).</summary>
public sealed class LocalTimeTests
{
    private static string Expected(DateTimeOffset t, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(t, zone).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    private static void AssertSame(DateTimeOffset t, TimeZoneInfo zone)
    {
        var expected = Expected(t, zone);
        var actual = $"{new LocalTime(t, ZoneOffsets.Of(zone))}";
        if (actual != expected) Assert.Fail($"{zone.Id} at {t:O}: {actual}, the format gives {expected}");
        if (new LocalTime(t, ZoneOffsets.Of(zone)).ToString() != expected) Assert.Fail($"{zone.Id} at {t:O}: ToString differs");
    }

    [Fact]
    public void EveryZone_AtRandomInstantsAndAroundTransitions_WritesWhatTheFormatWrites()
    {
        var random = new Random(20261202);
        var zones = TimeZoneInfo.GetSystemTimeZones();
        Assert.True(zones.Count > 100, $"only {zones.Count} zones on this machine");
        var from = new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero);
        foreach (var zone in zones)
        {
            for (var i = 0; i < 300; i++) AssertSame(from.AddSeconds(random.NextInt64(130L * 365 * 24 * 3600)), zone);
            // Each transition of 2026-2027, and the seconds either side of it.
            var t = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
            var offset = zone.GetUtcOffset(t);
            for (var h = 0; h < 2 * 366 * 24; h++, t = t.AddHours(1))
            {
                var now = zone.GetUtcOffset(t);
                if (now == offset) continue;
                offset = now;
                for (var s = -3700; s <= 3700; s += 37) AssertSame(t.AddSeconds(s), zone);
            }
        }
    }

    [Theory]
    [InlineData("Asia/Kathmandu", "2026-12-03T03:15:00Z", "2026-12-03T09:00:00+05:45")]
    [InlineData("America/St_Johns", "2026-12-03T12:30:00Z", "2026-12-03T09:00:00-03:30")]
    [InlineData("Pacific/Kiritimati", "2026-12-02T19:00:00Z", "2026-12-03T09:00:00+14:00")]
    [InlineData("UTC", "2026-12-31T23:59:59Z", "2026-12-31T23:59:59+00:00")]
    [InlineData("Europe/Berlin", "1800-01-01T00:00:00Z", "1800-01-01T00:54:00+00:54")]   // local mean time, +00:53:28
    [InlineData("America/New_York", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00")]   // clamped at the start of time
    public void Offsets_BothSignsAndOddMinutes(string zoneId, string at, string expected)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var t = DateTimeOffset.Parse(at, CultureInfo.InvariantCulture);
        Assert.Equal(expected, Expected(t, zone));   // the case says what the format writes
        Assert.Equal(expected, $"{new LocalTime(t, ZoneOffsets.Of(zone))}");
    }
}
