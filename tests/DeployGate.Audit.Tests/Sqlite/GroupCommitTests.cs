using Xunit;

namespace DeployGate.Audit.Tests.Sqlite;

public sealed class GroupCommitTests : IDisposable
{
    private const int Appends = 1_000;
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task ConcurrentAppends_FromManyTasks_GetGaplessSeqAndIntactChain()
    {
        await using var log = _store.Open();

        await Task.WhenAll(Enumerable.Range(1, Appends).Select(n =>
            Task.Run(async () => await log.AppendAsync(TestDecisions.Make(n), new AuditContext()))));

        AssertGapless(Appends);
        var verification = await log.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(Appends, verification.RecordsChecked);
        Assert.InRange(log.CommitCount, 1, Appends);
    }

    [Fact]
    public async Task ConcurrentAppends_WhileWriterWaitsForLock_AreCommittedInFewTransactions()
    {
        await using var log = _store.Open();
        // Another connection holds SQLite's write lock, so the writer's first transaction waits while all
        // 1,000 appends queue behind it: the queue then drains in one transaction (MaxBatch is 1,024).
        using var blocker = _store.Raw();
        using var hold = blocker.BeginTransaction(deferred: false);
        using var queued = new CountdownEvent(Appends);

        var appends = Enumerable.Range(1, Appends).Select(n => Task.Run(async () =>
        {
            var append = log.AppendAsync(TestDecisions.Make(n), new AuditContext());
            queued.Signal();   // AppendAsync has queued the record when it returns
            await append;
        })).ToArray();

        Assert.True(queued.Wait(TimeSpan.FromSeconds(60)), "appends were not queued");
        Assert.DoesNotContain(appends, a => a.IsCompleted);   // nothing completes before its commit
        hold.Rollback();
        await Task.WhenAll(appends);

        AssertGapless(Appends);
        Assert.True((await log.VerifyAsync()).Intact);
        Assert.InRange(log.CommitCount, 1, 2);
    }

    private void AssertGapless(long count)
    {
        Assert.Equal(count, _store.Scalar<long>("SELECT count(*) FROM decision_log"));
        Assert.Equal(1L, _store.Scalar<long>("SELECT min(seq) FROM decision_log"));
        Assert.Equal(count, _store.Scalar<long>("SELECT max(seq) FROM decision_log"));
        Assert.Equal(count, _store.Scalar<long>("SELECT count(DISTINCT decision_id) FROM decision_log"));
    }
}
