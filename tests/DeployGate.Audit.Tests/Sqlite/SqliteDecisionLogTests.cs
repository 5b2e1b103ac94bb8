using DeployGate.Audit.Sqlite;
using DeployGate.Engine;
using Xunit;

namespace DeployGate.Audit.Tests.Sqlite;

public sealed class SqliteDecisionLogTests : IDisposable
{
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task Append_ThenQuery_ReturnsStoredJsonNewestFirst()
    {
        var decisions = DecisionLogExtensions.Range(1, 3);
        await using var log = _store.Open();
        await log.AppendAllAsync(decisions);

        var json = await log.QueryAsync(new DecisionQuery());

        Assert.Equal(decisions.Reverse().Select(TestDecisions.StoredJson), json);
    }

    [Fact]
    public async Task Append_StoresColumnsAndChainFields()
    {
        var time = new FixedTime(TestDecisions.T0.AddMinutes(1).AddTicks(5));
        await using (var log = _store.Open(time))
        {
            await log.AppendAsync(TestDecisions.Make(1, verdict: Verdict.Allow), new AuditContext("webhook", "delivery-1"));
            await log.AppendAsync(TestDecisions.Make(2, repository: null), new AuditContext());
        }

        using var connection = _store.Raw();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, decision_id, evaluated_at, recorded_at, repository, environment, verdict, run_id, " +
                              "channel, delivery_id, prev_hash, hash FROM decision_log ORDER BY seq";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal(1, reader.GetInt64(0));
        Assert.Equal("dec_00000000000000000000000001", reader.GetString(1));
        Assert.Equal("2026-11-22T10:15:01.0000000Z", reader.GetString(2));
        Assert.Equal("2026-11-22T10:16:00.0000005Z", reader.GetString(3));
        Assert.Equal("acme/web", reader.GetString(4));
        Assert.Equal("production", reader.GetString(5));
        Assert.Equal("allow", reader.GetString(6));
        Assert.Equal("run-1", reader.GetString(7));
        Assert.Equal("webhook", reader.GetString(8));
        Assert.Equal("delivery-1", reader.GetString(9));
        Assert.Equal(new string('0', 64), reader.GetString(10));
        var first = reader.GetString(11);
        Assert.Matches("^[0-9a-f]{64}$", first);

        Assert.True(reader.Read());
        Assert.Equal(2, reader.GetInt64(0));
        Assert.True(reader.IsDBNull(4));
        Assert.Equal("deny", reader.GetString(6));
        Assert.Equal("api", reader.GetString(8));
        Assert.True(reader.IsDBNull(9));
        Assert.Equal(first, reader.GetString(10));
        Assert.False(reader.Read());
    }

