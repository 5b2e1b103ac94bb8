using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine.Tests.Scheduling;

/// <summary><see cref="ITimeSet.FirstStart"/> walks a set's openings in order and stops at the first at or after an
/// instant: the next opening a window deny names and a remembered span's end. It must be exactly the least start, in
/// the span asked, of a non-empty interval that <see cref="ITimeSet.AddIntervals"/> lists for that span: for weekly,
/// cron, absolute and dates sets in zones with DST gaps and overlaps at the times the sets open, at the openings
/// themselves and a tick either side, and with spans from none to more than the horizon.</summary>
public sealed class FirstStartTests
{
    private static readonly DecisionRequest Deploy = new(GateAction.Deploy, "e", "t");

    [Theory]
    [InlineData(41)]
    [InlineData(42)]
    [InlineData(43)]
    public void EverySet_FirstStartIsTheLeastStartOfItsIntervals(int seed)
    {
        var random = new Random(seed);
        var compared = 0;
        var found = 0;
        for (var p = 0; p < 60; p++)
        {
            var zone = TimelinePropertyTests.Zones[random.Next(TimelinePropertyTests.Zones.Length)];
            var yaml = TimelinePropertyTests.RandomPolicy(random, zone);
            var env = TestSupport.Compile(yaml).FindEnvironment("e")!;
            var sets = env.Deploy!.Windows.Concat(env.FreezesFor(GateAction.Deploy).Select(f => f.Rule)).Select(r => r.Set).ToArray();
            foreach (var set in sets)
            {
                foreach (var t in Instants(random, set, TimeZoneInfo.FindSystemTimeZoneById(zone)))
                {
                    var before = t + Span(random);
                    var expected = Oracle(set, t, before);
                    var actual = set.FirstStart(t, before);
                    Assert.True(expected == actual, $"{set.GetType().Name} from {t:o} before {before:o}: {actual:o}, the intervals give {expected:o}\n{yaml}");
                    compared++;
                    if (actual is not null) found++;
                }
            }
        }
        Assert.True(compared >= 60 * 20, $"{compared} compared");
        Assert.True(found >= compared / 3, $"only {found} of {compared} found an opening");
    }

