using Xunit;

namespace DeployGate.Audit.Tests;

/// <summary>The SQLite stores' threads: work runs there and not on the pool, results, exceptions and cancellation
/// reach the caller, and a body that blocks holds a store thread, not a pool worker.</summary>
public sealed class StoreWorkTests
{
    [Fact]
    public async Task Work_RunsOnAStoreThread_NotOnThePool()
    {
        var (name, pooled) = await StoreWork.Run(() => (Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));

        Assert.Equal(StoreWork.ThreadName, name);
        Assert.False(pooled);
    }

    [Fact]
    public async Task AsyncBody_RunsToItsEndOnTheStoreThread()
    {
        var names = await StoreWork.Run(async () =>
        {
            var before = Thread.CurrentThread.Name;
            await Task.CompletedTask;   // as SQLite's async calls: already complete
            return (before, after: Thread.CurrentThread.Name);
        });

        Assert.Equal((StoreWork.ThreadName, StoreWork.ThreadName), names);
    }

    [Fact]
    public async Task ResultAndException_ReachTheCaller()
    {
        Assert.Equal(42, await StoreWork.Run(() => 42));
        static int Fail() => throw new AuditStoreException(StoreCodes.Unavailable, "disk gone");
        var ex = await Assert.ThrowsAsync<AuditStoreException>(() => StoreWork.Run(Fail));
        Assert.Equal("disk gone", ex.Message);
    }

    [Fact]
    public async Task TokenCancelledBeforeTheStart_CancelsTheTask_AndTheWorkNeverRuns()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var ran = false;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => StoreWork.Run(() => ran = true, cts.Token));
        Assert.False(ran);
    }

    [Fact]
    public async Task BlockedStoreWork_LeavesThePoolFree()
    {
        using var release = new ManualResetEventSlim();
        var blocked = StoreWork.Run(() => release.Wait(TimeSpan.FromSeconds(30)));
        try
        {
            // A pool work item still runs while the store thread is held (a commit waiting for its fsync, say).
            Assert.True(await Task.Run(() => true).WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.False(blocked.IsCompleted);
        }
        finally
        {
            release.Set();
        }
        Assert.True(await blocked);
    }

    [Fact]
    public async Task CallersContinuation_DoesNotRunOnAStoreThread()
    {
        await StoreWork.Run(() => 0);

        Assert.NotEqual(StoreWork.ThreadName, Thread.CurrentThread.Name);
    }
}
