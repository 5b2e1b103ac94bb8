using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace DeployGate.Benchmarks.Tests;

/// <summary>The benchmarks' warm-up: at least the minimum, then whole batches until the JIT has been quiet.</summary>
public sealed class JitSettleTests
{
    [Fact]
    public void WarmUp_CallsAtLeastTheMinimum_ThenWholeBatches()
    {
        long seen = 0;
        var calls = JitSettle.WarmUp(() => seen++, minimum: 2_500, batch: 300);
        Assert.Equal(seen, calls);
        Assert.True(calls >= 2_500 + 300, $"{calls}: the minimum, then at least one batch while it waits for quiet");
        Assert.Equal(0, (calls - 2_500) % 300);
    }

    [Fact]
    public void WarmUp_GoesOn_WhileMethodsAreStillBeingCompiled()
    {
        // A step that makes the JIT compile a new method every 200 ms (a generic method over a new value type is a new
        // method body), four times: 800 ms in all, longer than the quiet the warm-up waits for, so a warm-up that
        // stopped at a fixed time or count would end before the last. It must go on until the last, and then end.
        var compiledAt = new List<long>();
        long calls = 0;
        var last = Stopwatch.GetTimestamp();
        var result = JitSettle.WarmUp(() =>
        {
            calls++;
            if (compiledAt.Count < Fresh.Count && Stopwatch.GetElapsedTime(last) >= TimeSpan.FromMilliseconds(200))
            {
                Fresh[compiledAt.Count]();
                compiledAt.Add(calls);
                last = Stopwatch.GetTimestamp();
            }
        }, minimum: 1, batch: 1_000);
        Assert.Equal(Fresh.Count, compiledAt.Count);   // it went on until every new method had been compiled
        Assert.True(result > compiledAt[^1], $"{result} calls; the last new method at call {compiledAt[^1]}");
    }

    private static readonly IReadOnlyList<Action> Fresh =
    [
        () => Touch<V1>(), () => Touch<V2>(), () => Touch<V3>(), () => Touch<V4>(),
    ];

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Touch<T>() where T : struct => Unsafe.SizeOf<T>();

    private readonly record struct V1(int A);
    private readonly record struct V2(long A);
    private readonly record struct V3(int A, int B, int C);
    private readonly record struct V4(long A, long B);
}
