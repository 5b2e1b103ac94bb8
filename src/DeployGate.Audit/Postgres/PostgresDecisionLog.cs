using System.Data;
using System.Text;
using System.Threading.Channels;
using DeployGate.Engine;
using Npgsql;
using NpgsqlTypes;
using Pending = DeployGate.Audit.GroupCommitQueue.Pending;

namespace DeployGate.Audit.Postgres;

/// <summary>The scaled-out audit log (SPEC §9): one PostgreSQL table shared by every instance, with the same
/// columns, canonical record and hash chain as <see cref="Sqlite.SqliteDecisionLog"/> (docs/audit.md). Appends are
/// group-committed: callers enqueue, one writer per instance drains the queue into one transaction per batch (at
/// most <see cref="MaxBatch"/> records), and each caller's task completes only after that transaction committed
/// with <c>synchronous_commit = on</c> (the WAL is flushed). A failed batch faults every task in it with an
/// <see cref="AuditStoreException"/> (fail closed). One chain across instances: each batch takes a
/// transaction-scoped advisory lock, then reads the tip, so batches of different instances are appended one after
/// the other; the primary key on <c>seq</c> would refuse a fork even from a writer that skipped the lock.
/// Migrations run at construction (<see cref="PostgresMigrations"/>).</summary>
public sealed class PostgresDecisionLog : IDecisionLog, IAsyncDisposable
{
    /// <summary>Most records committed in one transaction.</summary>
    internal const int MaxBatch = GroupCommitQueue.MaxBatch;

    /// <summary>Query <see cref="DecisionQuery.Limit"/> range: 1..10,000 (SPEC §4).</summary>
    public const int MaxQueryLimit = 10_000;

    /// <summary>Longest wait for another instance's batch (the chain lock) before this batch fails (DG5001).</summary>
    internal const string LockTimeout = "10s";

    private readonly TimeProvider _time;
    private readonly NpgsqlDataSource _dataSource;
    private readonly GroupCommitQueue _queue = new();
    private readonly Task _writer;

    // Writer only.
    private NpgsqlConnection? _connection;

    private long _commitCount;
    private int _disposed;

    /// <summary>Connects, applies the schema migrations and starts the writer.</summary>
    /// <param name="connectionString">An Npgsql connection string with <c>Host</c> (see <see cref="PostgresConnection.Parse"/>).</param>
    /// <param name="time">Clock for <c>recorded_at</c>; default: the system clock.</param>
    /// <exception cref="AuditStoreException"><c>DG5006</c> for an unusable connection string, <c>DG5005</c> for a
    /// newer schema, <c>DG5001</c> when the database cannot be reached or migrated.</exception>
    public PostgresDecisionLog(string connectionString, TimeProvider? time = null)
    {
        var builder = PostgresConnection.Parse(connectionString);
#pragma warning disable RS0030 // Banned API: the documented default when the host injects no clock; recorded_at only, never a decision input.
        _time = time ?? TimeProvider.System;
#pragma warning restore RS0030
        Location = PostgresConnection.Describe(builder);
        _dataSource = NpgsqlDataSource.Create(builder);
        try
        {
            PostgresMigrations.Apply(_dataSource, PostgresDecisionLogSchema.Component, PostgresDecisionLogSchema.Steps, Location);
        }
        catch (Exception ex) when (ex is not AuditStoreException)
        {
            _dataSource.Dispose();
            throw new AuditStoreException(StoreCodes.Unavailable,
                $"cannot open audit store `{Location}`: {PostgresConnection.OneLine(ex.Message)}", ex);
        }
        catch
        {
            _dataSource.Dispose();
            throw;
        }
        _writer = Task.Run(RunWriterAsync);
    }

    /// <summary><c>postgres://host:port/database</c> (no credentials).</summary>
    public string Location { get; }

    /// <summary>Transactions committed by this instance's writer (test hook: group commit means far fewer than appends).</summary>
    internal long CommitCount => Interlocked.Read(ref _commitCount);

