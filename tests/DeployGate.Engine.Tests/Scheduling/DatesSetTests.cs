using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine.Tests.Scheduling;

/// <summary>A <c>dates</c> set reads only the dates near the span it is asked about (a binary search, not every date of
/// a calendar of years): it must still give exactly the whole local days that overlap the span, in zones whose midnights
/// fall in a DST gap (São Paulo until 2019), that skipped a whole day (Apia, 2011-12-30) or shift by half an hour.</summary>
public sealed class DatesSetTests
{
    private static readonly string[] ZoneIds =
        ["Europe/Berlin", "America/Sao_Paulo", "Pacific/Apia", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Kiritimati", "UTC"];

    [Fact]
    public void AddIntervals_GivesTheDaysOverlappingTheSpan_AsReadingEveryDateDoes()
    {
        var random = new Random(20261202);
        foreach (var id in ZoneIds)
        {
            var zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            var offsets = ZoneOffsets.Of(zone);
            // 400 dates over 2008–2031 with duplicates, listed out of order, as a policy may list them.
            var dates = Enumerable.Range(0, 400).Select(_ => new DateOnly(2008, 1, 1).AddDays(random.Next(0, 24 * 365))).ToList();
            dates.AddRange(dates.Take(20));
            dates.Add(new DateOnly(2011, 12, 30));   // Apia has no such local day
            dates.Add(new DateOnly(2018, 11, 4));    // São Paulo's midnight did not happen
            var set = new DatesSet(zone, dates);
            var whole = dates.Distinct().Order().Select(d => new OpenInterval(
                WallClock.ToInstant(d.ToDateTime(TimeOnly.MinValue), offsets),
                WallClock.ToInstant(d.AddDays(1).ToDateTime(TimeOnly.MinValue), offsets))).ToList();

            for (var i = 0; i < 3_000; i++)
            {
                var (from, to) = Span(random, dates, offsets);
                var expected = whole.Where(w => w.End > w.Start && w.End > from && w.Start < to).ToList();
                var found = new List<OpenInterval>();
                set.AddIntervals(from, to, found);
                var actual = found.Where(w => w.End > w.Start).Distinct().ToList();
                if (!actual.SequenceEqual(expected))
                    Assert.Fail($"{id} [{from:o}, {to:o}): [{string.Join(", ", actual)}], every date gives [{string.Join(", ", expected)}]");
            }
        }
    }

    /// <summary>Spans that start or end exactly at a listed day's local midnight, just inside or outside it, or
    /// anywhere; from a few minutes to weeks long, and empty.</summary>
    private static (DateTimeOffset From, DateTimeOffset To) Span(Random random, List<DateOnly> dates, ZoneOffsets zone)
    {
        var day = dates[random.Next(dates.Count)].AddDays(random.Next(-2, 3));
        var midnight = WallClock.ToInstant(day.ToDateTime(TimeOnly.MinValue), zone);
        var from = random.Next(4) switch
        {
            0 => midnight,
            1 => midnight - TimeSpan.FromSeconds(1),
            2 => midnight + TimeSpan.FromSeconds(1),
            _ => midnight + TimeSpan.FromMinutes(random.Next(-3 * 24 * 60, 3 * 24 * 60)),
        };
        var length = random.Next(5) switch
        {
            0 => TimeSpan.Zero,
            1 => TimeSpan.FromDays(random.Next(1, 4)),   // ends at a midnight when from is one (outside DST)
            2 => TimeSpan.FromMinutes(random.Next(1, 90)),
            _ => TimeSpan.FromMinutes(random.Next(1, 40 * 24 * 60)),
        };
        return (from, from + length);
    }
}
