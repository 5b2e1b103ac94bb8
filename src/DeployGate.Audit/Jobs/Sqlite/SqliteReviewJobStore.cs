using System.Globalization;
using DeployGate.Audit.Sqlite;
using Microsoft.Data.Sqlite;

namespace DeployGate.Audit.Jobs.Sqlite;

/// <summary>Review jobs in the SAME SQLite file as the audit log (table <c>review_jobs</c>, component
/// <c>review_jobs</c> in <c>schema_versions</c>): one file to back up, and a job and the decisions made for it
/// live and die together. WAL mode, <c>synchronous=FULL</c>; a connection per operation (no pooling, so
/// disposal really closes the file); claims are one <c>UPDATE … RETURNING</c> statement, atomic across
/// processes sharing the file. Instants are stored as Unix milliseconds.</summary>
public sealed class SqliteReviewJobStore : IReviewJobStore
{
    private const int Version = 1;
    private const string Component = "review_jobs";

    private const string Create = """
        CREATE TABLE IF NOT EXISTS schema_versions (
            component TEXT PRIMARY KEY,
            version   INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE IF NOT EXISTS review_jobs (
            delivery_id     TEXT PRIMARY KEY,
            payload         TEXT NOT NULL,
            received_at     INTEGER NOT NULL,
            due_at          INTEGER NOT NULL,
            state           TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            status_posted   INTEGER NOT NULL DEFAULT 0,
            pending_state   TEXT,
            pending_comment TEXT,
            decided_at      INTEGER,
            outcome         TEXT,
            code            TEXT,
            decision_id     TEXT,
            last_error      TEXT,
            completed_at    INTEGER,
            lease_owner     TEXT,
            lease_until     INTEGER
        ) STRICT;

        CREATE INDEX IF NOT EXISTS review_jobs_due ON review_jobs (state, due_at);
        """;

    private const string Columns = "delivery_id, payload, received_at, due_at, state, attempts, status_posted, pending_state, pending_comment, decided_at, outcome, code, decision_id, last_error, completed_at, lease_owner, lease_until";

    private readonly string _connectionString;
    private readonly FileWriteLock _writeLock;   // shared with the audit writer on the same file

    /// <summary>Opens (creating the table when missing) the job table in <paramref name="databasePath"/>, normally
    /// the audit log's file (<see cref="DeployGate.Audit.Sqlite.SqliteDecisionLog.DatabasePath"/>).</summary>
    /// <exception cref="AuditStoreException"><c>DG5005</c> for a newer table version, <c>DG5001</c> when the file cannot be opened.</exception>
    public SqliteReviewJobStore(string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        DatabasePath = Path.GetFullPath(databasePath);
        _writeLock = FileWriteLock.For(DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 10,    // seconds to wait for the write lock (the audit writer shares the file)
        }.ToString();
        try
        {
            var folder = Path.GetDirectoryName(DatabasePath);
            if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode = WAL";
            command.ExecuteNonQuery();
            command.CommandText = Create;
            command.ExecuteNonQuery();
            command.CommandText = "SELECT version FROM schema_versions WHERE component = $c";
            command.Parameters.AddWithValue("$c", Component);
            var version = command.ExecuteScalar();
            if (version is null)
            {
                command.CommandText = "INSERT OR IGNORE INTO schema_versions (component, version) VALUES ($c, $v)";
                command.Parameters.AddWithValue("$v", Version);
                command.ExecuteNonQuery();
            }
            else if (Convert.ToInt64(version, CultureInfo.InvariantCulture) != Version)
            {
                throw new AuditStoreException(StoreCodes.UnsupportedSchema,
                    $"review job store `{DatabasePath}` has schema version `{version}`; this build reads `{Version}`");
            }
        }
        catch (SqliteException ex)
        {
            throw new AuditStoreException(StoreCodes.Unavailable, $"cannot open review job store `{DatabasePath}`: {ex.Message.Split('\n')[0]}", ex);
        }
    }

    public string DatabasePath { get; }

