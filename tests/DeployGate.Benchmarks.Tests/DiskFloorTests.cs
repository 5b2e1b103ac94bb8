using DeployGate.Benchmarks.Http;

namespace DeployGate.Benchmarks.Tests;

/// <summary>The disk's open-loop floor: arrivals weigh each sync by how long it lasted.</summary>
public sealed class DiskFloorTests
{
    [Fact]
    public void EvenSyncs_AnArrivalWaitsForTheRestOfOneAndTheWholeNext()
    {
        var ends = Enumerable.Range(0, 1_001).Select(i => i * 100.0).ToArray();   // 1,000 syncs of 100 µs
        var waits = DiskFloor.OpenLoopWaits(ends, 10_000);
        Assert.Equal(10_000, waits.Length);
        Assert.True(waits[0] > 100 && waits[^1] <= 200, $"{waits[0]}..{waits[^1]}");
        var p = DiskFloor.Of(waits);
        Assert.InRange(p.P50, 145, 155);
        Assert.InRange(p.P99, 195, 200);
    }

    [Fact]
    public void OneLongSync_SetsTheOpenLoopP99_ThoughItIsOneCallInAThousand()
    {
        // 999 syncs of 100 µs and one of 20 ms in the middle: per call the p99 is 100 µs; per arrival the stall is
        // 20 ms of ~120 ms, so a sixth of the arrivals wait for it.
        var durations = Enumerable.Repeat(100.0, 1_000).ToArray();
        durations[500] = 20_000;
        var ends = new double[durations.Length + 1];
        for (var i = 0; i < durations.Length; i++) ends[i + 1] = ends[i] + durations[i];

        var perCall = (double[])durations.Clone();
        Array.Sort(perCall);
        Assert.Equal(100, DiskFloor.Of(perCall).P99);

        var waits = DiskFloor.OpenLoopWaits(ends, 100_000);
        var p = DiskFloor.Of(waits);
        Assert.True(p.P99 > 10_000, $"open-loop p99 {p.P99} µs");
        Assert.True(p.P50 < 200, $"open-loop p50 {p.P50} µs");
        Assert.True(waits[^1] <= 20_100 && waits[^1] > 20_000, $"longest wait {waits[^1]} µs: the sync before the stall's rest, then the stall");
        var share = waits.Count(w => w > 200) / (double)waits.Length;
        Assert.InRange(share, 20_000 / 119_900.0 - 0.01, 20_100 / 119_900.0 + 0.01);
    }

    [Fact]
    public void TooFewSyncs_AreRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => DiskFloor.OpenLoopWaits([0, 100], 10));

    [Fact]
    public void Measure_SyncsARealFile_AtLeastAHundredTimes_AndRemovesIt()
    {
        var path = Path.Combine(Path.GetTempPath(), "dg-diskfloor-" + Guid.NewGuid().ToString("N"));
        var result = DiskFloor.Measure(path, TimeSpan.FromMilliseconds(1));
        Assert.False(File.Exists(path));
        Assert.True(result.Syncs >= 100, $"{result.Syncs} syncs");
        Assert.True(result.PerSync.P50 > 0 && result.PerSync.P50 <= result.PerSync.P99 && result.PerSync.P99 <= result.PerSync.P999);
        // Waiting for the rest of one sync and the whole next is never shorter than a typical sync.
        Assert.True(result.OpenLoop.P50 >= result.PerSync.P50 / 2 && result.OpenLoop.P99 <= result.OpenLoop.P999);
    }
}
