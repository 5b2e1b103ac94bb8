using DeployGate.Audit.Grants;
using DeployGate.Audit.Jobs;
using DeployGate.Audit.Jobs.Sqlite;
using DeployGate.Audit.Postgres;
using DeployGate.Audit.Sqlite;
using DeployGate.Engine;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace DeployGate.Audit.Tests.Shared;

/// <summary>One empty store per test, and raw access to it as an operator (or an attacker) with the database would
/// have. The contract classes speak only through this, so SQLite and PostgreSQL run the same assertions.</summary>
public interface IStoreFixture : IAsyncDisposable
{
    string Provider { get; }

    /// <summary>The <c>decision_log</c> schema version this build writes on this store.</summary>
    long DecisionLogVersion { get; }

    /// <summary>Opens the decision log over this store (a second call is another instance / a reopen).</summary>
    IDecisionLog OpenLog(TimeProvider? time = null);

    /// <summary>Runs before each query the contract makes on a log of <see cref="OpenLog"/> (the SQLite fixture can
    /// index every committed row first); nothing by default.</summary>
    void BeforeQuery(IDecisionLog log)
    {
    }

    Task ExecAsync(string sql);

    Task<T> ScalarAsync<T>(string sql);

    /// <summary>Runs <paramref name="sql"/> with the append-only guard switched off, as someone editing by hand would.</summary>
    Task TamperAsync(string sql);

    /// <summary>Makes every insert into <c>decision_log</c> fail (a simulated I/O failure); <see cref="RepairInsertsAsync"/> undoes it.</summary>
    Task BreakInsertsAsync();

    Task RepairInsertsAsync();

    /// <summary>Holds the lock every writer takes before appending, until disposed.</summary>
    Task<IAsyncDisposable> HoldWriteLockAsync();

    long CommitCount(IDecisionLog log);

    /// <summary>A grant store over this store (a second call is another instance).</summary>
    IGrantStore OpenGrants();

    /// <summary>A review job store over this store (a second call is another instance).</summary>
    IReviewJobStore OpenJobs();
}

/// <summary>The embedded store. By default the log's query index copies nothing (<see cref="TempStore.Open"/> turns its
/// passes off), so queries read <c>decision_log</c> alone; with <paramref name="indexBeforeQuery"/> every row is in
/// the query index file before each query, so queries read through its indexes.</summary>
public sealed class SqliteStoreFixture(bool indexBeforeQuery = false) : IStoreFixture
{
    private readonly TempStore _store = new();

    public string Provider => "sqlite";

    public long DecisionLogVersion => SqliteSchema.Version;

    public string DatabasePath => _store.DatabasePath;

    public IDecisionLog OpenLog(TimeProvider? time = null) => _store.Open(time);

    public void BeforeQuery(IDecisionLog log)
    {
        if (indexBeforeQuery) ((SqliteDecisionLog)log).Index.IndexNow();
    }

    public Task ExecAsync(string sql)
    {
        _store.Exec(sql);
        return Task.CompletedTask;
    }

    public Task<T> ScalarAsync<T>(string sql) => Task.FromResult(_store.Scalar<T>(sql));

    public Task TamperAsync(string sql)
    {
        _store.Tamper(sql);
        return Task.CompletedTask;
    }

    public Task BreakInsertsAsync() =>
        ExecAsync("CREATE TRIGGER broken_disk BEFORE INSERT ON decision_log BEGIN SELECT RAISE(ABORT, 'simulated i/o failure'); END;");

    public Task RepairInsertsAsync() => ExecAsync("DROP TRIGGER broken_disk");

    public Task<IAsyncDisposable> HoldWriteLockAsync()
    {
        var connection = _store.Raw();
        var transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE: SQLite's write lock
        return Task.FromResult<IAsyncDisposable>(new Held(connection, transaction));
    }

    public long CommitCount(IDecisionLog log) => ((SqliteDecisionLog)log).CommitCount;

    public IGrantStore OpenGrants() => new SqliteGrantStore(_store.DatabasePath);

    public IReviewJobStore OpenJobs() => new SqliteReviewJobStore(_store.DatabasePath);

    public ValueTask DisposeAsync()
    {
        _store.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class Held(SqliteConnection connection, SqliteTransaction transaction) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            transaction.Rollback();
            transaction.Dispose();
            connection.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>A fresh database per test on the server named by <c>DEPLOYGATE_TEST_POSTGRES</c>, dropped afterwards.</summary>
public sealed class PostgresStoreFixture : IStoreFixture
{
    private readonly string _admin;

    public PostgresStoreFixture()
    {
        var server = PostgresServer.ConnectionString ?? throw new InvalidOperationException(PostgresServer.SkipReason);
        _admin = new NpgsqlConnectionStringBuilder(server) { Pooling = false }.ConnectionString;
        Database = "dg_t_" + Guid.NewGuid().ToString("N");
        using (var connection = new NpgsqlConnection(_admin))
        {
            connection.Open();
            // template0: nobody is ever connected to it, so parallel tests can copy it at the same time.
            using var command = new NpgsqlCommand($"CREATE DATABASE \"{Database}\" TEMPLATE template0 ENCODING 'UTF8'", connection);
            command.ExecuteNonQuery();
        }
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = Database }.ConnectionString;
        RawConnectionString = new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false, ApplicationName = "deploygate-tests" }.ConnectionString;
    }

    public string Provider => "postgres";

    public long DecisionLogVersion => PostgresDecisionLogSchema.Steps.Count;

    public string Database { get; }

    /// <summary>For the store under test (and for <c>Store:ConnectionString</c>).</summary>
    public string ConnectionString { get; }

    private string RawConnectionString { get; }

    public IDecisionLog OpenLog(TimeProvider? time = null) => new PostgresDecisionLog(ConnectionString, time ?? new FixedTime(TestDecisions.T0));

    public async Task ExecAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(RawConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(RawConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public Task TamperAsync(string sql) =>
        ExecAsync("ALTER TABLE decision_log DISABLE TRIGGER USER; " + sql);

    public Task BreakInsertsAsync() => ExecAsync("""
        CREATE FUNCTION broken_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated i/o failure'; END $$;
        CREATE TRIGGER broken_disk BEFORE INSERT ON decision_log FOR EACH STATEMENT EXECUTE FUNCTION broken_disk();
        """);

    public Task RepairInsertsAsync() => ExecAsync("DROP TRIGGER broken_disk ON decision_log; DROP FUNCTION broken_disk();");

    public async Task<IAsyncDisposable> HoldWriteLockAsync()
    {
        var connection = new NpgsqlConnection(RawConnectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({PostgresDecisionLogSchema.ChainLockKey})", connection, transaction);
        await command.ExecuteNonQueryAsync();
        return new Held(connection, transaction);
    }

    public long CommitCount(IDecisionLog log) => ((PostgresDecisionLog)log).CommitCount;

    public IGrantStore OpenGrants() => new PostgresGrantStore(ConnectionString);

    public IReviewJobStore OpenJobs() => new PostgresReviewJobStore(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(_admin);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Database}\" WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // Best effort: a leftover test database does not change any result.
        }
    }

    private sealed class Held(NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await transaction.RollbackAsync();
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}
