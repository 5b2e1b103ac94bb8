namespace DeployGate.Engine.Scheduling;

/// <summary>Set algebra on half-open intervals <c>[start, end)</c>.</summary>
internal static class Intervals
{
    /// <summary>Sorts, drops empty intervals, and merges overlapping or touching ones.</summary>
    public static List<OpenInterval> Normalize(List<OpenInterval> items)
    {
        items.RemoveAll(i => i.End <= i.Start);
        items.Sort((a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<OpenInterval>(items.Count);
        foreach (var i in items)
        {
            if (merged.Count > 0 && i.Start <= merged[^1].End)
            {
                var last = merged[^1];
                if (i.End > last.End) merged[^1] = last with { End = i.End };
            }
            else
            {
                merged.Add(i);
            }
        }
        return merged;
    }

    /// <summary>Both inputs normalized; returns <paramref name="a"/> minus <paramref name="b"/>, normalized.</summary>
    public static List<OpenInterval> Subtract(List<OpenInterval> a, List<OpenInterval> b)
    {
        var result = new List<OpenInterval>(a.Count);
        var j = 0;
        foreach (var interval in a)
        {
            var start = interval.Start;
            var end = interval.End;
            while (j < b.Count && b[j].End <= start) j++;
            for (var k = j; k < b.Count && b[k].Start < end && start < end; k++)
            {
                if (b[k].Start > start) result.Add(new OpenInterval(start, b[k].Start));
                if (b[k].End > start) start = b[k].End;
            }
            if (start < end) result.Add(new OpenInterval(start, end));
        }
        return result;
    }

    /// <summary>Normalized intervals clipped to [from, to).</summary>
    public static List<OpenInterval> Clip(List<OpenInterval> items, DateTimeOffset from, DateTimeOffset to)
    {
        var result = new List<OpenInterval>(items.Count);
        foreach (var i in items)
        {
            var s = i.Start < from ? from : i.Start;
            var e = i.End > to ? to : i.End;
            if (s < e) result.Add(new OpenInterval(s, e));
        }
        return result;
    }
}
