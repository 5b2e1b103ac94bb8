using System.Runtime.CompilerServices;
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

    /// <summary>The earliest start in [<paramref name="t"/>, <paramref name="before"/>) of a non-empty interval of the
    /// set, or null when none starts there: the least such start of what <see cref="AddIntervals"/> gives for that span,
    /// found without building the list. Each set walks its openings in order and stops at the first: wall-clock times
    /// map to instants in their order (SPEC §2: a gap to the instant after it, an overlap to its first occurrence), so
    /// later openings start no earlier.</summary>
    DateTimeOffset? FirstStart(DateTimeOffset t, DateTimeOffset before);
}

/// <summary><c>weekly: { days, from, until }</c>: opens at <c>from</c> on each listed day (wall clock);
/// an <c>until</c> at or before <c>from</c> closes on the following day; <c>24:00</c> is the end of the day.</summary>
internal sealed class WeeklySet(TimeZoneInfo zone, int dayMask, TimeSpan from, TimeSpan until) : ITimeSet
{
    private readonly ZoneOffsets _zone = ZoneOffsets.Of(zone);
    // The close as a time after the opening day's midnight: until, or until on the next day when it is at or before from.
    private readonly TimeSpan _closeAfterMidnight = CloseAfterMidnight(from, until);

    private bool Opens(DateTime day) => (dayMask & (1 << (int)day.DayOfWeek)) != 0;

    private readonly int _spanKey = LocalSpans.KeyHash(ZoneOffsets.Of(zone), from, CloseAfterMidnight(from, until));

    private static TimeSpan CloseAfterMidnight(TimeSpan from, TimeSpan until) => until <= from ? TimeSpan.FromDays(1) + until : until;

    private OpenInterval Occurrence(DateTime day) => LocalSpans.Of(_zone, _spanKey, day, from, _closeAfterMidnight);

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

