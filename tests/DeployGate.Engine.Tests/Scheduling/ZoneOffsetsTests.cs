using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine.Tests.Scheduling;

/// <summary><see cref="ZoneOffsets"/> must give exactly what <see cref="TimeZoneInfo.GetUtcOffset(DateTimeOffset)"/>
/// gives, and the wall clock read through it exactly what <see cref="TimeZoneInfo.ConvertTime(DateTimeOffset, TimeZoneInfo)"/>
/// gives: the window and freeze arithmetic is only as right as these.</summary>
public sealed class ZoneOffsetsTests
{
    private static readonly DateTimeOffset From = new(1970, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Until = new(2041, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static void AssertSame(TimeZoneInfo zone, ZoneOffsets offsets, DateTimeOffset t)
    {
        var expected = zone.GetUtcOffset(t);
        var actual = offsets.At(t);
        if (actual != expected) Assert.Fail($"{zone.Id} at {t:O}: {actual} remembered, {expected} from the zone");
        var wall = WallClock.ToWall(t, offsets);
        var converted = TimeZoneInfo.ConvertTime(t, zone).DateTime;
        if (wall != converted || wall.Kind != converted.Kind) Assert.Fail($"{zone.Id} at {t:O}: wall {wall:O}, converted {converted:O}");
    }

    [Fact]
    public void EveryZone_AtInstantsAcrossSeventyYears_IsTheZonesOwnOffset()
    {
        var random = new Random(20261202);
        var zones = TimeZoneInfo.GetSystemTimeZones();
        Assert.True(zones.Count > 100, $"only {zones.Count} zones on this machine");
        foreach (var zone in zones)
        {
            var offsets = ZoneOffsets.Of(zone);
            // One instant every ~5 days, anywhere in its day: over 70 years this lands in ~1 in 5 transition days too.
            for (var day = From; day < Until; day = day.AddDays(5))
                AssertSame(zone, offsets, day.AddTicks(random.NextInt64(TimeSpan.TicksPerDay)));
        }
    }

    [Theory]
    [InlineData("Europe/Berlin")]
    [InlineData("America/New_York")]
    [InlineData("Australia/Lord_Howe")]    // 30-minute DST
    [InlineData("Pacific/Chatham")]        // +12:45 / +13:45
    [InlineData("America/St_Johns")]       // −03:30 / −02:30
    [InlineData("Africa/Casablanca")]      // DST suspended for Ramadan: four transitions a year
    [InlineData("Europe/Dublin")]          // negative DST in the tz database
    [InlineData("Antarctica/Troll")]       // +00 / +02
    [InlineData("America/Sao_Paulo")]      // DST until 2019
    [InlineData("Asia/Kathmandu")]         // +05:30 → +05:45 in 1986
    public void AroundEveryTransition_AndEveryHour_IsTheZonesOwnOffset(string id)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(id);
        var offsets = ZoneOffsets.Of(zone);
        var transitions = 0;
        var previous = zone.GetUtcOffset(From);
        for (var t = From.AddHours(1); t < Until; t = t.AddHours(1))
        {
            AssertSame(zone, offsets, t);
            var now = zone.GetUtcOffset(t);
            if (now == previous) continue;
            previous = now;
            transitions++;
            // The transition lies in (t − 1 h, t]: both sides of it, to the second, and the days' edges around it.
            for (var s = t.AddHours(-1); s <= t; s = s.AddMinutes(1))
            {
                AssertSame(zone, offsets, s);
                AssertSame(zone, offsets, s.AddSeconds(-1));
                AssertSame(zone, offsets, s.AddSeconds(1));
            }
            var midnight = new DateTimeOffset(t.UtcDateTime.Date, TimeSpan.Zero);
            foreach (var edge in (DateTimeOffset[])[midnight, midnight.AddTicks(-1), midnight.AddDays(1), midnight.AddDays(1).AddTicks(-1)])
                AssertSame(zone, offsets, edge);
        }
        Assert.True(id == "Asia/Kathmandu" ? transitions >= 1 : transitions >= 10, $"{id}: only {transitions} transitions found");
    }

    [Fact]
    public void TheEdgesOfTime_AreTheZonesOwnOffset_AndTheWallClockIsClampedAsConvertTimeClampsIt()
    {
        foreach (var id in (string[])["Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin", "UTC"])
        {
            var zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            var offsets = ZoneOffsets.Of(zone);
            foreach (var t in (DateTimeOffset[])[DateTimeOffset.MinValue, DateTimeOffset.MinValue.AddHours(13), DateTimeOffset.MaxValue,
                         DateTimeOffset.MaxValue.AddHours(-13), DateTimeOffset.MaxValue.AddDays(-1), DateTimeOffset.MaxValue.AddDays(-2)])
                AssertSame(zone, offsets, t);
        }
    }

    [Fact]
    public void DaysThatShareASlot_AreEachTheirOwn()
    {
        // Slots by day number: 2026-01-15 (winter) and 2,048 days later, 2031-08-26 (summer), share one.
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        var offsets = ZoneOffsets.Of(zone);
        var winter = new DateTimeOffset(2026, 1, 15, 12, 0, 0, TimeSpan.Zero);
        var summer = winter.AddDays(ZoneOffsets.Slots);
        Assert.NotEqual(zone.GetUtcOffset(winter), zone.GetUtcOffset(summer));
        for (var i = 0; i < 3; i++)
        {
            AssertSame(zone, offsets, winter);
            AssertSame(zone, offsets, summer);
        }
    }

    [Fact]
    public void OneZoneObject_HasOneMemory()
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        Assert.Same(ZoneOffsets.Of(zone), ZoneOffsets.Of(zone));
        Assert.Same(zone, ZoneOffsets.Of(zone).Zone);
    }
}
