using NCrontab;

namespace DeployGate.Engine.Scheduling;

/// <summary>A set of instants made of half-open intervals. <see cref="Contains"/> and
/// <see cref="AddIntervals"/> are two views of the same set and must never disagree.</summary>
internal interface ITimeSet
{
    /// <summary>Whether <paramref name="t"/> is in the set, and if so an interval of the set that covers it (each of
    /// its instants is in the set; <see cref="Policies.TimeRule"/> remembers it).</summary>
    bool Contains(DateTimeOffset t, out OpenInterval covering);

    /// <summary>Adds every interval of the set that overlaps [from, to) (unclipped).</summary>
    void AddIntervals(DateTimeOffset from, DateTimeOffset to, List<OpenInterval> into);
}

/// <summary><c>weekly: { days, from, until }</c>: opens at <c>from</c> on each listed day (wall clock);
/// an <c>until</c> at or before <c>from</c> closes on the following day; <c>24:00</c> is the end of the day.</summary>
internal sealed class WeeklySet(TimeZoneInfo zone, int dayMask, TimeSpan from, TimeSpan until) : ITimeSet
{
    private readonly ZoneOffsets _zone = ZoneOffsets.Of(zone);
    private readonly bool _crossesMidnight = until <= from;
    private readonly DayCache _occurrences = new();

    private bool Opens(DateTime day) => (dayMask & (1 << (int)day.DayOfWeek)) != 0;

    private OpenInterval Occurrence(DateTime day)
    {
        if (_occurrences.TryGet(day, out var cached)) return cached;
        var open = WallClock.ToInstant(day + from, _zone);
        var close = WallClock.ToInstant((_crossesMidnight ? day.AddDays(1) : day) + until, _zone);
        return _occurrences.Put(day, new OpenInterval(open, close));
    }

    public bool Contains(DateTimeOffset t, out OpenInterval covering)
    {
        var today = WallClock.ToWall(t, _zone).Date;
        // An occurrence lasts less than two days of wall time, so only yesterday's and today's can cover t.
        for (var day = today.AddDays(-1); day <= today; day = day.AddDays(1))
        {
            if (!Opens(day)) continue;
            var o = Occurrence(day);
            if (o.Start <= t && t < o.End)
            {
                covering = o;
                return true;
            }
        }
        covering = default;
        return false;
    }

    public void AddIntervals(DateTimeOffset from, DateTimeOffset to, List<OpenInterval> into)
    {
        var first = WallClock.ToWall(from, _zone).Date.AddDays(-2);
        var last = WallClock.ToWall(to, _zone).Date.AddDays(1);
        for (var day = first; day <= last; day = day.AddDays(1))
        {
            if (!Opens(day)) continue;
            var o = Occurrence(day);
            if (o.End > o.Start && o.End > from && o.Start < to) into.Add(o);
        }
    }
}

/// <summary><c>schedule</c> + <c>duration</c>: opens at each cron occurrence (wall clock in the zone),
/// stays open for <c>duration</c> of elapsed time. Wall times that map to the same instant (a gap, an
/// overlap) open once.</summary>
internal sealed class CronSet(TimeZoneInfo zone, CrontabSchedule schedule, TimeSpan duration) : ITimeSet
{
    private readonly ZoneOffsets _zone = ZoneOffsets.Of(zone);
    // Wall time runs at most a DST shift (≤ 2 h in any zone in use) behind or ahead of elapsed time;
    // starting the occurrence scan this much earlier finds every opening that can still be open.
    private static readonly TimeSpan Slack = TimeSpan.FromHours(4);

    public bool Contains(DateTimeOffset t, out OpenInterval covering)
    {
        covering = default;
        var wall = WallClock.ToWall(t - duration, _zone) - Slack;
        var end = WallClock.ToWall(t, _zone) + Slack;
        while (true)
        {
            var next = schedule.GetNextOccurrence(wall, end);
            if (next >= end) return false;
            var open = WallClock.ToInstant(next, _zone);
            if (open > t) return false;
            if (t < open + duration)
            {
                covering = new OpenInterval(open, open + duration);
                return true;
            }
            wall = next;
        }
    }

