using System.Diagnostics;
using System.Globalization;
using DeployGate.Engine;

namespace DeployGate.Benchmarks;

/// <summary>Per-decision latency: each decision timed on its own (Stopwatch timestamps), so p50/p99/p99.9
/// are of single decisions, not of iteration means. Includes the ~20–40 ns cost of reading the timer.</summary>
internal static class LatencyRun
{
    public static int Run(int count, string? only = null)
    {
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine($"# in-process decision latency: {count:N0} decisions per scenario after {count / 10:N0} warm-up, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine($"{"scenario",-23} {"verdict",-8} {"p50 µs",8} {"p99 µs",8} {"p99.9 µs",9} {"mean µs",8} {"bytes/op",9}");
        var samples = new long[count];
        foreach (var s in Scenario.All().Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)))
        {
            var verdict = s.VerdictLabel;
            for (var i = 0; i < count / 10; i++) s.Decide();
            GC.Collect();
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < count; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                s.Decide();
                samples[i] = Stopwatch.GetTimestamp() - t0;
            }
            var bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)count;
            Array.Sort(samples);
            double Us(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
            var mean = samples.Average(x => Us(x));
            Console.WriteLine(string.Create(ci,
                $"{s.Name,-23} {verdict,-8} {Us(samples[count / 2]),8:F3} {Us(samples[(int)(count * 0.99)]),8:F3} {Us(samples[(int)(count * 0.999)]),9:F3} {mean,8:F3} {bytes,9:F0}"));
        }
        return 0;
    }
}
