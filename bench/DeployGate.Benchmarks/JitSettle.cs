using System.Diagnostics;
using System.Runtime;

namespace DeployGate.Benchmarks;

/// <summary>Warm-up until the tiered JIT has settled, not for a fixed count. The runtime promotes a method to its
/// optimized tier in the background, ~100 ms after the last new tier-0 method (each new one restarts that delay), so a
/// warm-up of a fixed 100,000 decisions (~50 ms on a fast minute) could end before it: the first scenario measured then
/// ran partly in tier-0 code beside the JIT's own thread (its p99 1.5–3× the next scenario's).</summary>
internal static class JitSettle
{
    /// <summary>No method compiled for this long: the code being measured is the optimized one.</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);

    /// <summary>Bounds a warm-up that never settles (a scenario that keeps meeting new code), so a run still ends.</summary>
    private static readonly TimeSpan Longest = TimeSpan.FromSeconds(20);

    /// <summary>Calls <paramref name="step"/> at least <paramref name="minimum"/> times, then on, <paramref name="batch"/>
    /// calls at a time, until no method was compiled (by any thread) for <see cref="Quiet"/>, or <see cref="Longest"/>
    /// has passed. Returns the calls made.</summary>
    public static long WarmUp(Action step, long minimum, int batch = 1_000)
    {
        ArgumentNullException.ThrowIfNull(step);
        var started = Stopwatch.GetTimestamp();
        long calls = 0;
        for (; calls < minimum; calls++) step();
        var compiled = JitInfo.GetCompiledMethodCount();
        var quietSince = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(quietSince) < Quiet && Stopwatch.GetElapsedTime(started) < Longest)
        {
            for (var i = 0; i < batch; i++, calls++) step();
            var now = JitInfo.GetCompiledMethodCount();
            if (now != compiled)
            {
                compiled = now;
                quietSince = Stopwatch.GetTimestamp();
            }
        }
        return calls;
    }
}
