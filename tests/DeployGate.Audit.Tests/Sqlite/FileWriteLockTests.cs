using DeployGate.Audit.Grants;
using DeployGate.Audit.Jobs;
using DeployGate.Audit.Jobs.Sqlite;
using DeployGate.Audit.Sqlite;

namespace DeployGate.Audit.Tests.Sqlite;

/// <summary>The stores sharing one SQLite file take turns at writing in this process (<see cref="FileWriteLock"/>)
/// instead of meeting in SQLite's lock, where the loser sleeps in a busy handler: one writer at a time, in the order
/// they asked; every write of the audit log, the grant store and the review jobs takes its turn, and reads do not.</summary>
public sealed class FileWriteLockTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void For_TheSamePath_IsTheSameLock_AndAnotherPathAnother()
    {
        var path = Path.GetFullPath(_temp.DatabasePath);
        Assert.Same(FileWriteLock.For(path), FileWriteLock.For(path));
        Assert.NotSame(FileWriteLock.For(path), FileWriteLock.For(path + "-other"));
    }

    [Fact]
    public async Task Turns_AreOneAtATime_InTheOrderAsked_AndMayEndOnAnotherThread()
    {
        var writeLock = FileWriteLock.For(Path.GetFullPath(_temp.DatabasePath) + "-order");
        var first = writeLock.Enter();
        var order = new List<int>();
        var inside = 0;
        var overlapped = false;
        var waiters = new List<Task>();
        for (var i = 0; i < 5; i++)
        {
            var me = i;
            waiters.Add(Task.Factory.StartNew(() =>
            {
                using var turn = writeLock.Enter();
                if (Interlocked.Increment(ref inside) != 1) overlapped = true;
                lock (order) order.Add(me);
                Thread.Sleep(5);   // long enough that an overlapping turn would be seen
                Interlocked.Decrement(ref inside);
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
            // The next one asks only once this one is queued, so the order asked is 0, 1, 2, …
            await TestWait.UntilAsync(() => writeLock.Queued == me + 2);
        }
        Assert.Empty(order);   // all wait while the first turn is held
        await Task.Run(() => first.Dispose());   // given back from another thread than the one that took it
        await Task.WhenAll(waiters).WaitAsync(Long);
        Assert.Equal([0, 1, 2, 3, 4], order);
        Assert.False(overlapped);
        Assert.Equal(0, writeLock.Queued);
    }

    [Fact]
    public async Task DecisionLogAppend_WaitsForTheFilesTurn()
    {
        await using var log = _temp.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());   // schema and connection ready
        var turn = FileWriteLock.For(log.DatabasePath).Enter();
        var append = log.AppendAsync(TestDecisions.Make(2), new AuditContext()).AsTask();
        await TestWait.UntilAsync(() => FileWriteLock.For(log.DatabasePath).Queued == 2);   // the writer is waiting for its turn
        Assert.False(append.IsCompleted);
        turn.Dispose();
        await append.WaitAsync(Long);
        Assert.Equal(2, _temp.Scalar<long>("SELECT count(*) FROM decision_log"));
    }

    [Fact]
    public async Task GrantStoreWrites_WaitForTheFilesTurn_ButItsReadsDoNot()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        var writeLock = FileWriteLock.For(store.DatabasePath);
        var turn = writeLock.Enter();
        var redeem = store.RedeemAsync(new GrantRedemption("g1", "dec_1", "acme/web", "4242", T0.AddMinutes(10), T0));
        await TestWait.UntilAsync(() => writeLock.Queued == 2);
        Assert.True((await store.GetStatusAsync("g1").WaitAsync(Long)).IsUnused);   // a read goes by the waiting write
        // The revocation waits behind the redemption, in the store's own queue (its writes take the turn together).
        var revoke = store.RevokeAsync(new GrantRevocation("g2", "acme/web", "4242", T0));
        Assert.False(revoke.IsCompleted);
        Assert.Equal(2, writeLock.Queued);
        Assert.False(redeem.IsCompleted);
        turn.Dispose();
        Assert.Equal(RedeemOutcome.Redeemed, await redeem.WaitAsync(Long));
        await revoke.WaitAsync(Long);
        Assert.Equal(new GrantStatus(null, T0), await store.GetStatusAsync("g2"));
    }

    [Fact]
    public async Task ReviewJobWrites_WaitForTheFilesTurn_ButItsReadsDoNot()
    {
        var store = new SqliteReviewJobStore(_temp.DatabasePath);
        var writeLock = FileWriteLock.For(store.DatabasePath);
        var turn = writeLock.Enter();
        var add = store.TryAddAsync(new ReviewJob { DeliveryId = "d1", Payload = "{}", ReceivedAt = T0, DueAt = T0 });
        await TestWait.UntilAsync(() => writeLock.Queued == 2);
        Assert.Null(await store.GetAsync("d1").WaitAsync(Long));   // a read goes by the waiting write
        Assert.False(add.IsCompleted);
        turn.Dispose();
        Assert.True(await add.WaitAsync(Long));
        Assert.NotNull(await store.GetAsync("d1"));
    }
}
