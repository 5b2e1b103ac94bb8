using System.Text.Json;
using DeployGate.Engine;

namespace DeployGate.Audit.Tests.Shared;

/// <summary>The decision log contract (SPEC §9, docs/audit.md), written once and run against every store: each
/// provider has a concrete subclass (see <c>DecisionLogContracts.cs</c>) that supplies its <see cref="IStoreFixture"/>.</summary>
public abstract class DecisionLogContract : IAsyncLifetime
{
    private IStoreFixture? _store;

    protected IStoreFixture Store => _store ?? throw new InvalidOperationException("not initialised");

    protected abstract IStoreFixture CreateStore();

    public Task InitializeAsync()
    {
        _store = CreateStore();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_store is not null) await _store.DisposeAsync();
    }

    protected TestLog Open(TimeProvider? time = null) => new(Store.OpenLog(time), Store.BeforeQuery);

    // --- append and query ---

    [StoreFact]
    public async Task Append_ThenQuery_ReturnsStoredJsonNewestFirst()
    {
        var decisions = DecisionLogExtensions.Range(1, 3);
        await using var log = Open();
        await log.AppendAllAsync(decisions);

        var json = await log.QueryAsync(new DecisionQuery());

        Assert.Equal(decisions.Reverse().Select(TestDecisions.StoredJson), json);
    }

    [StoreFact]
    public async Task Append_StoresColumnsAndChainFields()
    {
        var time = new FixedTime(TestDecisions.T0.AddMinutes(1).AddTicks(5));
        await using (var log = Open(time))
        {
            await log.AppendAsync(TestDecisions.Make(1, verdict: Verdict.Allow), new AuditContext("webhook", "delivery-1"));
            await log.AppendAsync(TestDecisions.Make(2, repository: null), new AuditContext());
        }

        Task<T> Column<T>(string column, int seq) => Store.ScalarAsync<T>($"SELECT {column} FROM decision_log WHERE seq = {seq}");
        Assert.Equal("dec_00000000000000000000000001", await Column<string>("decision_id", 1));
        Assert.Equal("2026-11-22T10:15:01.0000000Z", await Column<string>("evaluated_at", 1));
        Assert.Equal("2026-11-22T10:16:00.0000005Z", await Column<string>("recorded_at", 1));
        Assert.Equal("acme/web", await Column<string>("repository", 1));
        Assert.Equal("production", await Column<string>("environment", 1));
        Assert.Equal("allow", await Column<string>("verdict", 1));
        Assert.Equal("run-1", await Column<string>("run_id", 1));
        Assert.Equal("webhook", await Column<string>("channel", 1));
        Assert.Equal("delivery-1", await Column<string>("delivery_id", 1));
        Assert.Equal(new string('0', 64), await Column<string>("prev_hash", 1));
        var first = await Column<string>("hash", 1);
        Assert.Matches("^[0-9a-f]{64}$", first);

        Assert.Equal(1L, await Store.ScalarAsync<long>("SELECT count(*) FROM decision_log WHERE seq = 2 AND repository IS NULL AND delivery_id IS NULL"));
        Assert.Equal("deny", await Column<string>("verdict", 2));
        Assert.Equal("api", await Column<string>("channel", 2));
        Assert.Equal(first, await Column<string>("prev_hash", 2));
        Assert.Equal(2L, await Store.ScalarAsync<long>("SELECT count(*) FROM decision_log"));
    }

    [StoreFact]
    public async Task Query_Filters_CombineAndCompareAsDocumented()
    {
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1, repository: "acme/web", environment: "production", verdict: Verdict.Allow), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(2, repository: "acme/web", environment: "staging", verdict: Verdict.Deny), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(3, repository: "acme/api", environment: "Production", verdict: Verdict.Deny), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(4, repository: "acme/web", environment: "production", verdict: Verdict.Deny), new AuditContext());

        async Task<string[]> Ids(DecisionQuery q) =>
            [.. (await log.QueryAsync(q)).Select(j => JsonDocument.Parse(j).RootElement.GetProperty("decision_id").GetString()![^1..])];

        Assert.Equal(["4", "2", "1"], await Ids(new DecisionQuery(Repository: "acme/web")));
        Assert.Empty(await Ids(new DecisionQuery(Repository: "ACME/web")));                  // repository: exact
        Assert.Equal(["4", "3", "1"], await Ids(new DecisionQuery(Environment: "PRODUCTION"))); // environment: case-insensitive
        Assert.Equal(["4", "3", "2"], await Ids(new DecisionQuery(Verdict: "deny")));
        Assert.Equal(["1"], await Ids(new DecisionQuery(Verdict: "allow")));
        Assert.Equal(["4", "3"], await Ids(new DecisionQuery(Since: TestDecisions.T0.AddSeconds(3))));  // inclusive
        Assert.Equal(["4"], await Ids(new DecisionQuery(Repository: "acme/web", Environment: "production", Verdict: "deny")));
        Assert.Empty(await Ids(new DecisionQuery(Repository: "acme/web", Since: TestDecisions.T0.AddDays(1))));
    }

    [StoreFact]
    public async Task Query_EnvironmentFolding_IsAsciiOnly()
    {
        // SQLite NOCASE folds ASCII only; PostgreSQL compares lower() under COLLATE "C", which does the same.
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1, environment: "prod-é"), new AuditContext());

        Assert.Single(await log.QueryAsync(new DecisionQuery(Environment: "PROD-é")));
        Assert.Empty(await log.QueryAsync(new DecisionQuery(Environment: "prod-É")));
    }

    [StoreFact]
    public async Task Query_Since_OrdersFractionalSecondsByTime()
    {
        // 10:15:00.5 is after 10:15:00 although "….5Z" sorts before "…Z" in the wire format; the stored form is fixed-width.
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1, at: TestDecisions.T0.AddMilliseconds(500)), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(2, at: TestDecisions.T0.AddMilliseconds(-500)), new AuditContext());

        Assert.Single(await log.QueryAsync(new DecisionQuery(Since: TestDecisions.T0)));
        Assert.Single(await log.QueryAsync(new DecisionQuery(Since: TestDecisions.T0.AddMilliseconds(500))));
        Assert.Equal(2, (await log.QueryAsync(new DecisionQuery(Since: TestDecisions.T0.AddSeconds(-1)))).Count);
    }

    [StoreFact]
    public async Task Query_LimitOutsideRange_Throws()
    {
        await using var log = Open();
        foreach (var limit in (int[])[0, -1, 10_001])
        {
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => log.QueryAsync(new DecisionQuery(Limit: limit)));
        }
        // Both stores refuse through the task, not by throwing at the call.
        var refused = log.QueryAsync(new DecisionQuery(Limit: 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => refused);
    }

    [StoreFact]
    public async Task Query_LimitInRange_ReturnsAtMostLimitNewestFirst()
    {
        await using var log = Open();
        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 5));

        foreach (var (limit, expected) in ((int, int)[])[(1, 1), (2, 2), (10_000, 5)])
        {
            var json = await log.QueryAsync(new DecisionQuery(Limit: limit));
            Assert.Equal(expected, json.Count);
            Assert.Equal(TestDecisions.StoredJson(TestDecisions.Make(5)), json[0]);
        }
    }

    [StoreFact]
    public async Task Query_UnknownVerdict_Throws()
    {
        await using var log = Open();
        await Assert.ThrowsAsync<ArgumentException>(() => log.QueryAsync(new DecisionQuery(Verdict: "maybe")));
    }

    [StoreFact]
    public async Task Append_GrantToken_IsRedactedButJtiKept()
    {
        var grant = new GrantInfo("eyJhbGciOiJFUzI1NiJ9.secret-part.sig", "jti-123", TestDecisions.T0.AddMinutes(10));
        var decision = TestDecisions.Make(1, verdict: Verdict.Allow, grant: grant);
        await using var log = Open();
        await log.AppendAsync(decision, new AuditContext());

        var json = Assert.Single(await log.QueryAsync(new DecisionQuery()));

        Assert.DoesNotContain("secret-part", json, StringComparison.Ordinal);
        Assert.Equal(TestDecisions.StoredJson(decision with { Grant = grant with { Token = "[redacted]" } }), json);
        Assert.Contains("\"jti\":\"jti-123\"", json, StringComparison.Ordinal);
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [StoreFact]
    public async Task Append_DuplicateDecisionId_FaultsOnlyThatAppend()
    {
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());

        var duplicate = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(1), new AuditContext()));
        await log.AppendAsync(TestDecisions.Make(2), new AuditContext());

        Assert.Equal(StoreCodes.DuplicateDecision, duplicate.Code);
        Assert.Equal("decision `dec_00000000000000000000000001` is already in the audit log", duplicate.Message);
        Assert.Equal(2L, await Store.ScalarAsync<long>("SELECT max(seq) FROM decision_log"));
        Assert.Equal(new ChainVerification(true, 2, null, null), await log.VerifyAsync() with { HeadHash = null });
    }

    [StoreFact]
    public async Task Append_DuplicateQueuedTogether_FaultsOnlyTheSecond()
    {
        await using var log = Open();
        Task first, other, duplicate;
        await using (await Store.HoldWriteLockAsync())
        {
            // Queued while the writers' lock is held, so they commit in one or two batches, never one by one.
            first = log.AppendAsync(TestDecisions.Make(1), new AuditContext()).AsTask();
            other = log.AppendAsync(TestDecisions.Make(2), new AuditContext()).AsTask();
            duplicate = log.AppendAsync(TestDecisions.Make(1), new AuditContext()).AsTask();
        }
        await first;
        await other;
        var refused = await Assert.ThrowsAsync<AuditStoreException>(() => duplicate);

        Assert.Equal(StoreCodes.DuplicateDecision, refused.Code);
        Assert.Equal(2L, await Store.ScalarAsync<long>("SELECT count(*) FROM decision_log"));
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [StoreFact]
    public async Task Append_AfterDispose_FaultsWithClosed()
    {
        var log = Open();
        await log.DisposeAsync();

        var closed = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(1), new AuditContext()));

        Assert.Equal(StoreCodes.Closed, closed.Code);
        await log.DisposeAsync();   // idempotent
    }

    [StoreFact]
    public async Task Append_AlreadyCancelled_RecordsNothing()
    {
        await using var log = Open();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await log.AppendAsync(TestDecisions.Make(1), new AuditContext(), cts.Token));

        Assert.Empty(await log.QueryAsync(new DecisionQuery()));
    }

    [StoreFact]
    public async Task Store_RefusesUpdateAndDelete()
    {
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());

        var update = await Assert.ThrowsAnyAsync<Exception>(() => Store.ExecAsync("UPDATE decision_log SET verdict = 'allow'"));
        var delete = await Assert.ThrowsAnyAsync<Exception>(() => Store.ExecAsync("DELETE FROM decision_log"));

        Assert.Contains("append-only", update.Message, StringComparison.Ordinal);
        Assert.Contains("append-only", delete.Message, StringComparison.Ordinal);
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [StoreFact]
    public async Task Open_NewerSchemaVersion_IsRefused()
    {
        await Open().DisposeAsync();
        await Store.ExecAsync($"UPDATE schema_versions SET version = {Store.DecisionLogVersion + 1} WHERE component = 'decision_log'");

        var refused = Assert.Throws<AuditStoreException>(() => Store.OpenLog());

        Assert.Equal(StoreCodes.UnsupportedSchema, refused.Code);
    }

    [StoreFact]
    public async Task Open_Twice_AppliesTheSchemaOnce()
    {
        await Open().DisposeAsync();
        await using var again = Open();

        Assert.Equal(1L, await Store.ScalarAsync<long>($"SELECT count(*) FROM schema_versions WHERE component = 'decision_log' AND version = {Store.DecisionLogVersion}"));
        Assert.True((await again.VerifyAsync()).Intact);
    }

    // --- concurrency and group commit ---

    private const int Appends = 1_000;

    [StoreFact]
    public async Task ConcurrentAppends_FromManyTasks_GetGaplessSeqAndIntactChain()
    {
        await using var log = Open();

        await Task.WhenAll(Enumerable.Range(1, Appends).Select(n =>
            Task.Run(async () => await log.AppendAsync(TestDecisions.Make(n), new AuditContext()))));

        await AssertGaplessAsync(Appends);
        var verification = await log.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(Appends, verification.RecordsChecked);
        Assert.InRange(Store.CommitCount(log.Inner), 1, Appends);
    }

    [StoreFact]
    public async Task ConcurrentAppends_WhileWriterWaitsForLock_AreCommittedInFewTransactions()
    {
        await using var log = Open();
        // Another session holds the writers' lock, so the writer's first transaction waits while all 1,000
        // appends queue behind it: the queue then drains in at most one more transaction (MaxBatch is 1,024).
        Task[] appends;
        await using (await Store.HoldWriteLockAsync())
        {
            using var queued = new CountdownEvent(Appends);
            appends = [.. Enumerable.Range(1, Appends).Select(n => Task.Run(async () =>
            {
                var append = log.AppendAsync(TestDecisions.Make(n), new AuditContext());
                queued.Signal();   // AppendAsync has queued the record when it returns
                await append;
            }))];

            Assert.True(queued.Wait(TimeSpan.FromSeconds(60)), "appends were not queued");
            Assert.DoesNotContain(appends, a => a.IsCompleted);   // nothing completes before its commit
        }
        await Task.WhenAll(appends);

        await AssertGaplessAsync(Appends);
        Assert.True((await log.VerifyAsync()).Intact);
        Assert.InRange(Store.CommitCount(log.Inner), 1, 2);
    }

    [StoreFact]
    public async Task TwoInstancesOnOneStore_InterleaveWithoutForkingTheChain()
    {
        // Several gate instances (or a restart overlapping its predecessor, or `deploygate audit` beside `serve`):
        // each batch re-reads the tip under the writers' lock.
        await using var first = Open();
        await using var second = Open();
        await using var third = Open();
        TestLog[] logs = [first, second, third];

        await Task.WhenAll(Enumerable.Range(1, 600).Select(n =>
            Task.Run(async () => await logs[n % 3].AppendAsync(TestDecisions.Make(n), new AuditContext()))));

        await AssertGaplessAsync(600);
        foreach (var log in logs)
        {
            var verification = await log.VerifyAsync();
            Assert.True(verification.Intact, verification.Problem);
            Assert.Equal(600, verification.RecordsChecked);
        }
    }

    // --- durability ---

    [StoreFact]
    public async Task CompletedAppends_SurviveReopen_AndTheChainContinues()
    {
        await using (var log = Open())
        {
            await log.AppendAllAsync(DecisionLogExtensions.Range(1, 5));
        }
        var tipBefore = await Store.ScalarAsync<string>("SELECT hash FROM decision_log WHERE seq = 5");

        await using (var reopened = Open())
        {
            Assert.Equal(5, (await reopened.QueryAsync(new DecisionQuery())).Count);
            await reopened.AppendAllAsync(DecisionLogExtensions.Range(6, 3));

            var verification = await reopened.VerifyAsync();
            Assert.True(verification.Intact, verification.Problem);
            Assert.Equal(8, verification.RecordsChecked);
        }

        Assert.Equal(tipBefore, await Store.ScalarAsync<string>("SELECT prev_hash FROM decision_log WHERE seq = 6"));
        Assert.Equal(8L, await Store.ScalarAsync<long>("SELECT max(seq) FROM decision_log"));
    }

    [StoreFact]
    public async Task CompletedAppend_IsVisibleToAnotherConnection_BeforeDispose()
    {
        // Nothing is flushed at dispose: a completed append is already committed and synced.
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());

        Assert.Equal(1L, await Store.ScalarAsync<long>("SELECT count(*) FROM decision_log"));
    }

    [StoreFact]
    public async Task Dispose_CommitsEverythingAlreadyQueued()
    {
        var log = Open();
        var appends = Enumerable.Range(1, 50).Select(n => log.AppendAsync(TestDecisions.Make(n), new AuditContext()).AsTask()).ToArray();

        await log.DisposeAsync();

        Assert.All(appends, a => Assert.True(a.IsCompletedSuccessfully));
        Assert.Equal(50L, await Store.ScalarAsync<long>("SELECT count(*) FROM decision_log"));
    }

    // --- failure: fail closed, then recover ---

    [StoreFact]
    public async Task FailingInsert_FaultsEveryWaitingAppend_AndNothingIsKept_ThenRecovers()
    {
        await using var log = Open();
        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 3));
        await Store.BreakInsertsAsync();

        var appends = await AppendConcurrently(log, 100, 50);

        Assert.All(appends, a =>
        {
            Assert.True(a.IsFaulted);
            var error = Assert.IsType<AuditStoreException>(a.Exception!.InnerException);
            Assert.Equal(StoreCodes.Unavailable, error.Code);
            Assert.DoesNotContain('\n', error.Message);
        });
        Assert.Equal(3L, await Store.ScalarAsync<long>("SELECT count(*) FROM decision_log"));

        await Store.RepairInsertsAsync();
        await log.AppendAsync(TestDecisions.Make(4), new AuditContext());

        Assert.Equal(4L, await Store.ScalarAsync<long>("SELECT max(seq) FROM decision_log"));
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [StoreFact]
    public async Task TableDroppedUnderTheLog_FaultsAppends()
    {
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());
        await Store.ExecAsync("DROP TABLE decision_log");

        var appends = await AppendConcurrently(log, 2, 20);

        Assert.All(appends, a => Assert.Equal(StoreCodes.Unavailable, Assert.IsType<AuditStoreException>(a.Exception!.InnerException).Code));
        var again = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(99), new AuditContext()));
        Assert.Equal(StoreCodes.Unavailable, again.Code);
        Assert.Contains("decision_log", again.Message, StringComparison.Ordinal);
    }

    [StoreFact]
    public async Task MalformedTipHash_RefusesToExtendTheChain()
    {
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());
        await Store.TamperAsync("UPDATE decision_log SET hash = 'nope' WHERE seq = 1");

        var refused = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(2), new AuditContext()));

        Assert.Equal(StoreCodes.ChainBroken, refused.Code);
        Assert.Equal("cannot append: record `1` hash is not 64 lowercase hex digits", refused.Message);
    }

    // --- tamper detection ---

    private async Task<ChainVerification> TamperAndVerify(string sql)
    {
        await using (var log = Open())
        {
            await log.AppendAllAsync(DecisionLogExtensions.Range(1, 10));
            Assert.True((await log.VerifyAsync()).Intact);
        }
        await Store.TamperAsync(sql);
        await using var reopened = Open();
        return await reopened.VerifyAsync();
    }

    [StoreFact]
    public async Task Verify_Intact_ReportsCountAndHeadHash()
    {
        await using var log = Open();
        Assert.Equal(new ChainVerification(true, 0, null, null) { HeadHash = new string('0', 64) }, await log.VerifyAsync());

        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 10));

        var verification = await log.VerifyAsync();
        Assert.Equal(new ChainVerification(true, 10, null, null) { HeadHash = await Store.ScalarAsync<string>("SELECT hash FROM decision_log WHERE seq = 10") },
            verification);
    }

    [StoreFact]
    public async Task Tamper_OneJsonByteChanged_ReportsThatRecord()
    {
        var original = TestDecisions.StoredJson(TestDecisions.Make(5));
        Assert.NotEqual('X', original[10]);

        var verification = await TamperAndVerify(
            "UPDATE decision_log SET decision_json = substr(decision_json, 1, 10) || 'X' || substr(decision_json, 12) WHERE seq = 5");

        Assert.Equal(new ChainVerification(false, 4, 5, "record `5` hash does not match its contents"), verification);
    }

    [StoreFact]
    public async Task Tamper_ContextColumnChanged_ReportsThatRecord()
    {
        var verification = await TamperAndVerify("UPDATE decision_log SET channel = 'cli' WHERE seq = 7");

        Assert.Equal(new ChainVerification(false, 6, 7, "record `7` hash does not match its contents"), verification);
    }

    [StoreFact]
    public async Task Tamper_RowDeleted_ReportsTheGap()
    {
        var verification = await TamperAndVerify("DELETE FROM decision_log WHERE seq = 5");

        Assert.Equal(new ChainVerification(false, 4, 5, "record `5` is missing (next is `6`)"), verification);
    }

    [StoreFact]
    public async Task Tamper_RowsDeleted_ReportsTheWholeGap()
    {
        var verification = await TamperAndVerify("DELETE FROM decision_log WHERE seq IN (5, 6, 7)");

        Assert.Equal(new ChainVerification(false, 4, 5, "records `5` to `7` are missing (next is `8`)"), verification);
    }

    [StoreFact]
    public async Task Tamper_FirstRowDeleted_ReportsRecordOne()
    {
        var verification = await TamperAndVerify("DELETE FROM decision_log WHERE seq = 1");

        Assert.Equal(new ChainVerification(false, 0, 1, "record `1` is missing (next is `2`)"), verification);
    }

    [StoreFact]
    public async Task Tamper_HashesSwapped_ReportsTheEarlierRecord()
    {
        var verification = await TamperAndVerify("""
            UPDATE decision_log SET hash = (SELECT hash FROM decision_log WHERE seq = 7) WHERE seq = 4;
            UPDATE decision_log SET hash = (SELECT prev_hash FROM decision_log WHERE seq = 5) WHERE seq = 7;
            """);

        Assert.Equal(new ChainVerification(false, 3, 4, "record `4` hash does not match its contents"), verification);
    }

    [StoreFact]
    public async Task Tamper_PrevHashForged_ReportsThatRecord()
    {
        var verification = await TamperAndVerify(
            "UPDATE decision_log SET prev_hash = (SELECT hash FROM decision_log WHERE seq = 4) WHERE seq = 6");

        Assert.Equal(new ChainVerification(false, 5, 6, "record `6` prev_hash does not match the hash of record `5`"), verification);
    }

    [StoreFact]
    public async Task Tamper_RowsReordered_ReportsTheFirstMovedRecord()
    {
        var verification = await TamperAndVerify("""
            UPDATE decision_log SET seq = 1000 WHERE seq = 3;
            UPDATE decision_log SET seq = 3 WHERE seq = 4;
            UPDATE decision_log SET seq = 4 WHERE seq = 1000;
            """);

        Assert.Equal(new ChainVerification(false, 2, 3, "record `3` prev_hash does not match the hash of record `2`"), verification);
    }

    [StoreFact]
    public async Task Tamper_MalformedHash_IsReported()
    {
        var verification = await TamperAndVerify("UPDATE decision_log SET hash = upper(hash) WHERE seq = 2");

        Assert.Equal(new ChainVerification(false, 1, 2, "record `2` hash is not 64 lowercase hex digits"), verification);
    }

    // --- the canonical record is the store's, not the provider's ---

    [StoreFact]
    public async Task Hashes_AreTheDocumentedCanonicalRecord_IdenticalAcrossProviders()
    {
        // The same decisions at the same clock give the same hashes on every provider: pinned values, computed by
        // the SQLite store when this test was written (and re-derived independently by ChainHashTests).
        await using var log = Open();
        await log.AppendAsync(TestDecisions.Make(1, repository: null), new AuditContext("webhook", "d-1"));
        await log.AppendAsync(TestDecisions.Make(2, repository: "acme/wëb\nx"), new AuditContext());

        var head = (await log.VerifyAsync()).HeadHash;
        Assert.True(head == ExpectedHeadHash, $"head hash `{head}`");
    }

    internal const string ExpectedHeadHash = "5527db82b56b1e85da6654b9c26ef23ade81e676837dde956e60e526d54433c1";

    private static async Task<Task[]> AppendConcurrently(TestLog log, int from, int count)
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
            // Inspected per task by the caller.
        }
        return appends;
    }

    private async Task AssertGaplessAsync(long count)
    {
        Assert.Equal(count, await Store.ScalarAsync<long>("SELECT count(*) FROM decision_log"));
        Assert.Equal(1L, await Store.ScalarAsync<long>("SELECT min(seq) FROM decision_log"));
        Assert.Equal(count, await Store.ScalarAsync<long>("SELECT max(seq) FROM decision_log"));
        Assert.Equal(count, await Store.ScalarAsync<long>("SELECT count(DISTINCT decision_id) FROM decision_log"));
    }
}

