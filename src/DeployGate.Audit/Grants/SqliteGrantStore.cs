using System.Globalization;
using DeployGate.Audit.Sqlite;
using Microsoft.Data.Sqlite;

namespace DeployGate.Audit.Grants;

/// <summary>Grant redemptions and revocations in SQLite (SPEC §9): the table <c>grant_uses</c> in the
/// <b>same database file</b> as the audit log (one file to back up; its own schema component <c>grants</c>).
/// Each write is made in a <c>BEGIN IMMEDIATE</c> transaction with <c>synchronous=FULL</c> (writes that wait
/// together share one), so a redemption is atomic across threads and across processes sharing the file (SQLite's write
/// lock serializes them; the row is read and written under it), and durable before the caller answers.</summary>
public sealed class SqliteGrantStore : IGrantStore, IDisposable
{
    /// <summary>A grant lives at most this long (<c>Grants:Ttl</c> max), so a revocation row whose grant is
    /// unknown can be purged this long after the revocation.</summary>
    public static readonly TimeSpan MaxGrantLifetime = TimeSpan.FromHours(1);

    internal const string Component = "grants";
    internal const int Version = 1;

    private const string Create = """
        CREATE TABLE IF NOT EXISTS schema_versions (
            component TEXT PRIMARY KEY,
            version   INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE IF NOT EXISTS grant_uses (
            jti          TEXT PRIMARY KEY,
            decision_id  TEXT,
            repository   TEXT NOT NULL,
            run_id       TEXT NOT NULL,
            expires_at   TEXT NOT NULL,
            redeemed_at  TEXT,
            revoked_at   TEXT
        ) STRICT;

        CREATE INDEX IF NOT EXISTS grant_uses_expires_at ON grant_uses (expires_at);
        """;

    private readonly string _connectionString;
    private readonly FileWriteLock _writeLock;   // shared with the audit writer on the same file

    /// <summary>Most redemptions and revocations in one transaction.</summary>
    internal const int MaxWriteBatch = 256;

    private const int BusyTimeoutMs = 10_000;   // the drainer waits this long for SQLite's write lock (the audit writer's too)

    // Redemptions and revocations waiting for the next transaction, in the order asked, and whether a drainer owns
    // them; guarded by _gate. The drainer is a store thread, or a caller writing inline (TryWriteInline); only the
    // drainer touches _statements.
    private readonly Lock _gate = new();
    private List<PendingWrite> _writes = [];
    private bool _draining;
    private bool _disposed;   // then each drain closes the connection it opened
    private long _writeTransactions;
    private long _inlineTransactions;
    private GrantStatements? _statements;