    /// <summary>From the day before <paramref name="t"/>'s local date (an opening of any earlier day is at least a day of
    /// wall time before it) to the first listed day that opens at or after it.</summary>
    public DateTimeOffset? FirstStart(DateTimeOffset t, DateTimeOffset before)
    {
        var last = WallClock.ToWall(before, _zone).Date.AddDays(1);
        for (var day = WallClock.ToWall(t, _zone).Date.AddDays(-1); day <= last; day = day.AddDays(1))
        {
            if (!Opens(day)) continue;
            var o = Occurrence(day);
            if (o.Start >= before) return null;
            if (o.Start >= t && o.End > o.Start) return o.Start;
        }
        return null;
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

    /// <summary>The occurrences from <see cref="Slack"/> before <paramref name="t"/>'s wall time, until the first that
    /// opens at or after it.</summary>
    public DateTimeOffset? FirstStart(DateTimeOffset t, DateTimeOffset before)
    {
        if (duration <= TimeSpan.Zero) return null;
        var wall = WallClock.ToWall(t, _zone) - Slack;
        var end = WallClock.ToWall(before, _zone) + Slack;
        while (true)
        {
            var next = schedule.GetNextOccurrence(wall, end);
            if (next >= end) return null;
            var open = WallClock.ToInstant(next, _zone);
            if (open >= before) return null;
            if (open >= t) return open;
            wall = next;
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

    public DateTimeOffset? FirstStart(DateTimeOffset t, DateTimeOffset before) =>
        from >= t && from < before && until > from ? from : null;
}

/// <summary><c>dates</c>: whole local days, each <c>[00:00, next day 00:00)</c> in the zone.</summary>
internal sealed class DatesSet(TimeZoneInfo zone, IReadOnlyCollection<DateOnly> dates) : ITimeSet
{
    private readonly ZoneOffsets _zone = ZoneOffsets.Of(zone);
    private readonly HashSet<DateOnly> _dates = [.. dates];
    private readonly DateOnly[] _sorted = [.. dates.Order()];
    private static readonly TimeSpan WholeDay = TimeSpan.FromDays(1);

    private readonly int _spanKey = LocalSpans.KeyHash(ZoneOffsets.Of(zone), TimeSpan.Zero, WholeDay);

    private OpenInterval Day(DateOnly d) => LocalSpans.Of(_zone, _spanKey, d.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero, WholeDay);

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

    /// <summary>Only the dates that can overlap [from, to), found by binary search. Wall-clock times map to instants in
    /// their order (SPEC §2: a gap to the instant after it, an overlap to its first occurrence), so a date before
    /// <paramref name="from"/>'s local date ends at or before the midnight that begins it, which is at or before
    /// <paramref name="from"/>; and once a date's interval starts at or after <paramref name="to"/>, every later one does.
    /// A calendar of years of holidays costs the dates near the span, not all of them (400 dates: 6.5 → 1.1 µs per
    /// decision at arbitrary instants).</summary>
    public void AddIntervals(DateTimeOffset from, DateTimeOffset to, List<OpenInterval> into)
    {
        var k = Array.BinarySearch(_sorted, DateOnly.FromDateTime(WallClock.ToWall(from, _zone)));
        for (k = k < 0 ? ~k : k; k < _sorted.Length; k++)
        {
            var i = Day(_sorted[k]);
            if (i.Start >= to) break;
            if (i.End > from) into.Add(i);
        }
    }

    /// <summary>From <paramref name="t"/>'s local date (found by binary search; an earlier date's midnight is before it)
    /// to the first listed day that starts at or after it and is not empty (a day a zone skipped is).</summary>
    public DateTimeOffset? FirstStart(DateTimeOffset t, DateTimeOffset before)
    {
        var k = Array.BinarySearch(_sorted, DateOnly.FromDateTime(WallClock.ToWall(t, _zone)));
        for (k = k < 0 ? ~k : k; k < _sorted.Length; k++)
        {
            var i = Day(_sorted[k]);
            if (i.Start >= before) return null;
            if (i.Start >= t && i.End > i.Start) return i.Start;
        }
        return null;
    }
}

/// <summary>The instants of a span of wall-clock time on one local day in a zone, <c>[day + from, day + until)</c>
/// (until may pass midnight), remembered process-wide: a pure function of (zone, day, from, until), so weekly windows
/// and freezes and whole-day dates share entries across sets and policies (every repository's business hours in
/// Berlin are the same intervals). It saves the two wall-clock conversions (~100 ns each) that a deny's search for
/// the next opening repeats for each day it passes.
///
/// 4,096 slots by a hash of the key: 32 KiB of slots and at most 4,096 entries of 64 B for the whole process, whatever
/// the number of policies (a cache per set, of 512 days, doubled a compiled example policy's memory, 19.5 → 41.8 KiB).
/// A slot holds the last key written to it; a lookup compares the whole key, so a collision is a miss, never a wrong
/// interval. An entry is immutable and published with one reference write, so readers on other threads see a whole
/// entry or none; a miss allocates one entry, a hit nothing.</summary>
internal static class LocalSpans
{
    private sealed class Entry(ZoneOffsets zone, long day, long from, long until, OpenInterval interval)
    {
        public ZoneOffsets Zone { get; } = zone;
        public long Day { get; } = day;
        public long From { get; } = from;
        public long Until { get; } = until;
        public OpenInterval Interval { get; } = interval;
    }

    internal const int Slots = 4096;
    private static readonly Entry?[] s_slots = new Entry?[Slots];

    /// <summary>The part of a slot's number that depends on (zone, from, until): a set computes it once. The day is added
    /// to it, so the days a search walks through lie in neighbouring slots.</summary>
    public static int KeyHash(ZoneOffsets zone, TimeSpan from, TimeSpan until) =>
        HashCode.Combine(RuntimeHelpers.GetHashCode(zone), from.Ticks, until.Ticks);

    /// <param name="keyHash"><see cref="KeyHash"/> of the same zone, from and until.</param>
    public static OpenInterval Of(ZoneOffsets zone, int keyHash, DateTime day, TimeSpan from, TimeSpan until)
    {
        var number = day.Ticks / TimeSpan.TicksPerDay;
        var slot = (int)(unchecked((uint)keyHash + (uint)number) & (Slots - 1));
        var entry = Volatile.Read(ref s_slots[slot]);
        if (entry is not null && ReferenceEquals(entry.Zone, zone) && entry.Day == number && entry.From == from.Ticks && entry.Until == until.Ticks)
            return entry.Interval;
        var interval = new OpenInterval(WallClock.ToInstant(day.Date + from, zone), WallClock.ToInstant(day.Date + until, zone));
        Volatile.Write(ref s_slots[slot], new Entry(zone, number, from.Ticks, until.Ticks, interval));
        return interval;
    }
}
