using DeployGate.Audit.Grants;
using DeployGate.Audit.Postgres;
using DeployGate.Audit.Tests.Shared;
using Npgsql;

namespace DeployGate.Audit.Tests.Postgres;

/// <summary>What only PostgreSQL has: many instances migrating at once, connection strings, sessions terminated under
/// the store. The contract every store keeps is in the Shared/ suites.</summary>
public sealed class PostgresStoreTests : IAsyncLifetime
{
    private PostgresStoreFixture? _store;

    private PostgresStoreFixture Store => _store!;

    public Task InitializeAsync()
    {
        if (PostgresServer.ConnectionString is not null) _store = new PostgresStoreFixture();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_store is not null) await _store.DisposeAsync();
    }

    [PostgresFact]
    public async Task ManyInstancesStartingAtOnce_MigrateEachComponentOnce_AndShareOneChain()
    {
        // Eight instances start together on an empty database: the advisory lock lets one migrate, the rest find it done.
        var opened = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            (Log: new PostgresDecisionLog(Store.ConnectionString, new FixedTime(TestDecisions.T0)),
             Grants: new PostgresGrantStore(Store.ConnectionString),
             Jobs: new PostgresReviewJobStore(Store.ConnectionString)))));
        try
        {
            Assert.Equal(3L, await Store.ScalarAsync<long>("SELECT count(*) FROM schema_versions WHERE version = 1"));
            await Task.WhenAll(Enumerable.Range(1, 400).Select(n =>
                Task.Run(async () => await opened[n % 8].Log.AppendAsync(TestDecisions.Make(n), new AuditContext()))));

            var verification = await opened[0].Log.VerifyAsync();
            Assert.True(verification.Intact, verification.Problem);
            Assert.Equal(400, verification.RecordsChecked);
        }
        finally
        {
            foreach (var (log, grants, jobs) in opened)
            {
                await log.DisposeAsync();
                await grants.DisposeAsync();
                await jobs.DisposeAsync();
            }
        }
    }

    [PostgresFact]
    public async Task ReadOnlyRole_CanVerifyAndQuery_AfterTheFirstStart_ButAppendsFailClosed()
    {
        await using (var owner = new PostgresDecisionLog(Store.ConnectionString, new FixedTime(TestDecisions.T0)))
        {
            await owner.AppendAsync(TestDecisions.Make(1), new AuditContext());
        }
        var role = "dg_reader_" + Guid.NewGuid().ToString("N")[..12];
        await Store.ExecAsync($"CREATE ROLE {role} LOGIN; GRANT SELECT ON decision_log, schema_versions TO {role}; REVOKE CREATE ON SCHEMA public FROM PUBLIC");
        try
        {
            var asReader = new NpgsqlConnectionStringBuilder(Store.ConnectionString) { Username = role }.ConnectionString;
            await using var reader = new PostgresDecisionLog(asReader, new FixedTime(TestDecisions.T0));

            var verification = await reader.VerifyAsync();
            Assert.True(verification.Intact, verification.Problem);
            Assert.Single(await reader.QueryAsync(new DecisionQuery()));
            var refused = await Assert.ThrowsAsync<AuditStoreException>(async () => await reader.AppendAsync(TestDecisions.Make(2), new AuditContext()));
            Assert.Equal(StoreCodes.Unavailable, refused.Code);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await Store.ExecAsync($"DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("Username=u;Database=d")]
    [InlineData("Host=db;Nonsense Keyword=1")]
    public void ConnectionString_Unusable_IsRefusedWithCode(string connectionString)
    {
        var refused = Assert.Throws<AuditStoreException>(() => PostgresConnection.Parse(connectionString));
        Assert.Equal(StoreCodes.InvalidLocation, refused.Code);
    }

    [Fact]
    public void ConnectionString_GetsApplicationNameAndSynchronousCommit_AndDescribeHidesThePassword()
    {
        var builder = PostgresConnection.Parse("Host=db.internal;Port=6432;Username=gate;Password=hunter2;Database=deploygate");

        Assert.Equal("deploygate", builder.ApplicationName);
        Assert.Contains("synchronous_commit=on", builder.Options, StringComparison.Ordinal);
        Assert.Equal("postgres://db.internal:6432/deploygate", PostgresConnection.Describe(builder));
    }

    [Fact]
    public void Unreachable_IsUnavailable_WithoutThePassword()
    {
        var port = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        port.Start();
        var free = ((System.Net.IPEndPoint)port.LocalEndpoint).Port;
        port.Stop();

        var refused = Assert.Throws<AuditStoreException>(() =>
            new PostgresDecisionLog($"Host=127.0.0.1;Port={free};Username=u;Password=hunter2;Timeout=3"));

        Assert.Equal(StoreCodes.Unavailable, refused.Code);
        Assert.DoesNotContain("hunter2", refused.Message, StringComparison.Ordinal);
        Assert.StartsWith($"cannot open audit store `postgres://127.0.0.1:{free}/u`", refused.Message, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task SessionsTerminated_AppendsFailClosed_ThenRecover_AndNothingAnsweredIsLost()
    {
        await using var log = new PostgresDecisionLog(Store.ConnectionString, new FixedTime(TestDecisions.T0));
        await using var grants = new PostgresGrantStore(Store.ConnectionString);
        var completed = new List<string>();
        var failed = 0;
        for (var round = 0; round < 5; round++)
        {
            await TerminateGateSessionsAsync();
            for (var i = 0; i < 20; i++)
            {
                var decision = TestDecisions.Make((round * 100) + i + 1);
                try
                {
                    await log.AppendAsync(decision, new AuditContext());
                    completed.Add(decision.DecisionId);
                }
                catch (AuditStoreException ex)
                {
                    Assert.Equal(StoreCodes.Unavailable, ex.Code);   // fail closed with the store code, never silently
                    failed++;
                }
            }
            try
            {
                await grants.RedeemAsync(new GrantRedemption($"g{round}", "dec", "acme/web", "1", TestDecisions.T0.AddHours(1), TestDecisions.T0));
            }
            catch (AuditStoreException ex)
            {
                Assert.Equal(StoreCodes.Unavailable, ex.Code);
            }
        }

        Assert.True(completed.Count > 0, "the log never recovered");
        var logged = (await log.QueryAsync(new DecisionQuery(Limit: 10_000))).Select(j =>
            System.Text.Json.JsonDocument.Parse(j).RootElement.GetProperty("decision_id").GetString()).ToHashSet();
        Assert.All(completed, id => Assert.Contains(id, logged));
        var verification = await log.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.True(failed <= 5 * 20);
    }

    private async Task TerminateGateSessionsAsync()
    {
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionString) { Pooling = false }.ConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = @db AND application_name = 'deploygate'", admin);
        command.Parameters.AddWithValue("db", Store.Database);
        await command.ExecuteScalarAsync();
    }
}
