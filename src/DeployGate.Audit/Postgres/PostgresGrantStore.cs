using DeployGate.Audit.Grants;
using Npgsql;
using NpgsqlTypes;

namespace DeployGate.Audit.Postgres;

/// <summary>Grant redemptions and revocations on PostgreSQL (SPEC §7, §9), shared by every instance. A redemption is
/// one conditional upsert (<c>INSERT … ON CONFLICT (jti) DO UPDATE … WHERE redeemed_at IS NULL AND revoked_at IS
/// NULL</c>): PostgreSQL serializes writers of one row, so of any number of concurrent redemptions on any number of
/// instances exactly one changes the row and wins. Each statement commits with <c>synchronous_commit = on</c>
/// before its task completes. Same semantics as <see cref="SqliteGrantStore"/>.</summary>
public sealed class PostgresGrantStore : IGrantStore, IAsyncDisposable, IDisposable
{
    internal const string Component = "grants";

    /// <summary>Migration steps (schema version = how many ran). Append, never edit.</summary>
    internal static readonly IReadOnlyList<string> Steps =
    [
        """
        CREATE TABLE grant_uses (
            jti          text COLLATE "C" PRIMARY KEY,
            decision_id  text,
            repository   text NOT NULL,
            run_id       text NOT NULL,
            expires_at   timestamptz NOT NULL,
            redeemed_at  timestamptz,
            revoked_at   timestamptz
        );
        CREATE INDEX grant_uses_expires_at ON grant_uses (expires_at);
        """,
    ];

    private readonly PostgresStore _store;

    /// <exception cref="AuditStoreException">DG5006 unusable connection string, DG5005 newer schema, DG5001 cannot connect.</exception>
    public PostgresGrantStore(string connectionString) =>
        _store = new PostgresStore(connectionString, "grant store", Component, Steps);

    /// <summary><c>postgres://host:port/database</c> (no credentials).</summary>
    public string Location => _store.Location;

    /// <inheritdoc />
    public Task<RedeemOutcome> RedeemAsync(GrantRedemption redemption, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(redemption);
        return _store.RunAsync("redeem", async connection =>
        {
            await using (var redeem = new NpgsqlCommand("""
                INSERT INTO grant_uses (jti, decision_id, repository, run_id, expires_at, redeemed_at)
                VALUES (@jti, @decision_id, @repository, @run_id, @expires_at, @at)
                ON CONFLICT (jti) DO UPDATE SET redeemed_at = excluded.redeemed_at, decision_id = excluded.decision_id,
                    expires_at = excluded.expires_at
                WHERE grant_uses.redeemed_at IS NULL AND grant_uses.revoked_at IS NULL
                """, connection))
            {
                redeem.Parameters.AddWithValue("jti", redemption.Jti);
                redeem.Parameters.AddWithValue("decision_id", redemption.DecisionId);
                redeem.Parameters.AddWithValue("repository", redemption.Repository);
                redeem.Parameters.AddWithValue("run_id", redemption.RunId);
                redeem.Parameters.Add(Instant("expires_at", redemption.ExpiresAt));
                redeem.Parameters.Add(Instant("at", redemption.RedeemedAt));
                if (await redeem.ExecuteNonQueryAsync(cancellationToken) == 1) return RedeemOutcome.Redeemed;
            }
            // Lost: the row was redeemed or revoked before (revocation wins, as in SQLite).
            var status = await ReadStatusAsync(connection, redemption.Jti, cancellationToken);
            return status.RevokedAt is not null ? RedeemOutcome.Revoked : RedeemOutcome.AlreadyRedeemed;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task RevokeAsync(GrantRevocation revocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        return _store.RunAsync("revoke", async connection =>
        {
            // A row created by a revocation does not know the grant's exp; it expires within the longest grant lifetime.
            await using var command = new NpgsqlCommand("""
                INSERT INTO grant_uses (jti, repository, run_id, expires_at, revoked_at)
                VALUES (@jti, @repository, @run_id, @expires_at, @at)
                ON CONFLICT (jti) DO UPDATE SET revoked_at = excluded.revoked_at WHERE grant_uses.revoked_at IS NULL
                """, connection);
            command.Parameters.AddWithValue("jti", revocation.Jti);
            command.Parameters.AddWithValue("repository", revocation.Repository);
            command.Parameters.AddWithValue("run_id", revocation.RunId);
            command.Parameters.Add(Instant("expires_at", revocation.RevokedAt + SqliteGrantStore.MaxGrantLifetime));
            command.Parameters.Add(Instant("at", revocation.RevokedAt));
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<GrantStatus> GetStatusAsync(string jti, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(jti);
        return _store.RunAsync("read", connection => ReadStatusAsync(connection, jti, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    public Task<int> PurgeAsync(DateTimeOffset before, CancellationToken cancellationToken = default) =>
        _store.RunAsync("purge", async connection =>
        {
            await using var command = new NpgsqlCommand("DELETE FROM grant_uses WHERE expires_at < @before", connection);
            command.Parameters.Add(Instant("before", before));
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public ValueTask DisposeAsync() => _store.DisposeAsync();

    public void Dispose() => _store.Dispose();

    private static async Task<GrantStatus> ReadStatusAsync(NpgsqlConnection connection, string jti, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT redeemed_at, revoked_at FROM grant_uses WHERE jti = @jti", connection);
        command.Parameters.AddWithValue("jti", jti);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return GrantStatus.Unused;
        DateTimeOffset? At(int i) => reader.IsDBNull(i) ? null : new DateTimeOffset(reader.GetDateTime(i), TimeSpan.Zero);
        return new GrantStatus(At(0), At(1));
    }

    private static NpgsqlParameter Instant(string name, DateTimeOffset value) =>
        new(name, NpgsqlDbType.TimestampTz) { Value = value.UtcDateTime };
}
