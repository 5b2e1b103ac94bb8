using Xunit;

namespace DeployGate.Audit.Tests.Sqlite;

/// <summary>Fail closed: an append whose batch did not commit faults; it never completes successfully.</summary>
public sealed class FailureTests : IDisposable
{
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    private static async Task<Task[]> AppendConcurrently(DeployGate.Audit.Sqlite.SqliteDecisionLog log, int from, int count)
    {
        var appends = Enumerable.Range(from, count)
            .Select(n => Task.Run(async () => await log.AppendAsync(TestDecisions.Make(n), new AuditContext())))
            .ToArray();
        try
        {
            await Task.WhenAll(appends);
        }
        catch (AuditStoreException)
        {
            // Inspected per task below.
        }
        return appends;
    }

    [Fact]
    public async Task FailingInsert_FaultsEveryWaitingAppend_AndNothingIsKept_ThenRecovers()
    {
        await using var log = _store.Open();
        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 3));
        _store.Exec("CREATE TRIGGER broken_disk BEFORE INSERT ON decision_log BEGIN SELECT RAISE(ABORT, 'simulated i/o failure'); END;");

        var appends = await AppendConcurrently(log, 100, 50);

        Assert.All(appends, a =>
        {
            Assert.True(a.IsFaulted);
            var error = Assert.IsType<AuditStoreException>(a.Exception!.InnerException);
            Assert.Equal(StoreCodes.Unavailable, error.Code);
            Assert.DoesNotContain('\n', error.Message);
        });
        Assert.Equal(3L, _store.Scalar<long>("SELECT count(*) FROM decision_log"));

        _store.Exec("DROP TRIGGER broken_disk");
        await log.AppendAsync(TestDecisions.Make(4), new AuditContext());

        Assert.Equal(4L, _store.Scalar<long>("SELECT max(seq) FROM decision_log"));
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task TableDroppedUnderTheLog_FaultsAppends()
    {
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());
        _store.Exec("DROP TABLE decision_log");

        var appends = await AppendConcurrently(log, 2, 20);

        Assert.All(appends, a => Assert.Equal(StoreCodes.Unavailable, Assert.IsType<AuditStoreException>(a.Exception!.InnerException).Code));
        var again = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(99), new AuditContext()));
        Assert.Contains("no such table", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedTipHash_RefusesToExtendTheChain()
    {
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());
        _store.Tamper("UPDATE decision_log SET hash = 'nope' WHERE seq = 1");

        var refused = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(2), new AuditContext()));

        Assert.Equal(StoreCodes.ChainBroken, refused.Code);
        Assert.Equal("cannot append: record `1` hash is not 64 lowercase hex digits", refused.Message);
    }
}
