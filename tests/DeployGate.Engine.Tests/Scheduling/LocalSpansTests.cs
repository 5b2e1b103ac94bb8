using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine.Tests.Scheduling;

/// <summary><see cref="LocalSpans"/> is shared by every set of every policy in the process: whatever was asked before,
/// and however keys collide in its slots, it must give what converting the two wall-clock times gives.</summary>
public sealed class LocalSpansTests
{
    [Fact]
    public void ManyMoreKeysThanSlots_AskedInAnyOrder_AreEachTheirOwnInterval()
    {
        var random = new Random(20261202);
        var zones = new[] { "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC" }
            .Select(id => ZoneOffsets.Of(TimeZoneInfo.FindSystemTimeZoneById(id))).ToArray();
        var start = new DateTime(2026, 1, 1);
        // Keys that differ in one part only (zone, day, from or until) are the ones a careless comparison would mix up.
        var keys = new List<(ZoneOffsets Zone, DateTime Day, TimeSpan From, TimeSpan Until)>();
        for (var i = 0; i < 3 * LocalSpans.Slots; i++)
        {
            var zone = zones[random.Next(zones.Length)];
            var day = start.AddDays(random.Next(730));
            var from = TimeSpan.FromMinutes(random.Next(0, 24 * 60));
            var until = from + TimeSpan.FromMinutes(random.Next(1, 36 * 60));
            keys.Add((zone, day, from, until));
            keys.Add((zones[(Array.IndexOf(zones, zone) + 1) % zones.Length], day, from, until));
            keys.Add((zone, day.AddDays(1), from, until));
            keys.Add((zone, day, from + TimeSpan.FromMinutes(1), until));
            keys.Add((zone, day, from, until + TimeSpan.FromMinutes(1)));
        }
        for (var round = 0; round < 3; round++)
        {
            foreach (var k in keys.OrderBy(_ => random.Next()))
            {
                var expected = new OpenInterval(WallClock.ToInstant(k.Day + k.From, k.Zone), WallClock.ToInstant(k.Day + k.Until, k.Zone));
                var actual = LocalSpans.Of(k.Zone, LocalSpans.KeyHash(k.Zone, k.From, k.Until), k.Day, k.From, k.Until);
                if (actual != expected) Assert.Fail($"{k.Zone.Zone.Id} {k.Day:yyyy-MM-dd} {k.From}–{k.Until}: {actual}, converted {expected}");
            }
        }
    }
}
