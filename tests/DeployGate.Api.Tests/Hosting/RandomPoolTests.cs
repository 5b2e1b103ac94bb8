namespace DeployGate.Api.Tests.Hosting;

/// <summary>The pooled generator behind decision ids and grant ids: no bytes handed out twice, on one thread
/// across many refills and across threads, whatever the draw sizes.</summary>
public sealed class RandomPoolTests
{
    [Theory]
    [InlineData(10)]    // decision ids: does not divide the pool, so draws straddle the refill point
    [InlineData(16)]    // grant ids: divides it exactly
    [InlineData(64)]    // the largest pooled draw
    [InlineData(65)]    // straight to the generator
    public void Draws_AreNeverRepeated_OnOneThread(int size)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var buffer = new byte[size];
        for (var i = 0; i < 20_000; i++)   // ~200-1,300 refills
        {
            RandomPool.Fill(buffer);
            Assert.True(seen.Add(Convert.ToHexString(buffer)), $"draw {i} of {size} bytes repeated an earlier one");
        }
    }

    [Fact]
    public void Draws_AreNeverRepeated_AcrossThreads()
    {
        var draws = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
        {
            Span<byte> buffer = stackalloc byte[10];
            for (var i = 0; i < 5_000; i++)
            {
                RandomPool.Fill(buffer);
                draws.Add(Convert.ToHexString(buffer));
            }
        });
        Assert.Equal(40_000, draws.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Draws_AreNotAllZero_AndUseEveryByteValue()
    {
        var counts = new int[256];
        var buffer = new byte[16];
        for (var i = 0; i < 4_000; i++)
        {
            RandomPool.Fill(buffer);
            foreach (var b in buffer) counts[b]++;
        }
        Assert.All(counts, c => Assert.InRange(c, 1, 1_000));   // 64,000 bytes: ~250 of each value expected
    }
}
