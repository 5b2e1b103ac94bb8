using System.Globalization;
using DeployGate.Audit.Sqlite;
using Microsoft.Data.Sqlite;

namespace DeployGate.Audit.Grants;

/// <summary>Grant redemptions and revocations in SQLite (SPEC §9): the table <c>grant_uses</c> in the
/// <b>same database file</b> as the audit log (one file to back up; its own schema component <c>grants</c>).
/// Each write is one <c>BEGIN IMMEDIATE</c> transaction with <c>synchronous=FULL</c>, so a redemption is
/// atomic across threads and across processes sharing the file (SQLite's write lock serializes them; the
/// row is read and written under it), and durable before the caller answers.</summary>
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

    /// <summary>Most redemptions in one transaction.</summary>
    internal const int MaxRedeemBatch = 256;

    private const int BusyTimeoutMs = 10_000;   // the drainer waits this long for SQLite's write lock (the audit writer's too)

    // Redemptions waiting for the next transaction, and whether a drainer owns them; guarded by _redeemGate. The
    // drainer is a store thread, or a caller redeeming inline (TryRedeemInline); only the drainer touches _statements.
    private readonly Lock _redeemGate = new();
    private List<PendingRedeem> _redeems = [];
    private bool _redeeming;
    private bool _disposed;   // then each drain closes the connection it opened
    private long _redeemTransactions;
    private long _inlineRedeems;
    private RedeemStatements? _statements;

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
    /// <remarks>Group commit: the redemptions waiting while one transaction runs go together into the next, one
    /// <c>BEGIN IMMEDIATE</c> and one <c>fsync</c> for all of them, each still read and written under the write lock and
    /// in the order asked (a second redemption of one grant in the same transaction sees the first). A failed
    /// transaction fails every redemption in it, and none of them is kept. A token cancelled before its redemption is
    /// taken into a transaction cancels it, and it is not made. A redemption that finds nobody redeeming, the file's
    /// turn free and SQLite's lock free is committed on the caller's thread before this returns (no hand-off to a
    /// store thread and back); otherwise a store thread commits it, waiting for what holds the locks.</remarks>
    public Task<RedeemOutcome> RedeemAsync(GrantRedemption redemption, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(redemption);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<RedeemOutcome>(cancellationToken);
        var pending = new PendingRedeem(redemption, cancellationToken);
        bool start;
        lock (_redeemGate)
        {
            _redeems.Add(pending);
            start = !_redeeming;
            _redeeming = true;
        }
        if (start && !TryRedeemInline()) HandOn();
        return pending.Done.Task;
    }

    /// <summary>Transactions of redemptions committed so far (test hook: with group commit, fewer than redemptions).</summary>
    internal long RedeemTransactions => Interlocked.Read(ref _redeemTransactions);

    /// <summary>Transactions committed on a caller's thread (test hook).</summary>
    internal long InlineRedeems => Interlocked.Read(ref _inlineRedeems);

    /// <summary>The drainer hands what waits to a store thread, which drains until nothing does (every caller's, so no
    /// one caller's token).</summary>
    private void HandOn() => _ = StoreWork.Run(DrainRedeems, CancellationToken.None);

    /// <summary>On the caller's thread, as the drainer: one transaction of what waits, when the file's turn and SQLite's
    /// write lock are both free at once (another store on the file, or another process, holds them otherwise); then
    /// whatever arrived meanwhile goes to a store thread. False, having done nothing, when a lock was taken or the
    /// connection could not be opened (the store thread then waits, or reports the failure).</summary>
    private bool TryRedeemInline()
    {
        if (!_writeLock.TryEnter(out var turn)) return false;
        using (turn)
        {
            RedeemStatements statements;
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
            RedeemBatch(statements, TakeBatch(), begun: true);
        }
        Interlocked.Increment(ref _inlineRedeems);
        if (!Release()) HandOn();
        return true;
    }

    /// <summary>On a store thread: one transaction after another until no redemption waits.</summary>
    private int DrainRedeems()
    {
        List<PendingRedeem>? batch = null;
        try
        {
            do
            {
                batch = TakeBatch();
                if (batch.Count > 0)
                {
                    using var turn = _writeLock.Enter();
                    RedeemBatch(null, batch, begun: false);
                }
                batch = null;
            }
            while (!Release());
            return 0;
        }
        catch (Exception ex)
        {
            // RedeemBatch completes its batch whatever happens, so this is a bug; still, no caller may hang or succeed.
            List<PendingRedeem> left;
            lock (_redeemGate)
            {
                left = _redeems;
                _redeems = [];
                _redeeming = false;
            }
            foreach (var p in batch ?? []) p.Done.TrySetException(ex);
            foreach (var p in left) p.Done.TrySetException(ex);
            throw;
        }
    }

    /// <summary>The drainer: the next batch of what waits (at most <see cref="MaxRedeemBatch"/>), without the redemptions
    /// whose token was cancelled (those are cancelled now, and never made).</summary>
    private List<PendingRedeem> TakeBatch()
    {
        List<PendingRedeem> batch;
        lock (_redeemGate)
        {
            if (_redeems.Count <= MaxRedeemBatch)
            {
                batch = _redeems;
                _redeems = [];
            }
            else
            {
                batch = _redeems.GetRange(0, MaxRedeemBatch);
                _redeems.RemoveRange(0, MaxRedeemBatch);
            }
        }
        batch.RemoveAll(p => p.Token.IsCancellationRequested && p.Done.TrySetCanceled(p.Token));
        return batch;
    }

    /// <summary>The drainer: gives up draining when nothing waits (true), else keeps it (false). A disposed store's
    /// connection is closed by the drainer that leaves.</summary>
    private bool Release()
    {
        lock (_redeemGate)
        {
            if (_redeems.Count > 0) return false;
            _redeeming = false;
            if (_disposed) CloseStatements();
            return true;
        }
    }

    /// <summary>The drainer's statements, opened when there are none (at the first redemption, and after a failure).</summary>
    private RedeemStatements Statements() => _statements ??= RedeemStatements.Open(_connectionString, BusyTimeoutMs);

    private void CloseStatements()
    {
        _statements?.Dispose();
        _statements = null;
    }

    /// <summary>The drainer, holding the file's turn: one transaction for <paramref name="batch"/> (already begun on
    /// <paramref name="statements"/> when <paramref name="begun"/>), then each redemption completed with its outcome.
    /// A failure fails every one of them (nothing of the transaction is kept) and closes the connection, so the next
    /// transaction starts on a fresh one.</summary>
    private void RedeemBatch(RedeemStatements? statements, List<PendingRedeem> batch, bool begun)
    {
        if (batch.Count == 0)
        {
            if (begun) statements!.TryRollback();   // every one was cancelled: nothing to commit
            return;
        }
        var outcomes = new RedeemOutcome[batch.Count];
        try
        {
            statements ??= Statements();
            if (!begun) statements.Begin();
            try
            {
                for (var i = 0; i < batch.Count; i++) outcomes[i] = statements.RedeemOne(batch[i].Redemption);
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
            var failure = ex is SqliteException sqlite
                ? new AuditStoreException(StoreCodes.Unavailable, $"grant store `{DatabasePath}` cannot redeem: {OneLine(sqlite.Message)}", sqlite)
                : ex;
            foreach (var p in batch) p.Done.TrySetException(failure);   // nothing of the transaction was kept
            return;
        }
        Interlocked.Increment(ref _redeemTransactions);
        for (var i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(outcomes[i]);
    }

    private sealed class PendingRedeem(GrantRedemption redemption, CancellationToken token)
    {
        public GrantRedemption Redemption { get; } = redemption;

        public CancellationToken Token { get; } = token;

        public TaskCompletionSource<RedeemOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <inheritdoc />
    public Task RevokeAsync(GrantRevocation revocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        return StoreWork.Run(() => Write(connection =>
        {
            using var command = connection.CreateCommand();
            // A row created by a revocation does not know the grant's exp; the grant was issued before it was
            // revoked, so it expires within MaxGrantLifetime of the revocation.
            command.CommandText = """
                INSERT INTO grant_uses (jti, repository, run_id, expires_at, revoked_at)
                VALUES ($jti, $repository, $run_id, $expires_at, $at)
                ON CONFLICT (jti) DO UPDATE SET revoked_at = excluded.revoked_at WHERE grant_uses.revoked_at IS NULL
                """;
            command.Parameters.AddWithValue("$jti", revocation.Jti);
            command.Parameters.AddWithValue("$repository", revocation.Repository);
            command.Parameters.AddWithValue("$run_id", revocation.RunId);
            command.Parameters.AddWithValue("$expires_at", StoreTime.Format(revocation.RevokedAt + MaxGrantLifetime));
            command.Parameters.AddWithValue("$at", StoreTime.Format(revocation.RevokedAt));
            command.ExecuteNonQuery();
            return 0;
        }, "revoke", writes: true), cancellationToken);
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

    /// <summary>Closes the redemption connection (now, or when the redemption running ends) and the pooled connections
    /// to the file. A redemption asked after this opens a connection for its drain and closes it again.</summary>
    public void Dispose()
    {
        lock (_redeemGate)
        {
            _disposed = true;
            if (!_redeeming) CloseStatements();
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
            throw new AuditStoreException(StoreCodes.Unavailable, $"grant store `{DatabasePath}` cannot {what}: {OneLine(ex.Message)}", ex);
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        // FULL: the WAL is synced at every commit, so a redemption survives a crash once it was answered.
        command.CommandText = "PRAGMA synchronous = FULL";
        command.ExecuteNonQuery();
        return connection;
    }

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim().TrimEnd('.');
}
