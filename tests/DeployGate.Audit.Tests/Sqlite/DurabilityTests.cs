using Xunit;

namespace DeployGate.Audit.Tests.Sqlite;

public sealed class DurabilityTests : IDisposable
{
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task CompletedAppends_SurviveReopen_AndTheChainContinues()
    {
        await using (var log = _store.Open())
        {
            await log.AppendAllAsync(DecisionLogExtensions.Range(1, 5));
        }
        var tipBefore = _store.Scalar<string>("SELECT hash FROM decision_log WHERE seq = 5");

        await using (var reopened = _store.Open())
        {
            Assert.Equal(5, (await reopened.QueryAsync(new DecisionQuery())).Count);
            await reopened.AppendAllAsync(DecisionLogExtensions.Range(6, 3));

            var verification = await reopened.VerifyAsync();
            Assert.True(verification.Intact, verification.Problem);
            Assert.Equal(8, verification.RecordsChecked);
        }

        Assert.Equal(tipBefore, _store.Scalar<string>("SELECT prev_hash FROM decision_log WHERE seq = 6"));
        Assert.Equal(8L, _store.Scalar<long>("SELECT max(seq) FROM decision_log"));
    }

    [Fact]
    public async Task CompletedAppend_IsVisibleToAnotherConnection_BeforeDispose()
    {
        // Nothing is flushed at dispose: a completed append is already committed and synced.
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());

        Assert.Equal(1L, _store.Scalar<long>("SELECT count(*) FROM decision_log"));
    }

    [Fact]
    public async Task TwoLogsOnOneFile_InterleaveWithoutForkingTheChain()
    {
        // As after a crash-restart overlap, or `deploygate audit` beside `serve`: each batch re-reads the tip under the write lock.
        await using var first = _store.Open();
        await using var second = _store.Open();

        await Task.WhenAll(Enumerable.Range(1, 200).Select(n =>
            Task.Run(async () => await (n % 2 == 0 ? first : second).AppendAsync(TestDecisions.Make(n), new AuditContext()))));

        Assert.Equal(200L, _store.Scalar<long>("SELECT max(seq) FROM decision_log"));
        var verification = await first.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(200, verification.RecordsChecked);
    }

    [Fact]
    public async Task Dispose_CommitsEverythingAlreadyQueued()
    {
        var log = _store.Open();
        var appends = Enumerable.Range(1, 50).Select(n => log.AppendAsync(TestDecisions.Make(n), new AuditContext()).AsTask()).ToArray();

        await log.DisposeAsync();

        Assert.All(appends, a => Assert.True(a.IsCompletedSuccessfully));
        Assert.Equal(50L, _store.Scalar<long>("SELECT count(*) FROM decision_log"));
    }
}
