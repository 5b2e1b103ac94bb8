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

    // Redemptions waiting for the next transaction, and whether a store thread is draining them; guarded by _redeemGate.
    private readonly Lock _redeemGate = new();
    private List<PendingRedeem> _redeems = [];
    private bool _redeeming;
    private long _redeemTransactions;

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
    /// taken into a transaction cancels it, and it is not made.</remarks>
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
        if (start) _ = StoreWork.Run(DrainRedeems, CancellationToken.None);   // drains every caller's, so no one caller's token
        return pending.Done.Task;
    }

    /// <summary>Transactions of redemptions committed so far (test hook: with group commit, fewer than redemptions).</summary>
    internal long RedeemTransactions => Interlocked.Read(ref _redeemTransactions);

    /// <summary>On a store thread: one transaction after another until no redemption waits.</summary>
    private int DrainRedeems()
    {
        List<PendingRedeem>? batch = null;
        try
        {
            while (true)
            {
                lock (_redeemGate)
                {
                    if (_redeems.Count == 0)
                    {
                        _redeeming = false;
                        return 0;
                    }
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
                if (batch.Count > 0) RedeemBatch(batch);
                batch = null;
            }
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

    private void RedeemBatch(List<PendingRedeem> batch)
    {
        var outcomes = new RedeemOutcome[batch.Count];
        try
        {
            Write(connection =>
            {
                using var transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE: rows are read under the write lock
                for (var i = 0; i < batch.Count; i++) outcomes[i] = RedeemOne(connection, transaction, batch[i].Redemption);
                transaction.Commit();
                return 0;
            }, "redeem", writes: true);
        }
        catch (Exception ex)
        {
            foreach (var p in batch) p.Done.TrySetException(ex);   // nothing of the transaction was kept
            return;
        }
        Interlocked.Increment(ref _redeemTransactions);
        for (var i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(outcomes[i]);
    }

    private static RedeemOutcome RedeemOne(SqliteConnection connection, SqliteTransaction transaction, GrantRedemption redemption)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT redeemed_at, revoked_at FROM grant_uses WHERE jti = $jti";
        command.Parameters.AddWithValue("$jti", redemption.Jti);
        using (var reader = command.ExecuteReader())
        {
            if (reader.Read())
            {
                if (!reader.IsDBNull(1)) return RedeemOutcome.Revoked;
                if (!reader.IsDBNull(0)) return RedeemOutcome.AlreadyRedeemed;
            }
        }
        // Invariant: the conditional upsert redeems only an unused row, so even without the transaction's
        // lock two redemptions could not both succeed.
        command.CommandText = """
            INSERT INTO grant_uses (jti, decision_id, repository, run_id, expires_at, redeemed_at)
            VALUES ($jti, $decision_id, $repository, $run_id, $expires_at, $at)
            ON CONFLICT (jti) DO UPDATE SET redeemed_at = excluded.redeemed_at, decision_id = excluded.decision_id,
                expires_at = excluded.expires_at
            WHERE grant_uses.redeemed_at IS NULL AND grant_uses.revoked_at IS NULL
            """;
        command.Parameters.AddWithValue("$decision_id", redemption.DecisionId);
        command.Parameters.AddWithValue("$repository", redemption.Repository);
        command.Parameters.AddWithValue("$run_id", redemption.RunId);
        command.Parameters.AddWithValue("$expires_at", StoreTime.Format(redemption.ExpiresAt));
        command.Parameters.AddWithValue("$at", StoreTime.Format(redemption.RedeemedAt));
        return command.ExecuteNonQuery() == 1 ? RedeemOutcome.Redeemed : RedeemOutcome.AlreadyRedeemed;
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

    /// <summary>Closes the pooled connections to the file.</summary>
    public void Dispose()
    {
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
