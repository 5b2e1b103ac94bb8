using System.Diagnostics;

namespace DeployGate.Benchmarks.Http;

/// <summary>The disk's own floor under every durable figure, measured where the audit files go: a 4 KiB block overwritten
/// and <c>fsync</c>ed back to back (what SQLite's WAL commit does, with fewer bytes), for a fixed time.
/// <para>Two readings of the same syncs. <see cref="PerSync"/>: each call's time, the floor of one lone request.
/// <see cref="OpenLoop"/>: what a request arriving at an evenly spread instant waits for when its answer needs the next
/// sync after the one in progress (a gate of zero cost that group-commits back to back). The second weighs each sync by
/// how long it lasted, as arrivals do: one 20 ms stall among 10,000 syncs is 0.01 % of the calls but, at 100 µs a sync
/// otherwise, 2 % of the time, so it sets an open loop's p99 where a per-call p99 does not see it.</para></summary>
internal static class DiskFloor
{
    internal sealed record Result(int Syncs, Percentiles PerSync, Percentiles OpenLoop);

    internal readonly record struct Percentiles(double P50, double P99, double P999);

    /// <summary>Arrival instants sampled for <see cref="OpenLoop"/>, spread evenly over the run.</summary>
    internal const int Arrivals = 100_000;

    /// <summary>Syncs back to back for <paramref name="duration"/> (at least 100) on a file at <paramref name="path"/>,
    /// deleted afterwards.</summary>
    public static Result Measure(string path, TimeSpan duration)
    {
        var block = new byte[4096];
        var ends = new List<long>(65_536);
        var durations = new List<long>(65_536);
        using (var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None))
        {
            for (var i = 0; i < 16; i++) file.Write(block);
            file.Flush(flushToDisk: true);
            ends.Add(Stopwatch.GetTimestamp());
            var stopAt = ends[0] + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            for (var i = 0; ends[^1] < stopAt || i < 100; i++)
            {
                block[0] = unchecked((byte)i);
                file.Position = i % 16 * 4096;
                file.Write(block);
                var t0 = Stopwatch.GetTimestamp();
                file.Flush(flushToDisk: true);
                var end = Stopwatch.GetTimestamp();
                durations.Add(end - t0);
                ends.Add(end);
            }
        }
        File.Delete(path);
        var perSync = durations.Select(Us).ToArray();
        Array.Sort(perSync);
        var first = ends[0];
        return new Result(durations.Count, Of(perSync), Of(OpenLoopWaits([.. ends.Select(e => Us(e - first))], Arrivals)));
    }

    /// <summary>For syncs that ended at <paramref name="endsUs"/> (ascending; each began where the one before ended), the
    /// wait of <paramref name="arrivals"/> requests arriving at evenly spread instants from the first end to the last but
    /// one: a request arriving during sync <c>i</c> is answered when sync <c>i + 1</c> ends. Sorted ascending.</summary>
    internal static double[] OpenLoopWaits(double[] endsUs, int arrivals)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(endsUs.Length, 3);
        ArgumentOutOfRangeException.ThrowIfLessThan(arrivals, 1);
        var from = endsUs[0];
        var span = endsUs[^2] - from;
        var waits = new double[arrivals];
        var i = 1;   // the sync in progress at t: the first that ends after t
        for (var k = 0; k < arrivals; k++)
        {
            var t = from + span * k / arrivals;
            while (endsUs[i] <= t) i++;
            waits[k] = endsUs[i + 1] - t;
        }
        Array.Sort(waits);
        return waits;
    }

    /// <summary>p50, p99 and p99.9 of an ascending array (nearest rank).</summary>
    internal static Percentiles Of(double[] sorted) =>
        new(At(sorted, 0.5), At(sorted, 0.99), At(sorted, 0.999));

    private static double At(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * q))];

    private static double Us(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
}