    public void AddIntervals(DateTimeOffset from, DateTimeOffset to, List<OpenInterval> into)
    {
        var wall = WallClock.ToWall(from - duration, _zone) - Slack;
        var end = WallClock.ToWall(to, _zone) + Slack;
        DateTimeOffset? previous = null;
        while (true)
        {
            var next = schedule.GetNextOccurrence(wall, end);
            if (next >= end) return;
            wall = next;
            var open = WallClock.ToInstant(next, _zone);
            if (open >= to) return;
            if (open == previous) continue; // opens once per instant
            previous = open;
            var close = open + duration;
            if (close > from) into.Add(new OpenInterval(open, close));
        }
    }
}

/// <summary>Absolute <c>from</c>/<c>until</c>.</summary>
internal sealed class AbsoluteSet(DateTimeOffset from, DateTimeOffset until) : ITimeSet
{
    public DateTimeOffset From => from;
    public DateTimeOffset Until => until;

    public bool Contains(DateTimeOffset t, out OpenInterval covering)
    {
        covering = new OpenInterval(from, until);
        return from <= t && t < until;
    }

    public void AddIntervals(DateTimeOffset start, DateTimeOffset end, List<OpenInterval> into)
    {
        if (until > start && from < end) into.Add(new OpenInterval(from, until));
    }
}

/// <summary><c>dates</c>: whole local days, each <c>[00:00, next day 00:00)</c> in the zone.</summary>
internal sealed class DatesSet(TimeZoneInfo zone, IReadOnlyCollection<DateOnly> dates) : ITimeSet
{
    private readonly ZoneOffsets _zone = ZoneOffsets.Of(zone);
    private readonly HashSet<DateOnly> _dates = [.. dates];
    private readonly DateOnly[] _sorted = [.. dates.Order()];
    private readonly DayCache _days = new();

    private OpenInterval Day(DateOnly d)
    {
        var day = d.ToDateTime(TimeOnly.MinValue);
        if (_days.TryGet(day, out var cached)) return cached;
        return _days.Put(day, new OpenInterval(
            WallClock.ToInstant(day, _zone),
            WallClock.ToInstant(d.AddDays(1).ToDateTime(TimeOnly.MinValue), _zone)));
    }

    public bool Contains(DateTimeOffset t, out OpenInterval covering)
    {
        var today = DateOnly.FromDateTime(WallClock.ToWall(t, _zone));
        for (var d = today.AddDays(-1); d <= today.AddDays(1); d = d.AddDays(1))
        {
            if (!_dates.Contains(d)) continue;
            var i = Day(d);
            if (i.Start <= t && t < i.End)
            {
                covering = i;
                return true;
            }
        }
        covering = default;
        return false;
    }

    public void AddIntervals(DateTimeOffset from, DateTimeOffset to, List<OpenInterval> into)
    {
        foreach (var d in _sorted)
        {
            var i = Day(d);
            if (i.End > from && i.Start < to) into.Add(i);
        }
    }
}

/// <summary>Remembers a set's interval for recently asked local days (a pure function of the day, so this only saves
/// the time-zone conversions, ~100 ns each, that a deny's search for the next opening repeats). 512 slots by day
/// number (4 KiB per set), so decisions anywhere within a year and a third keep their days: with 32, decisions at
/// arbitrary instants of a year missed and allocated an entry each time (~218 B per decision in the bench's
/// `*-anytime`). An entry is immutable and published with one reference write, so readers on other threads see a whole
/// entry or none. A miss allocates one small entry; a hit allocates nothing.</summary>
internal sealed class DayCache
{
    private sealed class Entry(DateTime day, OpenInterval interval)
    {
        public DateTime Day { get; } = day;
        public OpenInterval Interval { get; } = interval;
    }

    private readonly Entry?[] _slots = new Entry?[512];

    private static int Slot(DateTime day) => (int)((ulong)(day.Ticks / TimeSpan.TicksPerDay) & 511);

    public bool TryGet(DateTime day, out OpenInterval interval)
    {
        var entry = Volatile.Read(ref _slots[Slot(day)]);
        if (entry is not null && entry.Day == day)
        {
            interval = entry.Interval;
            return true;
        }
        interval = default;
        return false;
    }

    public OpenInterval Put(DateTime day, OpenInterval interval)
    {
        Volatile.Write(ref _slots[Slot(day)], new Entry(day, interval));
        return interval;
    }
}