/// <summary>A log under test, disposable whatever its provider; <paramref name="beforeQuery"/> runs before each query.</summary>
public sealed class TestLog(IDecisionLog inner, Action<IDecisionLog>? beforeQuery = null) : IDecisionLog, IAsyncDisposable
{
    public IDecisionLog Inner { get; } = inner;

    public ValueTask AppendAsync(Decision decision, AuditContext context, CancellationToken cancellationToken = default) =>
        Inner.AppendAsync(decision, context, cancellationToken);

    public ValueTask AppendAsync(SerializedDecision decision, AuditContext context, CancellationToken cancellationToken = default) =>
        Inner.AppendAsync(decision, context, cancellationToken);

    public Task<IReadOnlyList<string>> QueryAsync(DecisionQuery query, CancellationToken cancellationToken = default)
    {
        beforeQuery?.Invoke(Inner);
        return Inner.QueryAsync(query, cancellationToken);
    }

    public Task<ChainVerification> VerifyAsync(CancellationToken cancellationToken = default) => Inner.VerifyAsync(cancellationToken);

    public Task AppendAllAsync(IEnumerable<Decision> decisions) => Inner.AppendAllAsync(decisions);

    public ValueTask DisposeAsync() => ((IAsyncDisposable)Inner).DisposeAsync();
}