    /// <inheritdoc />
    /// <remarks>As <see cref="Sqlite.SqliteDecisionLog.AppendAsync"/>: <c>DG5001</c> when the batch did not commit
    /// (database unreachable, connection terminated, lock wait over <see cref="LockTimeout"/>), <c>DG5003</c> for a
    /// duplicate <c>decision_id</c>, <c>DG5004</c> after disposal. Cancelling stops the wait only.</remarks>
    public ValueTask AppendAsync(Decision decision, AuditContext context, CancellationToken cancellationToken = default)
        => AppendAsync(SerializedDecision.Of(decision), context, cancellationToken);

    /// <inheritdoc />
    public ValueTask AppendAsync(SerializedDecision decision, AuditContext context, CancellationToken cancellationToken = default)
        => _queue.EnqueueAsync(decision, context, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Newest appended first (descending <c>seq</c>). <c>Environment</c> compares case-insensitively
    /// (ASCII), the rest exactly; <c>Since</c> is inclusive on <c>evaluated_at</c>.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="DecisionQuery.Limit"/> outside 1..10,000.</exception>
    /// <exception cref="ArgumentException"><see cref="DecisionQuery.Verdict"/> other than <c>allow</c>, <c>deny</c>.</exception>
    public async Task<IReadOnlyList<string>> QueryAsync(DecisionQuery query, CancellationToken cancellationToken = default)
    {
        GroupCommitQueue.Validate(query, MaxQueryLimit);

        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            var sql = new StringBuilder("SELECT decision_json FROM decision_log");
            var conjunction = " WHERE ";
            void Filter(string condition, string parameter, string? value)
            {
                if (value is null) return;
                sql.Append(conjunction).Append(condition);
                command.Parameters.Add(new NpgsqlParameter(parameter, NpgsqlDbType.Text) { Value = value });
                conjunction = " AND ";
            }
            Filter("repository = @repository", "repository", query.Repository);
            Filter("lower(environment) = lower(@environment COLLATE \"C\")", "environment", query.Environment);   // ASCII folding, as SQLite NOCASE
            Filter("verdict = @verdict", "verdict", query.Verdict);
            Filter("evaluated_at >= @since", "since", query.Since is { } since ? StoreTime.Format(since) : null);
            sql.Append(" ORDER BY seq DESC LIMIT @limit");
            command.Parameters.Add(new NpgsqlParameter("limit", NpgsqlDbType.Integer) { Value = query.Limit });
            command.CommandText = sql.ToString();

            var results = new List<string>(Math.Min(query.Limit, 256));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) results.Add(reader.GetString(0));
            return results;
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new AuditStoreException(StoreCodes.Unavailable,
                $"cannot query audit store `{Location}`: {PostgresConnection.OneLine(ex.Message)}", ex);
        }
    }

    /// <inheritdoc />
    /// <remarks>Streams the rows in <c>seq</c> order inside one <c>REPEATABLE READ</c> read-only transaction (one
    /// snapshot; every instance may go on appending) with the same checks as SQLite (<see cref="ChainVerifier"/>).
    /// Batches commit in chain order under the chain lock, so a snapshot never holds a record without its
    /// predecessors.</remarks>
    public async Task<ChainVerification> VerifyAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            await using var command = new NpgsqlCommand(PostgresDecisionLogSchema.Walk, connection, transaction);
            await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
            var chain = new ChainVerifier();
            while (await reader.ReadAsync(cancellationToken))
            {
                var seq = reader.GetInt64(0);
                var decisionId = reader.GetString(1);
                var evaluatedAt = reader.GetString(2);
                var recordedAt = reader.GetString(3);
                var repository = await reader.IsDBNullAsync(4, cancellationToken) ? null : reader.GetString(4);
                var environment = reader.GetString(5);
                var verdict = reader.GetString(6);
                var runId = await reader.IsDBNullAsync(7, cancellationToken) ? null : reader.GetString(7);
                var channel = reader.GetString(8);
                var deliveryId = await reader.IsDBNullAsync(9, cancellationToken) ? null : reader.GetString(9);
                var json = reader.GetString(10);
                var prevHash = reader.GetString(11);
                var hash = reader.GetString(12);
                var record = new ChainRecord(decisionId, evaluatedAt, repository, environment, verdict, runId, channel, deliveryId, json);
                if (chain.Next(seq, recordedAt, prevHash, hash, record) is { } broken) return broken;
            }
            return chain.Intact();
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new AuditStoreException(StoreCodes.Unavailable,
                $"cannot read audit store `{Location}`: {PostgresConnection.OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>Stops accepting appends, lets the writer commit everything already queued, and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _queue.Close();
        await _writer;
        await _dataSource.DisposeAsync();
    }

    private async Task RunWriterAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        try
        {
            while (await _queue.WaitAsync())
            {
                _queue.Take(batch);
                if (batch.Count > 0) await CommitBatchAsync(batch);
                batch.Clear();
            }
        }
        catch (Exception ex)
        {
            // Invariant: CommitBatchAsync catches everything, so this is a bug; still, no caller may hang or succeed.
            _queue.Abandon(batch, ex, PostgresConnection.OneLine(ex.Message));
        }
        finally
        {
            await CloseWriterAsync();
        }
    }

    private async Task CommitBatchAsync(List<Pending> batch)
    {
        Exception? failure = null;
        try
        {
            var connection = _connection ??= await _dataSource.OpenConnectionAsync();

            // Two round trips per batch: (1) begin, lock, read; (2) insert and commit. The transaction is opened and
            // ended by statements of these batches, not by an NpgsqlTransaction, whose BEGIN and COMMIT would each be
            // a round trip of their own. Any failure drops the connection from the pool (see the catch below), so a
            // transaction left open is rolled back by the server, never reused.

            // 1. Durability, the chain lock, the tip, and which of the batch's ids are already in the log (refused
            //    with DG5003, as SQLite does). The lock is a statement of its own, before the reads: under READ
            //    COMMITTED each statement takes its own snapshot, so the tip is read by a later statement than the
            //    lock's and sees every batch committed before the lock was granted.
            var ids = batch.Select(p => p.Record.DecisionId).ToArray();
            long seq;
            string prevHex;
            var existing = new HashSet<string>(StringComparer.Ordinal);
            await using (var read = new NpgsqlBatch(connection))
            {
                read.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN ISOLATION LEVEL READ COMMITTED"));
                read.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL synchronous_commit = on"));
                read.BatchCommands.Add(new NpgsqlBatchCommand($"SET LOCAL lock_timeout = '{LockTimeout}'"));
                read.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_advisory_xact_lock({PostgresDecisionLogSchema.ChainLockKey})"));
                read.BatchCommands.Add(new NpgsqlBatchCommand(PostgresDecisionLogSchema.Tip));
                var exists = new NpgsqlBatchCommand(PostgresDecisionLogSchema.Existing);
                exists.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = ids });
                read.BatchCommands.Add(exists);
                await using var reader = await read.ExecuteReaderAsync();
                // Result sets: the lock's one (void) row, the tip, the existing ids (the SETs return none).
                while (await reader.ReadAsync()) { }
                if (!await reader.NextResultAsync()) throw new InvalidOperationException("the tip query returned no result");
                (seq, prevHex) = await reader.ReadAsync() ? (reader.GetInt64(0), reader.GetString(1)) : (0L, ChainHash.GenesisHex);
                if (!await reader.NextResultAsync()) throw new InvalidOperationException("the existing-ids query returned no result");
                while (await reader.ReadAsync()) existing.Add(reader.GetString(0));
            }
            var prev = new byte[ChainHash.Size];
            if (!ChainHash.TryParse(prevHex, prev))
            {
                throw new AuditStoreException(StoreCodes.ChainBroken,
                    $"cannot append: record `{seq}` hash is not 64 lowercase hex digits");
            }

            // 2. Link the batch onto the tip (the shared canonical record and hash), insert it in one statement, commit.
            var recordedAt = StoreTime.Format(_time.GetUtcNow());
            var rows = new Rows(batch.Count);
            foreach (var pending in batch)
            {
                if (!existing.Add(pending.Record.DecisionId))
                {
                    pending.Error = new AuditStoreException(StoreCodes.DuplicateDecision,
                        $"decision `{pending.Record.DecisionId}` is already in the audit log");
                    continue;
                }
                var next = checked(seq + 1);
                var hash = ChainHash.Compute(prev, next, recordedAt, pending.Record);
                var hashHex = ChainHash.ToHex(hash);
                rows.Add(next, recordedAt, pending.Record, prevHex, hashHex);
                (seq, prev, prevHex) = (next, hash, hashHex);
            }
            await using (var write = new NpgsqlBatch(connection))
            {
                if (rows.Count > 0)
                {
                    var insert = new NpgsqlBatchCommand(PostgresDecisionLogSchema.Insert);
                    rows.Bind(insert.Parameters);
                    write.BatchCommands.Add(insert);
                }
                write.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));   // skipped by the server if the insert failed
                await write.ExecuteNonQueryAsync();
            }
            Interlocked.Increment(ref _commitCount);
        }
        catch (Exception ex)
        {
            failure = ex;
            // State unknown after a failure (the session terminated, a transaction left open): this connection must
            // not go back to the pool, so the server rolls back whatever it began; the next batch opens a new one.
            _dataSource.Clear();
            await CloseWriterAsync();
        }

        GroupCommitQueue.Complete(batch, failure, f => BatchFailed(f, batch.Count));
    }

    private AuditStoreException BatchFailed(Exception failure, int count) => failure is AuditStoreException store
        ? new AuditStoreException(store.Code, store.Message, store)
        : new AuditStoreException(StoreCodes.Unavailable,
            $"audit store `{Location}` did not commit {count} records: {PostgresConnection.OneLine(failure.Message)}", failure);

    private async Task CloseWriterAsync()
    {
        var connection = _connection;
        _connection = null;
        if (connection is null) return;
        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception)
        {
            // Closing a broken connection may fail again; the next batch opens a new one either way.
        }
    }

    /// <summary>Column arrays for the one-statement insert (<c>unnest</c>).</summary>
    private sealed class Rows(int capacity)
    {
        private readonly List<long> _seq = new(capacity);
        private readonly List<string?>[] _text = [.. Enumerable.Range(0, 12).Select(_ => new List<string?>(capacity))];

        private static readonly string[] TextColumns =
        [
            "decision_id", "evaluated_at", "recorded_at", "repository", "environment", "verdict",
            "run_id", "channel", "delivery_id", "decision_json", "prev_hash", "hash",
        ];

        public int Count => _seq.Count;

        public void Add(long seq, string recordedAt, ChainRecord r, string prevHex, string hashHex)
        {
            _seq.Add(seq);
            string?[] values = [r.DecisionId, r.EvaluatedAt, recordedAt, r.Repository, r.Environment, r.Verdict,
                r.RunId, r.Channel, r.DeliveryId, r.DecisionJson, prevHex, hashHex];
            for (var i = 0; i < values.Length; i++) _text[i].Add(values[i]);
        }

        public void Bind(NpgsqlParameterCollection parameters)
        {
            parameters.Add(new NpgsqlParameter("seq", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = _seq.ToArray() });
            for (var i = 0; i < TextColumns.Length; i++)
            {
                parameters.Add(new NpgsqlParameter(TextColumns[i], NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = _text[i].ToArray() });
            }
        }
    }
}
