using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using DeployGate.Engine;
using Microsoft.Data.Sqlite;
using Pending = DeployGate.Audit.GroupCommitQueue.Pending;

namespace DeployGate.Audit.Sqlite;

/// <summary>The embedded audit log (SPEC §9): one SQLite file in WAL mode with <c>synchronous=FULL</c>, append-only
/// and hash-chained (see docs/audit.md for the canonical record). Appends are group-committed, and each caller's
/// task completes only after its batch committed and was synced. A failed batch faults every task in it with an
/// <see cref="AuditStoreException"/> (fail closed), and nothing of it is kept.
/// <para>An appender that finds nobody committing, after a batch of one record (sparse traffic), commits what waits
/// itself, on its own thread, when nothing would make it wait: the file's write turn is free at once
/// (<see cref="FileWriteLock"/>) and SQLite's lock too. It then answers with no wake-up of another thread and no hop
/// back through the thread pool (see <c>TryCommitInline</c>). Otherwise, and for whatever arrives while a commit runs,
/// appenders queue their record and wake the writer thread (one hand-off: a semaphore, not a channel, whose reader
/// continuation would first hop through the thread pool); the writer drains the queue in batches of at most
/// <see cref="MaxBatch"/> until it is empty, and is the one that waits for locks. Checkpoints run on a thread of their
/// own (see <c>RunCheckpointer</c>), never inside an append's commit.</para>
/// The writer re-reads the chain tip inside each <c>BEGIN IMMEDIATE</c> transaction, so several processes may
/// share one file without forking the chain (the others then wait on SQLite's lock).
/// <para>Query filters are indexed in a second file, off the commit path (<see cref="SqliteQueryIndex"/>).</para></summary>
public sealed class SqliteDecisionLog : IDecisionLog, IAsyncDisposable
{
    /// <summary>Most records committed in one transaction.</summary>
    internal const int MaxBatch = GroupCommitQueue.MaxBatch;

    /// <summary>Query <see cref="DecisionQuery.Limit"/> range: 1..10,000 (SPEC §4).</summary>
    public const int MaxQueryLimit = 10_000;

    private const int BusyTimeoutMs = 10_000;   // the writer thread waits this long for SQLite's write lock (DG5001 after)

    /// <summary>Commits after which the checkpointer is woken (it also wakes every second when there were any). Small
    /// and frequent: each checkpoint ends in a database fsync that commits' WAL fsyncs queue behind, so its length
    /// is what a request caught by it waits. Open loop at 13,000–15,000/s: p99 2.9–8.5 ms (median 4.0 of five
    /// runs) with 8, 4.1–15.4 ms (median 5.7 of seven) with 64, 9.5–19 ms with 256 or more (a closed loop hides
    /// this: its clients stop sending during a stall).</summary>
    internal const int CheckpointEveryCommits = 8;

    /// <summary>WAL length, in frames (pages), from which the checkpointer also runs a RESTART checkpoint, so the WAL
    /// starts over from its beginning although commits never pause. 4,096 frames of 4 KiB: 16 MiB.</summary>
    internal const int RestartFrames = 4_096;

    /// <summary>WAL length from which the writer thread itself runs the RESTART, between two batches: under sustained
    /// saturation the checkpointer's RESTART rarely finds the writer idle, and the WAL grew without end (122,000
    /// frames, 476 MiB, in 10 s of the <c>audit</c> run at 256 appenders). 16,384 frames: 64 MiB.</summary>
    internal const int ForcedRestartFrames = 16_384;

    private int _restartRequested;   // set by the checkpointer, taken by the writer after its next batch

    /// <summary>Rows committed after which the query index copies them (see <see cref="SqliteQueryIndex"/>). Small, so each
    /// pass is a short burst of CPU: a pass takes a core for a while, and on two shared cores at ~90 % load the requests
    /// that arrive meanwhile queue behind it. Open loop at 9,000/s, audit file on tmpfs, per-request traces: with 1,024
    /// the slow requests came in stalls every ~115 ms (one per pass), p99 2.3–2.4 ms; with 128, p99 1.4–1.6 ms (1.2–1.3
    /// with the indexer's thread at nice 19); 32–64 and 256 measured no better than 128.</summary>
    internal const int IndexEveryRows = 128;

    /// <summary>The query index copies rows that did not reach <see cref="IndexEveryRows"/> at least this often.</summary>
    internal static readonly TimeSpan IndexInterval = TimeSpan.FromSeconds(1);

    private readonly SqliteQueryIndex _index;