    [Fact]
    public async Task Query_Filters_CombineAndCompareAsDocumented()
    {
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1, repository: "acme/web", environment: "production", verdict: Verdict.Allow), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(2, repository: "acme/web", environment: "staging", verdict: Verdict.Deny), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(3, repository: "acme/api", environment: "Production", verdict: Verdict.Deny), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(4, repository: "acme/web", environment: "production", verdict: Verdict.Deny), new AuditContext());

        async Task<string[]> Ids(DecisionQuery q) =>
            [.. (await log.QueryAsync(q)).Select(j => System.Text.Json.JsonDocument.Parse(j).RootElement.GetProperty("decision_id").GetString()![^1..])];

        Assert.Equal(["4", "2", "1"], await Ids(new DecisionQuery(Repository: "acme/web")));
        Assert.Empty(await Ids(new DecisionQuery(Repository: "ACME/web")));                  // repository: exact
        Assert.Equal(["4", "3", "1"], await Ids(new DecisionQuery(Environment: "PRODUCTION"))); // environment: case-insensitive
        Assert.Equal(["4", "3", "2"], await Ids(new DecisionQuery(Verdict: "deny")));
        Assert.Equal(["1"], await Ids(new DecisionQuery(Verdict: "allow")));
        Assert.Equal(["4", "3"], await Ids(new DecisionQuery(Since: TestDecisions.T0.AddSeconds(3))));  // inclusive
        Assert.Equal(["4"], await Ids(new DecisionQuery(Repository: "acme/web", Environment: "production", Verdict: "deny")));
        Assert.Empty(await Ids(new DecisionQuery(Repository: "acme/web", Since: TestDecisions.T0.AddDays(1))));
    }

    [Fact]
    public async Task Query_Since_OrdersFractionalSecondsByTime()
    {
        // 10:15:00.5 is after 10:15:00 although "….5Z" sorts before "…Z" in the wire format; the stored form is fixed-width.
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1, at: TestDecisions.T0.AddMilliseconds(500)), new AuditContext());
        await log.AppendAsync(TestDecisions.Make(2, at: TestDecisions.T0.AddMilliseconds(-500)), new AuditContext());

        Assert.Single(await log.QueryAsync(new DecisionQuery(Since: TestDecisions.T0)));
        Assert.Single(await log.QueryAsync(new DecisionQuery(Since: TestDecisions.T0.AddMilliseconds(500))));
        Assert.Equal(2, (await log.QueryAsync(new DecisionQuery(Since: TestDecisions.T0.AddSeconds(-1)))).Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(10_001)]
    public async Task Query_LimitOutsideRange_Throws(int limit)
    {
        await using var log = _store.Open();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => log.QueryAsync(new DecisionQuery(Limit: limit)));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(10_000, 5)]
    public async Task Query_LimitInRange_ReturnsAtMostLimitNewestFirst(int limit, int expected)
    {
        await using var log = _store.Open();
        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 5));

        var json = await log.QueryAsync(new DecisionQuery(Limit: limit));

        Assert.Equal(expected, json.Count);
        Assert.Equal(TestDecisions.StoredJson(TestDecisions.Make(5)), json[0]);
    }

    [Fact]
    public async Task Query_UnknownVerdict_Throws()
    {
        await using var log = _store.Open();
        await Assert.ThrowsAsync<ArgumentException>(() => log.QueryAsync(new DecisionQuery(Verdict: "maybe")));
    }

    [Fact]
    public async Task Append_GrantToken_IsRedactedButJtiKept()
    {
        var grant = new GrantInfo("eyJhbGciOiJFUzI1NiJ9.secret-part.sig", "jti-123", TestDecisions.T0.AddMinutes(10));
        var decision = TestDecisions.Make(1, verdict: Verdict.Allow, grant: grant);
        await using var log = _store.Open();
        await log.AppendAsync(decision, new AuditContext());

        var json = Assert.Single(await log.QueryAsync(new DecisionQuery()));

        Assert.DoesNotContain("secret-part", json, StringComparison.Ordinal);
        Assert.Equal(TestDecisions.StoredJson(decision with { Grant = grant with { Token = "[redacted]" } }), json);
        Assert.Contains("\"jti\":\"jti-123\"", json, StringComparison.Ordinal);
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task Append_DuplicateDecisionId_FaultsOnlyThatAppend()
    {
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());

        var duplicate = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(1), new AuditContext()));
        await log.AppendAsync(TestDecisions.Make(2), new AuditContext());

        Assert.Equal(StoreCodes.DuplicateDecision, duplicate.Code);
        Assert.Equal("decision `dec_00000000000000000000000001` is already in the audit log", duplicate.Message);
        Assert.Equal(2L, _store.Scalar<long>("SELECT max(seq) FROM decision_log"));
        Assert.Equal(new ChainVerification(true, 2, null, null), await log.VerifyAsync() with { HeadHash = null });
    }

    [Fact]
    public async Task Append_AfterDispose_FaultsWithClosed()
    {
        var log = _store.Open();
        await log.DisposeAsync();

        var closed = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(1), new AuditContext()));

        Assert.Equal(StoreCodes.Closed, closed.Code);
        await log.DisposeAsync();   // idempotent
    }

    [Fact]
    public async Task Append_AlreadyCancelled_RecordsNothing()
    {
        await using var log = _store.Open();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await log.AppendAsync(TestDecisions.Make(1), new AuditContext(), cts.Token));

        Assert.Empty(await log.QueryAsync(new DecisionQuery()));
    }

    [Fact]
    public async Task Store_RefusesUpdateAndDelete()
    {
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());

        var update = Assert.ThrowsAny<Microsoft.Data.Sqlite.SqliteException>(() => _store.Exec("UPDATE decision_log SET verdict = 'allow'"));
        var delete = Assert.ThrowsAny<Microsoft.Data.Sqlite.SqliteException>(() => _store.Exec("DELETE FROM decision_log"));

        Assert.Contains("append-only", update.Message, StringComparison.Ordinal);
        Assert.Contains("append-only", delete.Message, StringComparison.Ordinal);
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task Open_UsesWalJournal()
    {
        await using var log = _store.Open();
        Assert.Equal("wal", _store.Scalar<string>("PRAGMA journal_mode"));
    }

    [Fact]
    public async Task Open_NewerSchemaVersion_IsRefused()
    {
        await (_store.Open()).DisposeAsync();
        _store.Exec("UPDATE schema_versions SET version = 2 WHERE component = 'decision_log'");

        var refused = Assert.Throws<AuditStoreException>(() => _store.Open());

        Assert.Equal(StoreCodes.UnsupportedSchema, refused.Code);
    }

    [Theory]
    [InlineData("Data Source={0}")]
    [InlineData("DataSource={0};Cache=Shared")]
    [InlineData("Filename={0}")]
    [InlineData("{0}")]
    public async Task Open_AcceptsPathOrConnectionString(string format)
    {
        await using (var first = _store.Open()) await first.AppendAsync(TestDecisions.Make(1), new AuditContext());

        await using var log = SqliteDecisionLog.Open(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, _store.DatabasePath));

        Assert.Equal(_store.DatabasePath, log.DatabasePath);
        Assert.Single(await log.QueryAsync(new DecisionQuery()));
    }

    [Theory]
    [InlineData("")]
    [InlineData(":memory:")]
    [InlineData("Data Source=:memory:")]
    [InlineData("Data Source=x.db;Mode=Memory")]
    [InlineData("Data Source=x.db;Mode=ReadOnly")]
    [InlineData("Data Source=x.db;Password=p")]
    [InlineData("Cache=Shared")]
    [InlineData("Nonsense Keyword=1")]
    public void Open_UnusableLocation_IsRefusedWithCode(string location)
    {
        var refused = Assert.Throws<AuditStoreException>(() => SqliteDecisionLog.ResolvePath(location));
        Assert.Equal(StoreCodes.InvalidLocation, refused.Code);
    }
}
