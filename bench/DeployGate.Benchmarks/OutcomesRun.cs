using System.Diagnostics;
using System.Globalization;
using DeployGate.Engine;

namespace DeployGate.Benchmarks;

/// <summary>The decisions of the scenarios that ask at many instants (<c>*-anytime</c>), by outcome: the verdict and
/// the checks that failed (<c>+next</c> when a <c>next_allowed_at</c> was worked out). Each decision timed on its own,
/// with its allocation read around it (that read adds a few tens of nanoseconds): which kinds of decision a mixed
/// scenario's figures are made of, and which kind its tail is.</summary>
internal static class OutcomesRun
{
    public static int Run(int rounds, string? only)
    {
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine($"# decisions by outcome: each scenario's instants {rounds} times after 25 rounds of warm-up or more (until the JIT settled), .NET {Environment.Version}");
        Console.WriteLine($"{"scenario",-23} {"outcome",-30} {"share",6} {"p50 µs",8} {"p99 µs",8} {"bytes/op",9}");
        foreach (var s in Scenario.All().Where(s => s.Instants is not null && (only is null || s.Name.Contains(only, StringComparison.Ordinal))))
        {
            var count = s.Instants!.Length;
            // The outcome at each instant is a pure function of it (what the policy remembers changes no answer), so
            // it is read once, in the first warm-up round; the timed rounds write into arrays allocated before them.
            var kinds = new string[count];
            for (var k = 0; k < count; k++) kinds[k] = Outcome(s.Decide());
            // ~100,000 decisions or more, in whole rounds (the timed ones start at the first instant), until the JIT settled.
            JitSettle.WarmUp(() => { for (var k = 0; k < count; k++) s.Decide(); }, 24, batch: 1);
            var ticks = new long[rounds * count];
            var allocated = new long[rounds * count];
            GC.Collect();
            for (var i = 0; i < ticks.Length; i++)
            {
                var a0 = GC.GetAllocatedBytesForCurrentThread();
                var t0 = Stopwatch.GetTimestamp();
                s.Decide();
                ticks[i] = Stopwatch.GetTimestamp() - t0;
                allocated[i] = GC.GetAllocatedBytesForCurrentThread() - a0;
            }
            var byOutcome = Enumerable.Range(0, ticks.Length)
                .GroupBy(i => kinds[i % count], StringComparer.Ordinal)
                .Select(g => (Outcome: g.Key, Ticks: g.Select(i => ticks[i]).Order().ToArray(), Bytes: g.Average(i => (double)allocated[i])))
                .OrderByDescending(o => o.Ticks.Length);
            double Us(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
            foreach (var (outcome, sorted, bytes) in byOutcome)
            {
                Console.WriteLine(string.Create(ci,
                    $"{s.Name,-23} {outcome,-30} {sorted.Length / (double)ticks.Length,6:P0} {Us(sorted[sorted.Length / 2]),8:F3} {Us(sorted[(int)(sorted.Length * 0.99)]),8:F3} {bytes,9:F0}"));
            }
        }
        return 0;
    }

    private static string Outcome(Decision d)
    {
        var failed = string.Join(",", d.Checks.Where(c => c.Result == CheckResult.Fail).Select(c => c.Name));
        return DecisionJson.VerdictName(d.Verdict) + (failed.Length > 0 ? $" ({failed})" : "") + (d.NextAllowedAt is null ? "" : " +next");
    }
}