    /// <summary>Taken around each write transaction, with the grant store's and the review jobs' on the same file
    /// (<see cref="FileWriteLock"/>): none of them then waits for another in SQLite's busy handler.</summary>
    private readonly FileWriteLock _writeLock;

    private readonly TimeProvider _time;
    private readonly string _writeConnectionString;
    private readonly string _readConnectionString;
    private readonly TaskCompletionSource _writerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Guarded by _gate. _committing: a committer owns the connection: the writer thread, woken and not yet finding the
    // queue empty, or an appender committing inline (so another appender neither wakes the writer nor commits). Only
    // that owner touches the connection, its statements and _inlineBatch.
    private readonly Lock _gate = new();
    private List<Pending> _waiting = new(64);
    private bool _committing;
    private bool _closed;
    // Wakes the writer thread. A SemaphoreSlim, which spins before it blocks, unlike the checkpointer's and the index's
    // WakeSignal: the next append often comes within the spin, and a writer that had gone to sleep costs that append a
    // wake-up (without the spin, open loop at 8,000/s on tmpfs: p50 413–542 against 163–203 µs; docs/performance.md).
    private readonly SemaphoreSlim _handoff = new(0);

    // The committer only (see _committing; and the constructor, before anyone appends).
    private SqliteConnection? _connection;
    private List<Pending> _inlineBatch = new(4);   // an inline committer's batch list, reused
    private long _inlineCommits;
    private int _lastBatch;   // records in the last batch committed, by either: inline commits only while it is 1
    private WriterStatements? _statements;   // prepared at the first commit (the schema exists by then)

    private long _commitCount;
    private int _disposed;

    // Checkpoints run on their own thread and connection, off every append's path (wal_autocheckpoint is off:
    // with it, every ~200th lone append copied the WAL into the database and synced it before answering).
    private readonly WakeSignal _checkpointWake = new();   // no spinning: nothing waits for a checkpoint
    private readonly TaskCompletionSource _checkpointerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _commitsSinceCheckpoint;
    private long _checkpointCount;
    private long _forcedRestarts;

    /// <summary>Opens (creating the folder, file and schema when missing) the log at <paramref name="databasePath"/>,
    /// a file path. For a configuration value that may be a connection string use <see cref="Open"/>.</summary>
    /// <param name="databasePath">File path, relative to the current directory unless rooted.</param>
    /// <param name="time">Clock for <c>recorded_at</c>; default: the system clock.</param>
    /// <exception cref="AuditStoreException"><c>DG5006</c> for an unusable path, <c>DG5005</c> for a newer schema,
    /// <c>DG5001</c> when the file cannot be opened or initialised.</exception>
    public SqliteDecisionLog(string databasePath, TimeProvider? time = null)
        : this(databasePath, time, IndexEveryRows, IndexInterval)
    {
    }

    /// <summary>Test hook: when the query index copies rows (see <see cref="IndexEveryRows"/>, <see cref="IndexInterval"/>;
    /// <see cref="Timeout.InfiniteTimeSpan"/>: only at the threshold).</summary>
    internal SqliteDecisionLog(string databasePath, TimeProvider? time, int indexEveryRows, TimeSpan indexInterval)
    {
        if (string.IsNullOrWhiteSpace(databasePath) || databasePath.Trim() == ":memory:")
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation,
                $"audit store needs a file path, not `{databasePath}`");
        }
#pragma warning disable RS0030 // Banned API: the documented default when the host injects no clock; recorded_at only, never a decision input.
        _time = time ?? TimeProvider.System;