    public async Task<bool> TryAddAsync(ReviewJob job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        return await RunAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"""
                INSERT INTO review_jobs ({Columns})
                VALUES ($delivery_id, $payload, $received_at, $due_at, $state, $attempts, $status_posted, $pending_state, $pending_comment,
                        $decided_at, $outcome, $code, $decision_id, $last_error, $completed_at, NULL, NULL)
                ON CONFLICT (delivery_id) DO NOTHING
                """;
            Bind(command, job);
            command.Parameters.AddWithValue("$payload", job.Payload);
            command.Parameters.AddWithValue("$received_at", Ms(job.ReceivedAt));
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, writes: true, cancellationToken);
    }

    public async Task<IReadOnlyList<ReviewJob>> ClaimDueAsync(DateTimeOffset now, TimeSpan leaseFor, string owner, int max, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        return await RunAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"""
                UPDATE review_jobs SET lease_owner = $owner, lease_until = $until
                WHERE delivery_id IN (
                    SELECT delivery_id FROM review_jobs
                    WHERE state = 'pending' AND due_at <= $now AND (lease_until IS NULL OR lease_until <= $now)
                    ORDER BY due_at LIMIT $max)
                RETURNING {Columns}
                """;
            command.Parameters.AddWithValue("$owner", owner);
            command.Parameters.AddWithValue("$until", Ms(now + leaseFor));
            command.Parameters.AddWithValue("$now", Ms(now));
            command.Parameters.AddWithValue("$max", max);
            var jobs = new List<ReviewJob>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) jobs.Add(ReviewJobRow.Read(reader));
            jobs.Sort((a, b) => a.DueAt.CompareTo(b.DueAt));
            return (IReadOnlyList<ReviewJob>)jobs;
        }, writes: true, cancellationToken);
    }

    public async Task<bool> SaveAsync(ReviewJob job, string owner, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        return await RunAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE review_jobs SET due_at = $due_at, state = $state, attempts = $attempts, status_posted = $status_posted,
                    pending_state = $pending_state, pending_comment = $pending_comment, decided_at = $decided_at, outcome = $outcome,
                    code = $code, decision_id = $decision_id, last_error = $last_error, completed_at = $completed_at,
                    lease_owner = NULL, lease_until = NULL
                WHERE delivery_id = $delivery_id AND lease_owner = $owner
                """;
            Bind(command, job);
            command.Parameters.AddWithValue("$owner", owner);
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, writes: true, cancellationToken);
    }

    public async Task<ReviewJob?> GetAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        await RunAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {Columns} FROM review_jobs WHERE delivery_id = $id";
            command.Parameters.AddWithValue("$id", deliveryId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? ReviewJobRow.Read(reader) : null;
        }, writes: false, cancellationToken);

    public async Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken = default) =>
        await RunAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT MIN(due_at) FROM review_jobs WHERE state = 'pending'";
            var value = await command.ExecuteScalarAsync(cancellationToken);
            return value is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : (DateTimeOffset?)null;
        }, writes: false, cancellationToken);

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = FULL";
        pragma.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Runs <paramref name="body"/> on a connection of its own, on a store thread (<see cref="StoreWork"/>):
    /// SQLite's async API completes synchronously, so a commit's <c>fsync</c> would otherwise hold a pool worker.
    /// One that <paramref name="writes"/> first takes its turn at the file's <see cref="FileWriteLock"/>, which the audit
    /// writer shares.</summary>
    private Task<T> RunAsync<T>(Func<SqliteConnection, Task<T>> body, bool writes, CancellationToken cancellationToken) =>
        StoreWork.Run(async () =>
        {
            try
            {
                await using var connection = Open();
                using var turn = writes ? _writeLock.Enter() : default;
                return await body(connection);
            }
            catch (SqliteException ex)
            {
                throw new AuditStoreException(StoreCodes.Unavailable, $"review job store `{DatabasePath}`: {ex.Message.Split('\n')[0]}", ex);
            }
        }, cancellationToken);

    private static void Bind(SqliteCommand command, ReviewJob job)
    {
        command.Parameters.AddWithValue("$delivery_id", job.DeliveryId);
        command.Parameters.AddWithValue("$due_at", Ms(job.DueAt));
        command.Parameters.AddWithValue("$state", job.State == ReviewJobState.Done ? "done" : "pending");
        command.Parameters.AddWithValue("$attempts", job.Attempts);
        command.Parameters.AddWithValue("$status_posted", job.StatusPosted ? 1 : 0);
        command.Parameters.AddWithValue("$pending_state", (object?)job.PendingState ?? DBNull.Value);
        command.Parameters.AddWithValue("$pending_comment", (object?)job.PendingComment ?? DBNull.Value);
        command.Parameters.AddWithValue("$decided_at", job.DecidedAt is { } d ? Ms(d) : DBNull.Value);
        command.Parameters.AddWithValue("$outcome", (object?)job.Outcome ?? DBNull.Value);
        command.Parameters.AddWithValue("$code", (object?)job.Code ?? DBNull.Value);
        command.Parameters.AddWithValue("$decision_id", (object?)job.DecisionId ?? DBNull.Value);
        command.Parameters.AddWithValue("$last_error", (object?)job.LastError ?? DBNull.Value);
        command.Parameters.AddWithValue("$completed_at", job.CompletedAt is { } c ? Ms(c) : DBNull.Value);
    }

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();
}
