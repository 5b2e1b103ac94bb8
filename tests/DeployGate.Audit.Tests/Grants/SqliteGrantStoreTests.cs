using DeployGate.Audit.Grants;
using DeployGate.Audit.Sqlite;

namespace DeployGate.Audit.Tests.Grants;

/// <summary>Redemptions and revocations (SPEC §7, §9): single use, revocation wins, idempotent revoke, atomic across
/// store instances that share one file (as separate processes would).</summary>
public sealed class SqliteGrantStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private static GrantRedemption Redemption(string jti, DateTimeOffset? at = null) =>
        new(jti, "dec_1", "acme/web", "4242", T0.AddMinutes(10), at ?? T0);

    [Fact]
    public async Task Redeem_FirstWins_SecondIsAlreadyRedeemed()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);

        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g1")));
        Assert.Equal(RedeemOutcome.AlreadyRedeemed, await store.RedeemAsync(Redemption("g1", T0.AddSeconds(1))));
        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g2")));
        Assert.Equal(new GrantStatus(T0, null), await store.GetStatusAsync("g1"));
        Assert.True((await store.GetStatusAsync("unknown")).IsUnused);
    }

    [Fact]
    public async Task Revoke_BeforeRedeem_WinsAndIsIdempotent()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);

        await store.RevokeAsync(new GrantRevocation("g1", "acme/web", "4242", T0));
        await store.RevokeAsync(new GrantRevocation("g1", "acme/web", "4242", T0.AddMinutes(1)));

        Assert.Equal(RedeemOutcome.Revoked, await store.RedeemAsync(Redemption("g1", T0.AddMinutes(2))));
        Assert.Equal(new GrantStatus(null, T0), await store.GetStatusAsync("g1"));   // the first revocation's instant is kept
    }

    [Fact]
    public async Task Revoke_AfterRedeem_IsRecorded()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        await store.RedeemAsync(Redemption("g1"));

        await store.RevokeAsync(new GrantRevocation("g1", "acme/web", "4242", T0.AddMinutes(1)));

        Assert.Equal(new GrantStatus(T0, T0.AddMinutes(1)), await store.GetStatusAsync("g1"));
        Assert.Equal(RedeemOutcome.Revoked, await store.RedeemAsync(Redemption("g1")));
    }

    [Fact]
    public async Task ConcurrentRedeems_AcrossStoreInstancesSharingTheFile_ExactlyOneSucceeds()
    {
        // Many connections write at once through two store instances, as several gate instances would; the
        // row is read and written under SQLite's file lock, which also serializes separate processes.
        using var a = new SqliteGrantStore(_temp.DatabasePath);
        using var b = new SqliteGrantStore(_temp.DatabasePath);
        var stores = new[] { a, b };

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => stores[i % 2].RedeemAsync(Redemption("shared")))));

        Assert.Single(outcomes, o => o == RedeemOutcome.Redeemed);
        Assert.Equal(39, outcomes.Count(o => o == RedeemOutcome.AlreadyRedeemed));
    }

    [Fact]
    public async Task ARedeem_WaitsForAnotherProcesssWriteTransaction_AndSeesWhatItCommitted()
    {
        // Store instances of one process take turns before SQLite's lock (FileWriteLock), so the test above no longer
        // meets it; another process does. A raw connection is that process: it holds SQLite's write lock with a
        // redemption of its own not yet committed.
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        using var other = _temp.Raw();
        using (var begin = other.CreateCommand())
        {
            begin.CommandText = """
                BEGIN IMMEDIATE;
                INSERT INTO grant_uses (jti, repository, run_id, expires_at, redeemed_at)
                VALUES ('g1', 'acme/web', '4242', '2026-11-23T10:10:00.000Z', '2026-11-23T10:00:00.000Z');
                """;
            begin.ExecuteNonQuery();
        }
        // The call itself comes back while the lock is held (the busy timeout it must not wait out is 10 s): a store
        // thread waits, not the caller's.
        var call = Task.Factory.StartNew(() => store.RedeemAsync(Redemption("g1")), CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Default);
        Assert.True(await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(5))) == call, "the redeem waited for SQLite's lock on the caller's thread");
        var redeem = await call;
        await Task.Delay(300);   // time to finish, were it not waiting
        Assert.False(redeem.IsCompleted);
        using (var commit = other.CreateCommand())
        {
            commit.CommandText = "COMMIT";
            commit.ExecuteNonQuery();
        }
        Assert.Equal(RedeemOutcome.AlreadyRedeemed, await redeem.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, store.InlineTransactions);
    }

    [Fact]
    public async Task ALoneRedeem_IsCommittedOnTheCallersThread_BeforeTheCallReturns()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);

        var first = store.RedeemAsync(Redemption("g1"));
        Assert.True(first.IsCompleted, "a redeem with nothing in its way is done when the call returns");
        Assert.Equal(RedeemOutcome.Redeemed, await first);
        var second = store.RedeemAsync(Redemption("g1", T0.AddSeconds(1)));
        Assert.True(second.IsCompleted);
        Assert.Equal(RedeemOutcome.AlreadyRedeemed, await second);
        Assert.Equal(2, store.InlineTransactions);
        Assert.Equal(2, store.WriteTransactions);

        // Committed durably on the kept connection: another connection, and a store opened afresh, see it.
        Assert.Equal(1, _temp.Scalar<long>("SELECT count(*) FROM grant_uses WHERE jti = 'g1' AND redeemed_at IS NOT NULL"));
        store.Dispose();
        using var reopened = new SqliteGrantStore(_temp.DatabasePath);
        Assert.Equal(new GrantStatus(T0, null), await reopened.GetStatusAsync("g1"));
    }

    [Fact]
    public async Task AFailedInlineTransaction_FailsItsRedeem_AndTheNextStartsOnAFreshConnection()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g1")));   // the connection is open now

        _temp.Exec("ALTER TABLE grant_uses RENAME TO grant_uses_gone");
        var failed = store.RedeemAsync(Redemption("g2"));
        var ex = await Assert.ThrowsAsync<AuditStoreException>(() => failed.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(StoreCodes.Unavailable, ex.Code);
        _temp.Exec("ALTER TABLE grant_uses_gone RENAME TO grant_uses");

        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g3")).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True((await store.GetStatusAsync("g2")).IsUnused);
        Assert.Equal(2, store.WriteTransactions);
        Assert.Equal(2, store.InlineTransactions);   // the failed one is not counted
    }

    [Fact]
    public async Task ManyConcurrentRedeems_OfOneStore_RedeemEachGrantOnce()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        // 400 callers at once, 200 grants each asked twice: exactly one of each pair redeems, whether a caller commits
        // inline or a store thread commits what queued behind it (how many do which depends on the machine's timing;
        // RedeemsThatWaitTogether_… makes them queue).
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Task.Run(() => store.RedeemAsync(Redemption($"g{i % 200}")))))
            .WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(200, outcomes.Count(o => o == RedeemOutcome.Redeemed));
        Assert.Equal(200, outcomes.Count(o => o == RedeemOutcome.AlreadyRedeemed));
        Assert.Equal(200, _temp.Scalar<long>("SELECT count(*) FROM grant_uses WHERE redeemed_at IS NOT NULL"));
        Assert.InRange(store.InlineTransactions, 1, store.WriteTransactions);
    }

    [Fact]
    public async Task ARedeemAfterDispose_StillCommits_OnAConnectionOfItsOwn()
    {
        var store = new SqliteGrantStore(_temp.DatabasePath);
        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g1")));
        store.Dispose();
        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g2")));
        store.Dispose();
        Assert.Equal(2, _temp.Scalar<long>("SELECT count(*) FROM grant_uses WHERE redeemed_at IS NOT NULL"));
    }

    [Fact]
    public async Task RedeemsThatWaitTogether_CommitInOneTransaction_EachInTheOrderAsked()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        await store.RevokeAsync(new GrantRevocation("revoked", "acme/web", "4242", T0));
        var writeLock = FileWriteLock.For(store.DatabasePath);
        var before = store.WriteTransactions;
        Task<RedeemOutcome> first;
        var rest = new List<Task<RedeemOutcome>>();
        using (writeLock.Enter())
        {
            first = store.RedeemAsync(Redemption("g-first"));
            await TestWait.UntilAsync(() => writeLock.Queued == 2);   // its transaction waits for the turn; the others queue behind it
            for (var i = 0; i < 60; i++) rest.Add(store.RedeemAsync(Redemption($"g{i}")));
            rest.Add(store.RedeemAsync(Redemption("twice")));
            rest.Add(store.RedeemAsync(Redemption("twice", T0.AddSeconds(1))));
            rest.Add(store.RedeemAsync(Redemption("revoked")));
            rest.Add(store.RedeemAsync(Redemption("g-first")));
        }
        Assert.Equal(RedeemOutcome.Redeemed, await first.WaitAsync(TimeSpan.FromSeconds(30)));
        var outcomes = await Task.WhenAll(rest).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, store.WriteTransactions - before);   // the first alone, then the 64 that waited together
        Assert.All(outcomes[..60], o => Assert.Equal(RedeemOutcome.Redeemed, o));
        Assert.Equal([RedeemOutcome.Redeemed, RedeemOutcome.AlreadyRedeemed, RedeemOutcome.Revoked, RedeemOutcome.AlreadyRedeemed], outcomes[60..]);
        Assert.Equal(new GrantStatus(T0, null), await store.GetStatusAsync("twice"));   // the first of the two is the one kept
    }

    [Fact]
    public async Task ALoneRevoke_IsCommittedOnTheCallersThread_BeforeTheCallReturns()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);

        var revoke = store.RevokeAsync(new GrantRevocation("g1", "acme/web", "4242", T0));
        Assert.True(revoke.IsCompleted, "a revoke with nothing in its way is done when the call returns");
        await revoke;
        Assert.Equal(1, store.InlineTransactions);
        Assert.Equal(1, _temp.Scalar<long>("SELECT count(*) FROM grant_uses WHERE jti = 'g1' AND revoked_at IS NOT NULL"));
    }

    [Fact]
    public async Task RevokesAndRedeemsThatWaitTogether_CommitInOneTransaction_InTheOrderAsked()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        var writeLock = FileWriteLock.For(store.DatabasePath);
        using var cancel = new CancellationTokenSource();
        var before = store.WriteTransactions;
        Task<RedeemOutcome> lead, redeemAfterRevoke, redeemBeforeRevoke, redeemOfCancelled;
        Task revokeA, revokeB, revokeC1, revokeC2, cancelled;
        using (writeLock.Enter())
        {
            lead = store.RedeemAsync(Redemption("lead"));
            await TestWait.UntilAsync(() => writeLock.Queued == 2);   // its transaction waits for the turn; the rest queue
            revokeA = store.RevokeAsync(new GrantRevocation("a", "acme/web", "4242", T0));
            redeemAfterRevoke = store.RedeemAsync(Redemption("a"));
            redeemBeforeRevoke = store.RedeemAsync(Redemption("b"));
            revokeB = store.RevokeAsync(new GrantRevocation("b", "acme/web", "4242", T0.AddMinutes(1)));
            revokeC1 = store.RevokeAsync(new GrantRevocation("c", "acme/web", "4242", T0));
            revokeC2 = store.RevokeAsync(new GrantRevocation("c", "acme/web", "4242", T0.AddMinutes(5)));
            cancelled = store.RevokeAsync(new GrantRevocation("d", "acme/web", "4242", T0), cancel.Token);
            redeemOfCancelled = store.RedeemAsync(Redemption("d"));
            await cancel.CancelAsync();
        }
        Assert.Equal(RedeemOutcome.Redeemed, await lead.WaitAsync(TimeSpan.FromSeconds(30)));
        await Task.WhenAll(revokeA, revokeB, revokeC1, revokeC2).WaitAsync(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(RedeemOutcome.Revoked, await redeemAfterRevoke);
        Assert.Equal(RedeemOutcome.Redeemed, await redeemBeforeRevoke);
        Assert.Equal(RedeemOutcome.Redeemed, await redeemOfCancelled);   // the revocation cancelled before its transaction was not made
        Assert.Equal(2, store.WriteTransactions - before);   // the lead alone, then the eight that waited together
        Assert.Equal(new GrantStatus(T0, T0.AddMinutes(1)), await store.GetStatusAsync("b"));
        Assert.Equal(new GrantStatus(null, T0), await store.GetStatusAsync("c"));   // the first revocation's instant is kept
    }

    [Fact]
    public async Task AFailedTransaction_FailsTheRevokesInIt_WithTheStoresError()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g1")));
        _temp.Exec("ALTER TABLE grant_uses RENAME TO grant_uses_gone");
        var ex = await Assert.ThrowsAsync<AuditStoreException>(() => store.RevokeAsync(new GrantRevocation("g1", "acme/web", "4242", T0)).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(StoreCodes.Unavailable, ex.Code);
        Assert.Contains("cannot revoke", ex.Message, StringComparison.Ordinal);
        _temp.Exec("ALTER TABLE grant_uses_gone RENAME TO grant_uses");
        Assert.Equal(new GrantStatus(T0, null), await store.GetStatusAsync("g1"));
        await store.RevokeAsync(new GrantRevocation("g1", "acme/web", "4242", T0.AddMinutes(1))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(new GrantStatus(T0, T0.AddMinutes(1)), await store.GetStatusAsync("g1"));
    }

    [Fact]
    public async Task ARedeemCancelledBeforeItsTransaction_IsNotMade()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        var writeLock = FileWriteLock.For(store.DatabasePath);
        using var cancel = new CancellationTokenSource();
        Task<RedeemOutcome> first, cancelled, kept;
        using (writeLock.Enter())
        {
            first = store.RedeemAsync(Redemption("g1"));
            await TestWait.UntilAsync(() => writeLock.Queued == 2);
            cancelled = store.RedeemAsync(Redemption("g2"), cancel.Token);
            kept = store.RedeemAsync(Redemption("g3"));
            await cancel.CancelAsync();
        }
        Assert.Equal(RedeemOutcome.Redeemed, await first.WaitAsync(TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(RedeemOutcome.Redeemed, await kept.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True((await store.GetStatusAsync("g2")).IsUnused);
    }

    [Fact]
    public async Task AFailedTransaction_FailsEveryRedeemInIt_AndTheNextOnesStillRun()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        var writeLock = FileWriteLock.For(store.DatabasePath);
        Task<RedeemOutcome> first;
        var batch = new List<Task<RedeemOutcome>>();
        using (writeLock.Enter())
        {
            first = store.RedeemAsync(Redemption("g1"));
            await TestWait.UntilAsync(() => writeLock.Queued == 2);
            for (var i = 0; i < 5; i++) batch.Add(store.RedeemAsync(Redemption($"b{i}")));
        }
        Assert.Equal(RedeemOutcome.Redeemed, await first.WaitAsync(TimeSpan.FromSeconds(30)));
        await Task.WhenAll(batch.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(batch, t => Assert.Equal(TaskStatus.RanToCompletion, t.Status));   // the control: a batch that commits

        // Now one whose transaction fails (its table is gone, as with a file changed under the gate): every redemption
        // in it fails with the store's error; none answers as redeemed.
        var failing = new List<Task<RedeemOutcome>>();
        using (writeLock.Enter())
        {
            var lead = store.RedeemAsync(Redemption("lead"));
            failing.Add(lead);
            await TestWait.UntilAsync(() => writeLock.Queued == 2);
            for (var i = 0; i < 5; i++) failing.Add(store.RedeemAsync(Redemption($"f{i}")));
            _temp.Exec("ALTER TABLE grant_uses RENAME TO grant_uses_gone");
        }
        foreach (var t in failing) await Assert.ThrowsAsync<AuditStoreException>(() => t.WaitAsync(TimeSpan.FromSeconds(30)));
        _temp.Exec("ALTER TABLE grant_uses_gone RENAME TO grant_uses");
        Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("after")).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True((await store.GetStatusAsync("f0")).IsUnused);
    }

    [Fact]
    public async Task SharesTheAuditFile_WithTheDecisionLog()
    {
        await using (var log = new SqliteDecisionLog(_temp.DatabasePath))
        {
            using var store = new SqliteGrantStore(_temp.DatabasePath);
            await log.AppendAsync(TestDecisions.Make(1), new AuditContext());
            Assert.Equal(RedeemOutcome.Redeemed, await store.RedeemAsync(Redemption("g1")));
            Assert.True((await log.VerifyAsync()).Intact);
        }
        using var reopened = new SqliteGrantStore(_temp.DatabasePath);
        Assert.Equal(RedeemOutcome.AlreadyRedeemed, await reopened.RedeemAsync(Redemption("g1")));
    }

    [Fact]
    public async Task Purge_RemovesRowsOfExpiredGrantsOnly()
    {
        using var store = new SqliteGrantStore(_temp.DatabasePath);
        await store.RedeemAsync(Redemption("old"));                                             // expires T0+10m
        await store.RedeemAsync(Redemption("new") with { ExpiresAt = T0.AddHours(1) });
        await store.RevokeAsync(new GrantRevocation("revoked", "acme/web", "4242", T0));        // kept for 1 h

        Assert.Equal(1, await store.PurgeAsync(T0.AddMinutes(30)));

        Assert.True((await store.GetStatusAsync("old")).IsUnused);
        Assert.NotNull((await store.GetStatusAsync("new")).RedeemedAt);
        Assert.NotNull((await store.GetStatusAsync("revoked")).RevokedAt);
    }

    [Fact]
    public void MemoryPath_IsRefused()
    {
        var ex = Assert.Throws<AuditStoreException>(() => new SqliteGrantStore(":memory:"));
        Assert.Equal(StoreCodes.InvalidLocation, ex.Code);
    }
}