#pragma warning restore RS0030
        DatabasePath = Path.GetFullPath(databasePath);
        _writeLock = FileWriteLock.For(DatabasePath);
        _index = new SqliteQueryIndex(DatabasePath, indexEveryRows, indexInterval);
        _writeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,        // one long-lived writer connection; disposal must really close the file
            DefaultTimeout = 10,    // seconds to wait for SQLite's write lock before the batch fails (DG5001)
        }.ToString();
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
            DefaultTimeout = 10,
        }.ToString();

        try
        {
            var folder = Path.GetDirectoryName(DatabasePath);
            if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
            _connection = OpenWriter();
            EnsureSchema(_connection);
        }
        catch (Exception ex) when (ex is not AuditStoreException)
        {
            CloseWriter();
            throw new AuditStoreException(StoreCodes.Unavailable,
                $"cannot open audit store `{DatabasePath}`: {OneLine(ex.Message)}", ex);
        }
        catch
        {
            CloseWriter();
            throw;
        }

        var writer = new Thread(RunWriter) { IsBackground = true, Name = "dg-audit-writer" };
        writer.Start();
        var checkpointer = new Thread(RunCheckpointer) { IsBackground = true, Name = "dg-audit-ckpt" };
        checkpointer.Start();
        _index.Start();
    }

    /// <summary>The database file, as a full path.</summary>
    public string DatabasePath { get; }

    /// <summary>Transactions committed by the writer so far (test hook: group commit means far fewer than appends).</summary>
    internal long CommitCount => Interlocked.Read(ref _commitCount);

    /// <summary>Checkpoints the checkpointer completed (test hook).</summary>
    internal long CheckpointCount => Interlocked.Read(ref _checkpointCount);

    /// <summary>The query index (test hook).</summary>
    internal SqliteQueryIndex Index => _index;

    /// <summary>RESTART checkpoints the writer ran between batches because the WAL passed <see cref="ForcedRestartFrames"/> (test hook).</summary>
    internal long ForcedRestartCount => Interlocked.Read(ref _forcedRestarts);

    /// <summary>Opens the log named by a <c>Store:ConnectionString</c> value. A value containing <c>=</c> is an
    /// SQLite connection string (e.g. <c>Data Source=/var/lib/deploygate/audit.db</c>) of which only
    /// <c>Data Source</c> (aliases <c>DataSource</c>, <c>Filename</c>) is used: the store sets pooling, mode,
    /// timeouts and pragmas itself. Any other value is a file path. See <see cref="ResolvePath"/>.</summary>
    public static SqliteDecisionLog Open(string location, TimeProvider? time = null) => new(ResolvePath(location), time);

    /// <summary>The file path a <c>Store:ConnectionString</c> value names (rules at <see cref="Open"/>).</summary>
    /// <exception cref="AuditStoreException"><c>DG5006</c>: empty, in-memory, read-only, encrypted
    /// (<c>Password</c>) or unparsable connection string.</exception>
    public static string ResolvePath(string location)
    {
        if (string.IsNullOrWhiteSpace(location))
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation, "audit store location is empty");
        }
        if (!location.Contains('=', StringComparison.Ordinal))
        {
            return location.Trim() != ":memory:" ? location.Trim()
                : throw new AuditStoreException(StoreCodes.InvalidLocation, "audit store needs a file path, not `:memory:`");
        }

        SqliteConnectionStringBuilder builder;
        try
        {
            builder = new SqliteConnectionStringBuilder(location);
        }
        catch (ArgumentException ex)
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation,
                $"audit store connection string is invalid: {OneLine(ex.Message)}", ex);
        }
        if (string.IsNullOrWhiteSpace(builder.DataSource) || builder.DataSource.Trim() == ":memory:"
            || builder.Mode is SqliteOpenMode.Memory)
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation,
                "audit store connection string needs `Data Source=<file path>`");
        }
        if (builder.Mode is SqliteOpenMode.ReadOnly)
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation, "audit store cannot be `Mode=ReadOnly`");
        }
        if (!string.IsNullOrEmpty(builder.Password))
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation,
                "audit store does not support `Password` (no SQLCipher in this build)");
        }
        return builder.DataSource.Trim();
    }

    /// <inheritdoc />
    /// <remarks>The decision JSON is serialized on the caller's thread, then queued for the writer. The task
    /// faults with <see cref="AuditStoreException"/>: <c>DG5001</c> when the batch did not commit,
    /// <c>DG5003</c> for a duplicate <c>decision_id</c>, <c>DG5004</c> after disposal. Cancelling stops the
    /// wait only: a record already queued may still be written (recording too much is the safe side).</remarks>
    public ValueTask AppendAsync(Decision decision, AuditContext context, CancellationToken cancellationToken = default)
        => AppendAsync(SerializedDecision.Of(decision), context, cancellationToken);

    /// <inheritdoc />
    /// <remarks>As the other overload, with the JSON serialized by the caller.</remarks>
    public ValueTask AppendAsync(SerializedDecision decision, AuditContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(context);
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);

        var pending = new Pending(ChainRecord.From(decision, context));
        bool wake;
        lock (_gate)
        {
            if (_closed)
            {
                return ValueTask.FromException(new AuditStoreException(StoreCodes.Closed,
                    $"audit log is closed; decision `{decision.Decision.DecisionId}` was not recorded"));
            }
            _waiting.Add(pending);
            wake = !_committing;
            _committing = true;
        }
        if (wake && (Volatile.Read(ref _lastBatch) > 1 || !TryCommitInline())) _handoff.Release();

        var done = pending.Done.Task;
        return new ValueTask(cancellationToken.CanBeCanceled && !done.IsCompleted ? done.WaitAsync(cancellationToken) : done);
    }

    /// <inheritdoc />
    /// <remarks>Newest appended first (descending <c>seq</c>). <c>Environment</c> compares case-insensitively
    /// (ASCII), the rest exactly; <c>Since</c> is inclusive on <c>evaluated_at</c>.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="DecisionQuery.Limit"/> outside 1..10,000.</exception>
    /// <exception cref="ArgumentException"><see cref="DecisionQuery.Verdict"/> other than <c>allow</c>, <c>deny</c>.</exception>
    public Task<IReadOnlyList<string>> QueryAsync(DecisionQuery query, CancellationToken cancellationToken = default)
    {
        // On a store thread (a refused query faults the task, as PostgreSQL's does): Microsoft.Data.Sqlite's async calls complete synchronously, so a query of thousands of rows
        // would otherwise hold a pool worker for its whole read.
        return StoreWork.Run(() => QueryCoreAsync(query, cancellationToken), cancellationToken);
    }

    private async Task<IReadOnlyList<string>> QueryCoreAsync(DecisionQuery query, CancellationToken cancellationToken)
    {
        GroupCommitQueue.Validate(query, MaxQueryLimit);
        try
        {
            await using var connection = new SqliteConnection(_readConnectionString);
            await connection.OpenAsync(cancellationToken);
            var indexed = await AttachIndexAsync(connection, cancellationToken);
            // One transaction: its first statement read the index (its snapshot holds exactly rows 1..indexed), and
            // the log's snapshot, taken by the next, is no older, so it holds every row the index names.
            await using var transaction = connection.BeginTransaction(deferred: true);
            if (indexed > 0)
            {
                await using var watermark = connection.CreateCommand();
                watermark.Transaction = transaction;
                watermark.CommandText = "SELECT coalesce(max(seq), 0) FROM idx.decision_index";
                indexed = Convert.ToInt64(await watermark.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
            }

            // Newest first: the rows not yet indexed (about IndexEveryRows, or one IndexInterval's, unless the index is
            // catching up), then the indexed ones through the index file, for whatever of the limit is left.
            var results = new List<string>(Math.Min(query.Limit, 256));
            await ReadAsync($"SELECT decision_json FROM decision_log WHERE seq > $indexed{Filters(query, "")} ORDER BY seq DESC LIMIT $limit", query.Limit);
            if (results.Count < query.Limit && indexed > 0)
            {
                await ReadAsync($"SELECT l.decision_json FROM idx.decision_index i JOIN decision_log l ON l.seq = i.seq WHERE i.seq <= $indexed{Filters(query, "i.")} ORDER BY i.seq DESC LIMIT $limit",
                    query.Limit - results.Count);
            }
            return results;

            async Task ReadAsync(string sql, int limit)
            {
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = sql;
                command.Parameters.AddWithValue("$indexed", indexed);
                command.Parameters.AddWithValue("$limit", limit);
                if (query.Repository is { } repository) command.Parameters.AddWithValue("$repository", repository);
                if (query.Environment is { } environment) command.Parameters.AddWithValue("$environment", environment);
                if (query.Verdict is { } verdict) command.Parameters.AddWithValue("$verdict", verdict);
                if (query.Since is { } since) command.Parameters.AddWithValue("$since", StoreTime.Format(since));
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken)) results.Add(reader.GetString(0));
            }
        }
        catch (SqliteException ex)
        {
            throw new AuditStoreException(StoreCodes.Unavailable,
                $"cannot query audit store `{DatabasePath}`: {OneLine(ex.Message)}", ex);
        }
    }

    /// <inheritdoc />
    /// <remarks>Streams the rows in <c>seq</c> order on a read-only connection (one snapshot; appends may go on)
    /// and stops at the first problem: a missing <c>seq</c>, a <c>prev_hash</c> that is not the previous row's
    /// <c>hash</c>, or a <c>hash</c> that does not match the row. Removal of the newest records cannot be seen
    /// from inside the chain: compare <see cref="ChainVerification.HeadHash"/> with a copy kept elsewhere.</remarks>
    public Task<ChainVerification> VerifyAsync(CancellationToken cancellationToken = default) =>
        Task.Run(() => Verify(cancellationToken), cancellationToken);

    /// <summary>Stops accepting appends, lets the writer commit everything already queued, and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            bool wake;
            lock (_gate)
            {
                _closed = true;
                wake = !_committing;    // else the writer is awake: it drains, finds the queue empty and stops
                _committing = true;
            }
            if (wake) _handoff.Release();
            _checkpointWake.Set();
        }
        await _checkpointerDone.Task;
        await _writerDone.Task;   // closing the last connection checkpoints what is left
        await _index.DisposeAsync();
    }

    /// <summary>Attaches the query index file read-only as <c>idx</c> and returns 1 when it can be used, else 0 (missing,
    /// not yet built, of another version, unreadable): the query then reads the log alone, which is slower, not wrong.</summary>
    private async Task<long> AttachIndexAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        if (!File.Exists(_index.IndexPath)) return 0;
        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "ATTACH DATABASE $index AS idx";   // read-only, as the connection is
            command.Parameters.AddWithValue("$index", _index.IndexPath);
            await command.ExecuteNonQueryAsync(cancellationToken);
            command.CommandText = "SELECT (SELECT user_version FROM pragma_user_version('idx')) = $version AND EXISTS (SELECT 1 FROM idx.sqlite_master WHERE name = 'decision_index')";
            command.Parameters.AddWithValue("$version", SqliteSchema.IndexFileVersion);
            return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (SqliteException)
        {
            return 0;
        }
    }

    /// <summary>The query's filters as <c> AND …</c> conditions on the columns of <paramref name="table"/> (a prefix
    /// such as <c>i.</c>); both tables compare <c>environment</c> with <c>NOCASE</c>.</summary>
    private static string Filters(DecisionQuery query, string table)
    {
        var sql = new StringBuilder();
        if (query.Repository is not null) sql.Append(" AND ").Append(table).Append("repository = $repository");
        if (query.Environment is not null) sql.Append(" AND ").Append(table).Append("environment = $environment");
        if (query.Verdict is not null) sql.Append(" AND ").Append(table).Append("verdict = $verdict");
        if (query.Since is not null) sql.Append(" AND ").Append(table).Append("evaluated_at >= $since");
        return sql.ToString();
    }

    private ChainVerification Verify(CancellationToken cancellationToken)
    {
        try
        {
            using var connection = new SqliteConnection(_readConnectionString);
            connection.Open();
            using var transaction = connection.BeginTransaction(deferred: true);   // one consistent snapshot
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = SqliteSchema.Walk;
            using var reader = command.ExecuteReader();

            var chain = new ChainVerifier();
            while (reader.Read())
            {
                cancellationToken.ThrowIfCancellationRequested();
                var record = new ChainRecord(
                    DecisionId: reader.GetString(1),
                    EvaluatedAt: reader.GetString(2),
                    Repository: reader.IsDBNull(4) ? null : reader.GetString(4),
                    Environment: reader.GetString(5),
                    Verdict: reader.GetString(6),
                    RunId: reader.IsDBNull(7) ? null : reader.GetString(7),
                    Channel: reader.GetString(8),
                    DeliveryId: reader.IsDBNull(9) ? null : reader.GetString(9),
                    DecisionJsonUtf8: Encoding.UTF8.GetBytes(reader.GetString(10)));   // the bytes the hash covers
                if (chain.Next(reader.GetInt64(0), reader.GetString(3), reader.GetString(11), reader.GetString(12), record) is { } broken)
                {
                    return broken;
                }
            }
            return chain.Intact();
        }
        catch (SqliteException ex)
        {
            throw new AuditStoreException(StoreCodes.Unavailable,
                $"cannot read audit store `{DatabasePath}`: {OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>The next batch, oldest first; empty when nothing waits. Only the writer thread calls it, with the
    /// previous batch, whose waiters are complete: the two lists trade places, so a commit allocates no list.</summary>
    private List<Pending> Take(List<Pending> done)
    {
        done.Clear();
        lock (_gate)
        {
            var batch = _waiting;
            if (batch.Count == 0) return done;
            if (batch.Count <= MaxBatch)
            {
                _waiting = done;
                return batch;
            }
            done.AddRange(CollectionsMarshal.AsSpan(batch)[..MaxBatch]);
            batch.RemoveRange(0, MaxBatch);
            return done;
        }
    }

    /// <summary>Commits inline, on the appender's thread, the batch waiting (its own record and whatever came before
    /// this call took it), once this appender found nobody committing and the last batch held one record. Only when
    /// nothing would make it wait: false, with nothing taken, when another writer of this process has the file's turn (a
    /// redeem, a review job) or another process holds SQLite's write lock, or the connection cannot be opened; the writer
    /// thread then commits, and waits, as for any queued record. One batch: what arrives meanwhile, a forced RESTART and
    /// the close are handed on to the writer thread.
    /// <para>Measured on 2026-12-07 against always waking the writer (alternated runs; docs/performance.md): at one
    /// client, durable, the gate's CPU per request 240–287 against 301–538 µs and p99 727–839 against 979–1,609 µs; at
    /// 2,000/s in memory, 304–314 against 411–450 µs per request; saturation the same within the noise (three ABBA pairs).
    /// Why only after a lone batch: at 16 clients or more, committing inline whenever the writer was idle took the first
    /// record of what would have been one batch, so commits doubled (saturation −5 to −13 % in two pairs); there the
    /// writer thread takes them all, as before.</para></summary>
    private bool TryCommitInline()
    {
        if (!_writeLock.TryEnter(out var turn)) return false;
        List<Pending> batch;
        Exception? failure = null;
        using (turn)
        {
            WriterStatements statements;
            try
            {
                statements = Statements();
                if (!statements.TryBeginNow(BusyTimeoutMs)) return false;
            }
            catch (Exception)
            {
                CloseWriter();   // the writer thread opens it again, and reports what fails then
                return false;
            }
            batch = Take(_inlineBatch);
            try
            {
                WriteAndCommit(statements, batch);
            }
            catch (Exception ex)
            {
                failure = ex;
                CloseWriter();
            }
        }
        if (failure is null) Interlocked.Increment(ref _inlineCommits);
        Finish(batch, failure);
        _inlineBatch = batch;

        // What arrived meanwhile, a forced RESTART asked for (a checkpoint never runs on an appender's thread), and the
        // close all go to the writer thread, with the ownership.
        bool handOn;
        lock (_gate)
        {
            handOn = _waiting.Count > 0 || _closed || Volatile.Read(ref _restartRequested) == 1;
            if (!handOn) _committing = false;
        }
        if (handOn) _handoff.Release();
        return true;
    }

    /// <summary>Batches committed inline by an appender, not by the writer thread (test hook).</summary>
    internal long InlineCommits => Interlocked.Read(ref _inlineCommits);

    private void RunWriter()
    {
        var batch = new List<Pending>();
        try
        {
            while (true)
            {
                _handoff.Wait();
                bool stop;
                while (true)
                {
                    batch = Take(batch);
                    if (batch.Count == 0)
                    {
                        if (Interlocked.Exchange(ref _restartRequested, 0) == 1) RestartBetweenBatches();   // handed on by an inline commit
                        lock (_gate)
                        {
                            if (_waiting.Count > 0) continue;
                            stop = _closed;
                            _committing = stop;   // asleep: the next append wakes it; once closed, nothing does
                        }
                        break;
                    }
                    CommitBatch(batch);
                    if (Interlocked.Exchange(ref _restartRequested, 0) == 1) RestartBetweenBatches();
                }
                if (stop) break;
            }
        }
        catch (Exception ex)
        {
            // Invariant: CommitBatch catches everything, so this is a bug; still, no caller may hang or succeed.
            lock (_gate)
            {
                _closed = true;
                batch.AddRange(_waiting);
                _waiting.Clear();
            }
            var failure = new AuditStoreException(StoreCodes.Unavailable, $"audit writer stopped: {OneLine(ex.Message)}", ex);
            foreach (var pending in batch) pending.Done.TrySetException(failure);
        }
        finally
        {
            CloseWriter();
            _writerDone.TrySetResult();
        }
    }

    /// <summary>Commits one batch: waits for SQLite's write lock (up to the busy timeout), then completes its waiters.</summary>
    private void CommitBatch(List<Pending> batch)
    {
        Exception? failure = null;
        try
        {
            var statements = Statements();
            using (_writeLock.Enter())
            {
                statements.Begin();   // BEGIN IMMEDIATE: take the write lock now
                WriteAndCommit(statements, batch);
            }
        }
        catch (Exception ex)
        {
            failure = ex;
            CloseWriter();   // state unknown after a failure: the next batch starts on a fresh connection
        }
        Finish(batch, failure);
    }

    /// <summary>The committer's statements on the writer connection, opening both when missing.</summary>
    private WriterStatements Statements()
    {
        _connection ??= OpenWriter();
        return _statements ??= new WriterStatements(_connection);
    }

    /// <summary>After a batch's transaction, by either committer: counts a commit (the checkpointer's and the index's
    /// cue), remembers the batch's size, then completes every waiter: success, its own refusal, or the batch's failure.</summary>
    private void Finish(List<Pending> batch, Exception? failure)
    {
        if (failure is null)
        {
            NoteCommit();
            _index.Committed(batch.Count);
        }
        Volatile.Write(ref _lastBatch, batch.Count);
        GroupCommitQueue.Complete(batch, failure, f => BatchFailed(f, batch.Count));
    }

    /// <summary>In the transaction just begun: writes the batch and commits it, or rolls it back and rethrows.</summary>
    private void WriteAndCommit(WriterStatements statements, List<Pending> batch)
    {
        try
        {
            WriteRows(statements, batch);
            statements.Commit();
        }
        catch
        {
            statements.TryRollback();
            throw;
        }
    }

    private void NoteCommit()
    {
        Interlocked.Increment(ref _commitCount);
        if (Interlocked.Increment(ref _commitsSinceCheckpoint) == CheckpointEveryCommits) _checkpointWake.Set();
    }

    /// <summary>The checkpointer thread: after every <see cref="CheckpointEveryCommits"/> commits (or each second when
    /// there were fewer), a PASSIVE checkpoint copies the WAL into the database without blocking anyone; when the WAL has
    /// reached <see cref="RestartFrames"/>, a RESTART checkpoint follows, which holds the write lock only for what the
    /// passive one left and makes the next commit start the WAL over. It does not wait for a lock (this connection has
    /// no busy handler); one that cannot run now runs next time, unless the WAL has reached
    /// <see cref="ForcedRestartFrames"/>: then the writer thread runs it after its next batch (see <see cref="RestartBetweenBatches"/>). A failure only leaves the WAL longer meanwhile;
    /// durability never depends on a checkpoint (a committed record is in the synced WAL).</summary>
    private void RunCheckpointer()
    {
        SqliteConnection? connection = null;
        try
        {
            while (Volatile.Read(ref _disposed) == 0)
            {
                _checkpointWake.Wait(1_000);
                if (Volatile.Read(ref _disposed) != 0) break;
                if (Interlocked.Exchange(ref _commitsSinceCheckpoint, 0) == 0) continue;
                try
                {
                    connection ??= OpenCheckpointer();
                    var (_, walFrames) = Checkpoint(connection, "PASSIVE");
                    if (walFrames >= RestartFrames && Checkpoint(connection, "RESTART") is (true, >= ForcedRestartFrames))
                        RequestRestart();
                    Interlocked.Increment(ref _checkpointCount);
                }
                catch (Exception)
                {
                    // Whatever it was, the appends do not depend on it: drop the connection and try again next round.
                    connection?.Dispose();
                    connection = null;   // next round reopens
                }
            }
        }
        finally
        {
            connection?.Dispose();
            _checkpointerDone.TrySetResult();
        }
    }

    /// <summary>The writer thread, between two batches, when the WAL has grown past <see cref="ForcedRestartFrames"/>: it
    /// holds no transaction, so the RESTART gets the write lock at once; commits wait meanwhile (for the frames the last
    /// PASSIVE left, and the database's sync). Only sustained saturation gets here. One that is blocked (the checkpointer's
    /// PASSIVE or a reader held it up) is asked again, for after the next batch; a failure waits for the next request.</summary>
    private void RestartBetweenBatches()
    {
        try
        {
            if (_connection is null) return;
            using var turn = _writeLock.Enter();
            if (Checkpoint(_connection, "RESTART").Blocked)
            {
                RequestRestart();
                return;
            }
            Interlocked.Increment(ref _forcedRestarts);
        }
        catch (SqliteException)
        {
            // The next batch's own errors are reported where they belong; a checkpoint failure costs WAL length only.
        }
    }

    /// <summary>Runs <c>PRAGMA wal_checkpoint(mode)</c>: whether a RESTART was blocked (it could not take the lock or
    /// wait for readers), and the WAL's length in frames (-1 when not in WAL mode).</summary>
    private static (bool Blocked, long WalFrames) Checkpoint(SqliteConnection connection, string mode)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA wal_checkpoint({mode})";
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0) != 0, reader.GetInt64(1)) : (false, -1);
    }

    /// <summary>Asks the writer thread to run a RESTART checkpoint after its next batch (see <see cref="RestartBetweenBatches"/>).</summary>
    internal void RequestRestart() => Volatile.Write(ref _restartRequested, 1);

    private SqliteConnection OpenCheckpointer()
    {
        var connection = new SqliteConnection(_writeConnectionString);
        try
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA synchronous = FULL";   // the checkpoint syncs the WAL before and the database after
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Inside an open write transaction: reads the tip, then chains and inserts each record. A duplicate
    /// <c>decision_id</c> fails that record alone (its statement is undone; the transaction goes on).</summary>
    private void WriteRows(WriterStatements statements, List<Pending> batch)
    {
        Span<byte> prev = stackalloc byte[ChainHash.Size];
        Span<byte> prevHex = stackalloc byte[ChainHash.Size * 2];
        Span<byte> hashHex = stackalloc byte[ChainHash.Size * 2];
        var seq = statements.ReadTip(prev);
        ChainHash.WriteHex(prev, prevHex);
        var recordedAt = StoreTime.Format(_time.GetUtcNow());
        Span<byte> recordedAtUtf8 = stackalloc byte[recordedAt.Length];
        Encoding.ASCII.GetBytes(recordedAt, recordedAtUtf8);
        foreach (var pending in batch)
        {
            var next = checked(seq + 1);
            var hash = ChainHash.Compute(prev, next, recordedAt, pending.Record);
            ChainHash.WriteHex(hash, hashHex);
            if (!statements.TryInsert(next, recordedAtUtf8, pending.Record, prevHex, hashHex))
            {
                pending.Error = new AuditStoreException(StoreCodes.DuplicateDecision,
                    $"decision `{pending.Record.DecisionId}` is already in the audit log");
                continue;
            }
            seq = next;
            hash.CopyTo(prev);
            hashHex.CopyTo(prevHex);
        }
    }

    private AuditStoreException BatchFailed(Exception failure, int count) => failure is AuditStoreException store
        ? new AuditStoreException(store.Code, store.Message, store)
        : new AuditStoreException(StoreCodes.Unavailable,
            $"audit store `{DatabasePath}` did not commit {count} records: {OneLine(failure.Message)}", failure);

    private SqliteConnection OpenWriter()
    {
        var connection = new SqliteConnection(_writeConnectionString);
        try
        {
            connection.Open();
            using (var command = connection.CreateCommand())
            {
                command.CommandText = "PRAGMA journal_mode = WAL";
                var mode = command.ExecuteScalar() as string;
                if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                {
                    throw new AuditStoreException(StoreCodes.Unavailable,
                        $"audit store `{DatabasePath}` cannot use WAL journal mode (got `{mode}`)");
                }
                // FULL: the WAL is synced at every commit, so a completed append survives power loss too.
                // Checkpoints are the checkpointer thread's (see RunCheckpointer), not the committing thread's; after one,
                // a WAL longer than 64 MiB is truncated to that.
                // busy_timeout: wait for another process's write lock in SQLite's own short sleeps, not in
                // Microsoft.Data.Sqlite's retry loop.
                command.CommandText = $"PRAGMA synchronous = FULL; PRAGMA fullfsync = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864; PRAGMA busy_timeout = {BusyTimeoutMs};";
                command.ExecuteNonQuery();
            }

            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private void EnsureSchema(SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction(deferred: false);
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = SqliteSchema.Create;
        command.ExecuteNonQuery();
        command.CommandText = "SELECT version FROM schema_versions WHERE component = $component";
        command.Parameters.AddWithValue("$component", SqliteSchema.Component);
        var found = command.ExecuteScalar();
        if (found is null)
        {
            command.CommandText = "INSERT INTO schema_versions (component, version) VALUES ($component, $version)";
            command.Parameters.AddWithValue("$version", SqliteSchema.Version);
            command.ExecuteNonQuery();
        }
        else if (Convert.ToInt64(found, System.Globalization.CultureInfo.InvariantCulture) == 1)
        {
            command.CommandText = SqliteSchema.MigrateFrom1;   // the query index builds itself from the rows
            command.ExecuteNonQuery();
        }
        else if (Convert.ToInt64(found, System.Globalization.CultureInfo.InvariantCulture) != SqliteSchema.Version)
        {
            throw new AuditStoreException(StoreCodes.UnsupportedSchema,
                $"audit store `{DatabasePath}` has schema version `{found}`; this build reads `{SqliteSchema.Version}`");
        }
        transaction.Commit();
    }

    private void CloseWriter()
    {
        try
        {
            _statements?.Dispose();   // before the connection: it is not closed while statements remain
            _connection?.Dispose();
        }
        catch (Exception)
        {
            // Closing after a failure may fail again; the next batch opens a new connection either way.
        }
        (_statements, _connection) = (null, null);
    }

    private static string OneLine(string text) =>
        text.ReplaceLineEndings(" ").Trim().TrimEnd('.');
}