    /// <param name="databasePath">The SQLite file (normally the audit log's); created when missing.</param>
    /// <exception cref="AuditStoreException">DG5006 unusable path, DG5005 newer schema, DG5001 cannot open.</exception>
    public SqliteGrantStore(string databasePath)
    {
        if (string.IsNullOrWhiteSpace(databasePath) || databasePath.Trim() == ":memory:")
            throw new AuditStoreException(StoreCodes.InvalidLocation, $"grant store needs a file path, not `{databasePath}`");
        DatabasePath = Path.GetFullPath(databasePath);
        _writeLock = FileWriteLock.For(DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 10,   // seconds to wait for SQLite's write lock (shared with the audit writer)
        }.ToString();
        try
        {
            var folder = Path.GetDirectoryName(DatabasePath);
            if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
            using var connection = Open();
            using (var wal = connection.CreateCommand())
            {
                wal.CommandText = "PRAGMA journal_mode = WAL";
                wal.ExecuteNonQuery();
            }
            using var transaction = connection.BeginTransaction(deferred: false);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = Create;
            command.ExecuteNonQuery();
            command.CommandText = "SELECT version FROM schema_versions WHERE component = $component";
            command.Parameters.AddWithValue("$component", Component);
            var found = command.ExecuteScalar();
            if (found is null)
            {
                command.CommandText = "INSERT INTO schema_versions (component, version) VALUES ($component, $version)";
                command.Parameters.AddWithValue("$version", Version);
                command.ExecuteNonQuery();
            }
            else if (Convert.ToInt64(found, CultureInfo.InvariantCulture) != Version)
            {
                throw new AuditStoreException(StoreCodes.UnsupportedSchema,
                    $"grant store `{DatabasePath}` has schema version `{found}`; this build reads `{Version}`");
            }
            transaction.Commit();
        }
        catch (Exception ex) when (ex is not AuditStoreException)
        {
            throw new AuditStoreException(StoreCodes.Unavailable, $"cannot open grant store `{DatabasePath}`: {OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>The database file, as a full path.</summary>
    public string DatabasePath { get; }

    /// <summary>Opens the store named by a <c>Store:ConnectionString</c> value (rules of <see cref="SqliteDecisionLog.Open"/>).</summary>
    public static SqliteGrantStore Open(string location) => new(SqliteDecisionLog.ResolvePath(location));

    /// <inheritdoc />
    /// <remarks>Group commit: the redemptions and revocations waiting while one transaction runs go together into the
    /// next, one <c>BEGIN IMMEDIATE</c> and one <c>fsync</c> for all of them, each still read and written under the
    /// write lock and in the order asked (a second redemption of one grant in the same transaction sees the first, and a
    /// revocation asked before it). A failed transaction fails every write in it, and none of them is kept. A token
    /// cancelled before its write is taken into a transaction cancels it, and it is not made. A write that finds nobody
    /// writing, the file's turn free and SQLite's lock free is committed on the caller's thread before this returns (no
    /// hand-off to a store thread and back); otherwise a store thread commits it, waiting for what holds the locks.</remarks>
    public Task<RedeemOutcome> RedeemAsync(GrantRedemption redemption, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(redemption);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<RedeemOutcome>(cancellationToken);
        var pending = new PendingRedeem(redemption, cancellationToken);
        Enqueue(pending);
        return pending.Done.Task;
    }

    /// <inheritdoc />
    /// <remarks>Committed as redemptions are (<see cref="RedeemAsync"/>): grouped with what waits, or on the caller's
    /// thread when nothing is in the way.</remarks>
    public Task RevokeAsync(GrantRevocation revocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
        var pending = new PendingRevoke(revocation, cancellationToken);
        Enqueue(pending);
        return pending.Done.Task;
    }

    /// <summary>Write transactions committed so far (test hook: with group commit, fewer than writes).</summary>
    internal long WriteTransactions => Interlocked.Read(ref _writeTransactions);

    /// <summary>Write transactions committed on a caller's thread (test hook).</summary>
    internal long InlineTransactions => Interlocked.Read(ref _inlineTransactions);

    private void Enqueue(PendingWrite pending)
    {
        bool start;
        lock (_gate)
        {
            _writes.Add(pending);
            start = !_draining;
            _draining = true;
        }
        if (start && !TryWriteInline()) HandOn();
    }

    /// <summary>The drainer hands what waits to a store thread, which drains until nothing does (every caller's, so no
    /// one caller's token).</summary>
    private void HandOn() => _ = StoreWork.Run(DrainWrites, CancellationToken.None);

    /// <summary>On the caller's thread, as the drainer: one transaction of what waits, when the file's turn and SQLite's
    /// write lock are both free at once (another store on the file, or another process, holds them otherwise); then
    /// whatever arrived meanwhile goes to a store thread. False, having done nothing, when a lock was taken or the
    /// connection could not be opened (the store thread then waits, or reports the failure).</summary>
    private bool TryWriteInline()
    {
        if (!_writeLock.TryEnter(out var turn)) return false;
        using (turn)
        {
            GrantStatements statements;
            try
            {
                statements = Statements();
                if (!statements.TryBeginNow(BusyTimeoutMs)) return false;
            }
            catch (Exception)
            {
                CloseStatements();
                return false;
            }
            if (WriteBatch(statements, TakeBatch(), begun: true)) Interlocked.Increment(ref _inlineTransactions);
        }
        if (!Release()) HandOn();
        return true;
    }

    /// <summary>On a store thread: one transaction after another until no write waits.</summary>
    private int DrainWrites()
    {
        List<PendingWrite>? batch = null;
        try
        {
            do
            {
                batch = TakeBatch();
                if (batch.Count > 0)
                {
                    using var turn = _writeLock.Enter();
                    WriteBatch(null, batch, begun: false);
                }
                batch = null;
            }
            while (!Release());
            return 0;
        }
        catch (Exception ex)
        {
            // WriteBatch completes its batch whatever happens, so this is a bug; still, no caller may hang or succeed.
            List<PendingWrite> left;
            lock (_gate)
            {
                left = _writes;
                _writes = [];
                _draining = false;
            }
            foreach (var p in batch ?? []) p.Fail(ex);
            foreach (var p in left) p.Fail(ex);
            throw;
        }
    }

    /// <summary>The drainer: the next batch of what waits (at most <see cref="MaxWriteBatch"/>), without the writes whose
    /// token was cancelled (those are cancelled now, and never made).</summary>
    private List<PendingWrite> TakeBatch()
    {
        List<PendingWrite> batch;
        lock (_gate)
        {
            if (_writes.Count <= MaxWriteBatch)
            {
                batch = _writes;
                _writes = [];
            }
            else
            {
                batch = _writes.GetRange(0, MaxWriteBatch);
                _writes.RemoveRange(0, MaxWriteBatch);
            }
        }
        batch.RemoveAll(p => p.Token.IsCancellationRequested && p.TryCancel());
        return batch;
    }

    /// <summary>The drainer: gives up draining when nothing waits (true), else keeps it (false). A disposed store's
    /// connection is closed by the drainer that leaves.</summary>
    private bool Release()
    {
        lock (_gate)
        {
            if (_writes.Count > 0) return false;
            _draining = false;
            if (_disposed) CloseStatements();
            return true;
        }
    }

    /// <summary>The drainer's statements, opened when there are none (at the first write, and after a failure).</summary>
    private GrantStatements Statements() => _statements ??= GrantStatements.On(Open(), BusyTimeoutMs);

    private void CloseStatements()
    {
        _statements?.Dispose();
        _statements = null;
    }

    /// <summary>The drainer, holding the file's turn: one transaction for <paramref name="batch"/> (already begun on
    /// <paramref name="statements"/> when <paramref name="begun"/>), each write in the order asked, then each completed.
    /// A failure fails every one of them (nothing of the transaction is kept) and closes the connection, so the next
    /// transaction starts on a fresh one. True when a transaction was committed.</summary>
    private bool WriteBatch(GrantStatements? statements, List<PendingWrite> batch, bool begun)
    {
        if (batch.Count == 0)
        {
            if (begun) statements!.TryRollback();   // every one was cancelled: nothing to commit
            return false;
        }
        try
        {
            statements ??= Statements();
            if (!begun) statements.Begin();
            try
            {
                foreach (var p in batch) p.Write(statements);
                statements.Commit();
            }
            catch
            {
                statements.TryRollback();
                throw;
            }
        }
        catch (Exception ex)
        {
            CloseStatements();
            foreach (var p in batch) p.Fail(ex is SqliteException sqlite ? StoreFailure(sqlite, p.What) : ex);   // nothing was kept
            return false;
        }
        Interlocked.Increment(ref _writeTransactions);
        foreach (var p in batch) p.Complete();
        return true;
    }

    private AuditStoreException StoreFailure(SqliteException ex, string what) =>
        new(StoreCodes.Unavailable, $"grant store `{DatabasePath}` cannot {what}: {OneLine(ex.Message)}", ex);

    /// <summary>A redemption or revocation waiting for its transaction.</summary>
    private abstract class PendingWrite(CancellationToken token)
    {
        public CancellationToken Token { get; } = token;

        /// <summary>The verb of a failure's message: "cannot redeem".</summary>
        public abstract string What { get; }

        /// <summary>Inside the drainer's transaction.</summary>
        public abstract void Write(GrantStatements statements);

        /// <summary>After the commit: the caller's task gets what <see cref="Write"/> found.</summary>
        public abstract void Complete();

        public abstract void Fail(Exception ex);

        public abstract bool TryCancel();
    }

    private sealed class PendingRedeem(GrantRedemption redemption, CancellationToken token) : PendingWrite(token)
    {
        private RedeemOutcome _outcome;

        public TaskCompletionSource<RedeemOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override string What => "redeem";

        public override void Write(GrantStatements statements) => _outcome = statements.RedeemOne(redemption);

        public override void Complete() => Done.TrySetResult(_outcome);

        public override void Fail(Exception ex) => Done.TrySetException(ex);

        public override bool TryCancel() => Done.TrySetCanceled(Token);
    }

    private sealed class PendingRevoke(GrantRevocation revocation, CancellationToken token) : PendingWrite(token)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override string What => "revoke";

        public override void Write(GrantStatements statements) => statements.RevokeOne(revocation);

        public override void Complete() => Done.TrySetResult();

        public override void Fail(Exception ex) => Done.TrySetException(ex);

        public override bool TryCancel() => Done.TrySetCanceled(Token);
    }

    /// <inheritdoc />
    public Task<GrantStatus> GetStatusAsync(string jti, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(jti);
        return StoreWork.Run(() => Write(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT redeemed_at, revoked_at FROM grant_uses WHERE jti = $jti";
            command.Parameters.AddWithValue("$jti", jti);
            using var reader = command.ExecuteReader();
            if (!reader.Read()) return GrantStatus.Unused;
            return new GrantStatus(reader.IsDBNull(0) ? null : Parse(reader.GetString(0)), reader.IsDBNull(1) ? null : Parse(reader.GetString(1)));
        }, "read", writes: false), cancellationToken);
    }

    /// <inheritdoc />
    public Task<int> PurgeAsync(DateTimeOffset before, CancellationToken cancellationToken = default) =>
        StoreWork.Run(() => Write(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM grant_uses WHERE expires_at < $before";
            command.Parameters.AddWithValue("$before", StoreTime.Format(before));
            return command.ExecuteNonQuery();
        }, "purge", writes: true), cancellationToken);

    /// <summary>Closes the writer connection (now, or when the transaction running ends) and the pooled connections
    /// to the file. A write asked after this opens a connection for its drain and closes it again.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            if (!_draining) CloseStatements();
        }
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    /// <summary>Runs <paramref name="body"/> on a connection of its own; one that <paramref name="writes"/> takes its turn
    /// at the file's <see cref="FileWriteLock"/> first (a read needs none: WAL readers never wait for the writer).</summary>
    private T Write<T>(Func<SqliteConnection, T> body, string what, bool writes)
    {
        try
        {
            using var connection = Open();
            using var turn = writes ? _writeLock.Enter() : default;
            return body(connection);
        }
        catch (SqliteException ex)
        {
            throw StoreFailure(ex, what);
        }
    }

    /// <summary>A connection to the file with <c>synchronous=FULL</c>: the WAL is synced at every commit, so a
    /// redemption survives a crash once it was answered. Closed again when the pragma fails.</summary>
    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA synchronous = FULL";
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim().TrimEnd('.');
}
