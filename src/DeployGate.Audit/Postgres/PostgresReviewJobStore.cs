using DeployGate.Audit.Jobs;
using Npgsql;

namespace DeployGate.Audit.Postgres;

/// <summary>Review jobs on PostgreSQL (SPEC §6, §9), shared by every instance: the same columns and semantics as
/// <see cref="Jobs.Sqlite.SqliteReviewJobStore"/> (instants as Unix milliseconds). A claim is one statement,
/// <c>UPDATE … WHERE delivery_id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …</c>: concurrent claimers on any
/// instance skip each other's rows instead of waiting, and a row whose lease another claimer just took fails the
/// re-checked condition, so each due job goes to exactly one worker. A worker that dies keeps its lease only until
/// <c>lease_until</c>; then any instance claims the job again. <see cref="SaveAsync"/> writes only while the caller
/// still owns the lease.</summary>
public sealed class PostgresReviewJobStore : IReviewJobStore, IAsyncDisposable, IDisposable
{
    internal const string Component = "review_jobs";

    /// <summary>Migration steps (schema version = how many ran). Append, never edit.</summary>
    internal static readonly IReadOnlyList<string> Steps =
    [
        """
        CREATE TABLE review_jobs (
            delivery_id     text COLLATE "C" PRIMARY KEY,
            payload         text NOT NULL,
            received_at     bigint NOT NULL,
            due_at          bigint NOT NULL,
            state           text NOT NULL,
            attempts        integer NOT NULL DEFAULT 0,
            status_posted   boolean NOT NULL DEFAULT false,
            pending_state   text,
            pending_comment text,
            decided_at      bigint,
            outcome         text,
            code            text,
            decision_id     text,
            last_error      text,
            completed_at    bigint,
            lease_owner     text,
            lease_until     bigint
        );
        CREATE INDEX review_jobs_due ON review_jobs (state, due_at);
        """,
    ];

    private const string Columns = "delivery_id, payload, received_at, due_at, state, attempts, status_posted, pending_state, pending_comment, decided_at, outcome, code, decision_id, last_error, completed_at, lease_owner, lease_until";

    private readonly PostgresStore _store;

    /// <exception cref="AuditStoreException">DG5006 unusable connection string, DG5005 newer schema, DG5001 cannot connect.</exception>
    public PostgresReviewJobStore(string connectionString) =>
        _store = new PostgresStore(connectionString, "review job store", Component, Steps);

    /// <summary><c>postgres://host:port/database</c> (no credentials).</summary>
    public string Location => _store.Location;