    [Fact]
    public void DatesSet_InZonesWhoseMidnightsFallInGapsOrWereSkipped_FirstStartIsTheLeastStart()
    {
        var random = new Random(20261207);
        foreach (var id in new[] { "America/Sao_Paulo", "Pacific/Apia", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/Berlin" })
        {
            var zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            var dates = Enumerable.Range(0, 300).Select(_ => new DateOnly(2008, 1, 1).AddDays(random.Next(0, 24 * 365))).ToList();
            dates.Add(new DateOnly(2011, 12, 29));
            dates.Add(new DateOnly(2011, 12, 30));   // Apia has no such local day
            dates.Add(new DateOnly(2018, 11, 4));    // São Paulo's midnight did not happen
            dates.AddRange(dates.Take(10));          // listed twice
            var set = new DatesSet(zone, dates);
            foreach (var d in dates.Take(120).Concat([new DateOnly(2011, 12, 29), new DateOnly(2011, 12, 30), new DateOnly(2018, 11, 3), new DateOnly(2018, 11, 4)]))
            {
                var midnight = WallClock.ToInstant(d.ToDateTime(TimeOnly.MinValue), zone);
                foreach (var t in new[] { midnight - TimeSpan.FromTicks(1), midnight, midnight + TimeSpan.FromTicks(1), midnight + TimeSpan.FromHours(random.Next(-50, 50)) })
                {
                    var before = t + Span(random);
                    Assert.True(Oracle(set, t, before) == set.FirstStart(t, before), $"{id} from {t:o} before {before:o}");
                }
            }
        }
    }

    /// <summary>A window deny still names the first opening, now found by <see cref="ITimeSet.FirstStart"/>: for a
    /// weekly window whose opening falls in Berlin's spring-forward gap (02:30 on 2026-03-29 is 03:00 CEST), one that
    /// lies wholly in the gap that day (02:00–02:45 is empty, so it next opens a week later), and a cron window whose
    /// occurrence lies in the autumn overlap (02:30 on 2026-10-25 opens at its first occurrence).</summary>
    [Fact]
    public void WindowDeny_NamesOpeningsInDstGapsAndOverlaps()
    {
        var policy = TestSupport.Compile("""
            version: 1
            timezone: Europe/Berlin
            identities: { any: { repository: "**" } }
            roles: { r: { members: [any] } }
            windows:
              sunday-night: { weekly: { days: [sun], from: "02:30", until: "04:00" } }
              late-sunday: { schedule: "30 2 * * 0", duration: 30m }
              in-the-gap: { weekly: { days: [sun], from: "02:00", until: "02:45" } }
            environments:
              e: { deploy: { roles: [r], windows: [sunday-night] } }
              f: { deploy: { roles: [r], windows: [late-sunday] } }
              g: { deploy: { roles: [r], windows: [in-the-gap] } }
            """);
        var gap = TestSupport.Decide(policy, Deploy, TestSupport.Claims(), "2026-03-28T12:00:00Z");
        Assert.Equal(TestSupport.At("2026-03-29T01:00:00Z"), gap.NextAllowedAt);
        Assert.Equal("outside window `sunday-night` (Europe/Berlin); next opens 2026-03-29T03:00:00+02:00", TestSupport.CheckOf(gap, "window").Message);

        var overlap = TestSupport.Decide(policy, Deploy with { Environment = "f" }, TestSupport.Claims(), "2026-10-24T12:00:00Z");
        Assert.Equal(TestSupport.At("2026-10-25T00:30:00Z"), overlap.NextAllowedAt);
        Assert.Equal("outside window `late-sunday` (Europe/Berlin); next opens 2026-10-25T02:30:00+02:00", TestSupport.CheckOf(overlap, "window").Message);

        var empty = TestSupport.Decide(policy, Deploy with { Environment = "g" }, TestSupport.Claims(), "2026-03-28T12:00:00Z");
        Assert.Equal(TestSupport.At("2026-04-05T00:00:00Z"), empty.NextAllowedAt);
        Assert.Equal("outside window `in-the-gap` (Europe/Berlin); next opens 2026-04-05T02:00:00+02:00", TestSupport.CheckOf(empty, "window").Message);
    }

    /// <summary>A cron occurrence in the spring-forward gap (02:30 on 2026-03-29 in Berlin) opens at the first instant
    /// after it, 03:00 CEST: the same instant whose wall time is 03:00. Asked from exactly that instant, the walk must
    /// start before its wall time to find the 02:30 occurrence (the slack), and asked a tick before, too.</summary>
    [Fact]
    public void CronSet_OccurrenceInTheGap_IsFoundFromTheInstantItOpensAt()
    {
        var env = TestSupport.Compile("""
            version: 1
            timezone: Europe/Berlin
            identities: { any: { repository: "**" } }
            roles: { r: { members: [any] } }
            windows:
              half-past-two: { schedule: "30 2 * * *", duration: 30m }
            environments:
              e: { deploy: { roles: [r], windows: [half-past-two] } }
            """).FindEnvironment("e")!;
        var set = env.Deploy!.Windows[0].Set;
        var opens = TestSupport.At("2026-03-29T01:00:00Z");
        foreach (var t in new[] { opens - TimeSpan.FromTicks(1), opens })
        {
            Assert.Equal(opens, set.FirstStart(t, t + TimeSpan.FromDays(1)));
            Assert.Equal(Oracle(set, t, t + TimeSpan.FromDays(1)), set.FirstStart(t, t + TimeSpan.FromDays(1)));
        }
        Assert.Equal(TestSupport.At("2026-03-30T00:30:00Z"), set.FirstStart(opens + TimeSpan.FromTicks(1), opens + TimeSpan.FromDays(2)));
    }

    /// <summary>The least start in [t, before) of a non-empty interval the set lists for that span.</summary>
    private static DateTimeOffset? Oracle(ITimeSet set, DateTimeOffset t, DateTimeOffset before)
    {
        var all = new List<OpenInterval>();
        set.AddIntervals(t, before, all);
        return all.Where(i => i.End > i.Start && i.Start >= t && i.Start < before).Select(i => (DateTimeOffset?)i.Start).Min();
    }

    /// <summary>Anywhere in 2026–2027 or within three days of one of the zone's transitions there, and each opening
    /// near such an instant, a tick before it and a tick after.</summary>
    private static IEnumerable<DateTimeOffset> Instants(Random random, ITimeSet set, TimeZoneInfo zone)
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var transitions = Enumerable.Range(1, 2 * 365 * 24).Select(h => start.AddHours(h))
            .Where(u => zone.GetUtcOffset(u) != zone.GetUtcOffset(u.AddHours(-1))).ToList();
        for (var i = 0; i < 8; i++)
        {
            var t = transitions.Count > 0 && i % 2 == 1
                ? transitions[random.Next(transitions.Count)].AddMinutes(random.Next(-3 * 24 * 60, 3 * 24 * 60))
                : start.AddMinutes(random.Next(0, 2 * 365 * 24 * 60)).AddSeconds(random.Next(60));
            yield return t;
            var near = new List<OpenInterval>();
            set.AddIntervals(t - TimeSpan.FromDays(3), t + TimeSpan.FromDays(3), near);
            foreach (var o in near.Take(3))
            {
                yield return o.Start - TimeSpan.FromTicks(1);
                yield return o.Start;
                yield return o.Start + TimeSpan.FromTicks(1);
            }
        }
    }

    private static TimeSpan Span(Random random) => random.Next(6) switch
    {
        0 => TimeSpan.Zero,
        1 => TimeSpan.FromTicks(1),
        2 => TimeSpan.FromMinutes(random.Next(1, 600)),
        3 => TimeSpan.FromDays(random.Next(1, 10)),
        4 => Timeline.Horizon,
        _ => TimeSpan.FromDays(random.Next(10, 800)),
    };
}
