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
        Console.WriteLine($"# in-process decision latency: {count:N0} decisions per scenario after a warm-up of every scenario until the JIT settled, then {count / 10:N0} or more of its own, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine($"{"scenario",-23} {"verdict",-8} {"p50 µs",8} {"p99 µs",8} {"p99.9 µs",9} {"mean µs",8} {"bytes/op",9}");
        var samples = new long[count];
        var scenarios = Scenario.All().Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)).ToArray();
        // Every scenario first, round-robin, until the JIT has settled over all of them (the first one measured no
        // longer pays for the tiers of the code the others share), then each again just before it is measured.
        var next = 0;
        JitSettle.WarmUp(() => scenarios[next++ % scenarios.Length].Decide(), count / 10);
        foreach (var s in scenarios)
        {
            var verdict = s.VerdictLabel;
            JitSettle.WarmUp(() => s.Decide(), count / 10);
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