    public Task<bool> TryAddAsync(ReviewJob job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        return _store.RunAsync("add", async connection =>
        {
            await using var command = new NpgsqlCommand($"""
                INSERT INTO review_jobs ({Columns})
                VALUES (@delivery_id, @payload, @received_at, @due_at, @state, @attempts, @status_posted, @pending_state, @pending_comment,
                        @decided_at, @outcome, @code, @decision_id, @last_error, @completed_at, NULL, NULL)
                ON CONFLICT (delivery_id) DO NOTHING
                """, connection);
            Bind(command, job);
            command.Parameters.AddWithValue("payload", job.Payload);
            command.Parameters.AddWithValue("received_at", Ms(job.ReceivedAt));
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<ReviewJob>> ClaimDueAsync(DateTimeOffset now, TimeSpan leaseFor, string owner, int max, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        return _store.RunAsync("claim", async connection =>
        {
            await using var command = new NpgsqlCommand($"""
                UPDATE review_jobs SET lease_owner = @owner, lease_until = @until
                WHERE delivery_id IN (
                    SELECT delivery_id FROM review_jobs
                    WHERE state = 'pending' AND due_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
                    ORDER BY due_at LIMIT @max
                    FOR UPDATE SKIP LOCKED)
                  AND state = 'pending' AND (lease_until IS NULL OR lease_until <= @now)
                RETURNING {Columns}
                """, connection);
            command.Parameters.AddWithValue("owner", owner);
            command.Parameters.AddWithValue("until", Ms(now + leaseFor));
            command.Parameters.AddWithValue("now", Ms(now));
            command.Parameters.AddWithValue("max", max);
            var jobs = new List<ReviewJob>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) jobs.Add(ReviewJobRow.Read(reader));
            jobs.Sort((a, b) => a.DueAt.CompareTo(b.DueAt));
            return (IReadOnlyList<ReviewJob>)jobs;
        }, cancellationToken);
    }

    public Task<bool> SaveAsync(ReviewJob job, string owner, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        return _store.RunAsync("save", async connection =>
        {
            await using var command = new NpgsqlCommand("""
                UPDATE review_jobs SET due_at = @due_at, state = @state, attempts = @attempts, status_posted = @status_posted,
                    pending_state = @pending_state, pending_comment = @pending_comment, decided_at = @decided_at, outcome = @outcome,
                    code = @code, decision_id = @decision_id, last_error = @last_error, completed_at = @completed_at,
                    lease_owner = NULL, lease_until = NULL
                WHERE delivery_id = @delivery_id AND lease_owner = @owner
                """, connection);
            Bind(command, job);
            command.Parameters.AddWithValue("owner", owner);
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);
    }

    public Task<ReviewJob?> GetAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        _store.RunAsync("read", async connection =>
        {
            await using var command = new NpgsqlCommand($"SELECT {Columns} FROM review_jobs WHERE delivery_id = @id", connection);
            command.Parameters.AddWithValue("id", deliveryId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? ReviewJobRow.Read(reader) : null;
        }, cancellationToken);

    public Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken = default) =>
        _store.RunAsync("read", async connection =>
        {
            await using var command = new NpgsqlCommand("SELECT min(due_at) FROM review_jobs WHERE state = 'pending'", connection);
            var value = await command.ExecuteScalarAsync(cancellationToken);
            return value is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : (DateTimeOffset?)null;
        }, cancellationToken);

    public ValueTask DisposeAsync() => _store.DisposeAsync();

    public void Dispose() => _store.Dispose();

    private static void Bind(NpgsqlCommand command, ReviewJob job)
    {
        var p = command.Parameters;
        p.AddWithValue("delivery_id", job.DeliveryId);
        p.AddWithValue("due_at", Ms(job.DueAt));
        p.AddWithValue("state", job.State == ReviewJobState.Done ? "done" : "pending");
        p.AddWithValue("attempts", job.Attempts);
        p.AddWithValue("status_posted", job.StatusPosted);
        p.AddWithValue("pending_state", NpgsqlTypes.NpgsqlDbType.Text, (object?)job.PendingState ?? DBNull.Value);
        p.AddWithValue("pending_comment", NpgsqlTypes.NpgsqlDbType.Text, (object?)job.PendingComment ?? DBNull.Value);
        p.AddWithValue("decided_at", NpgsqlTypes.NpgsqlDbType.Bigint, job.DecidedAt is { } d ? Ms(d) : DBNull.Value);
        p.AddWithValue("outcome", NpgsqlTypes.NpgsqlDbType.Text, (object?)job.Outcome ?? DBNull.Value);
        p.AddWithValue("code", NpgsqlTypes.NpgsqlDbType.Text, (object?)job.Code ?? DBNull.Value);
        p.AddWithValue("decision_id", NpgsqlTypes.NpgsqlDbType.Text, (object?)job.DecisionId ?? DBNull.Value);
        p.AddWithValue("last_error", NpgsqlTypes.NpgsqlDbType.Text, (object?)job.LastError ?? DBNull.Value);
        p.AddWithValue("completed_at", NpgsqlTypes.NpgsqlDbType.Bigint, job.CompletedAt is { } c ? Ms(c) : DBNull.Value);
    }

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();
}
