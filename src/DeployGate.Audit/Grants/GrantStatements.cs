using DeployGate.Audit.Sqlite;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace DeployGate.Audit.Grants;

/// <summary>The grant store's writer connection and statements (begin, commit, rollback, read a grant's row, redeem it,
/// revoke it), opened at the first redemption or revocation and kept, as the audit writer's are
/// (<see cref="Sqlite.WriterStatements"/>). Per transaction a pooled connection used to be opened, its
/// <c>synchronous</c> pragma run and its statements prepared again. Only the drainer, one thread at a time, uses an
/// instance; errors surface as <see cref="SqliteException"/>.</summary>
internal sealed class GrantStatements : TransactionStatements
{
    private const string Redeem = """
        INSERT INTO grant_uses (jti, decision_id, repository, run_id, expires_at, redeemed_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        ON CONFLICT (jti) DO UPDATE SET redeemed_at = excluded.redeemed_at, decision_id = excluded.decision_id,
            expires_at = excluded.expires_at
        WHERE grant_uses.redeemed_at IS NULL AND grant_uses.revoked_at IS NULL
        """;

    // A row created by a revocation does not know the grant's exp; the grant was issued before it was revoked, so it
    // expires within MaxGrantLifetime of the revocation (?4). The first revocation's instant is kept.
    private const string Revoke = """
        INSERT INTO grant_uses (jti, repository, run_id, expires_at, revoked_at)
        VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (jti) DO UPDATE SET revoked_at = excluded.revoked_at WHERE grant_uses.revoked_at IS NULL
        """;

    private readonly SqliteConnection _connection;
    private readonly sqlite3_stmt _read;
    private readonly sqlite3_stmt _redeem;
    private readonly sqlite3_stmt _revoke;

    private GrantStatements(SqliteConnection connection) : base(connection.Handle!)
    {
        _connection = connection;
        try
        {
            _read = Prepare("SELECT redeemed_at IS NOT NULL, revoked_at IS NOT NULL FROM grant_uses WHERE jti = ?1");
            _redeem = Prepare(Redeem);
            _revoke = Prepare(Revoke);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Takes <paramref name="connection"/> (open, with <c>synchronous=FULL</c>: the store's own connections
    /// are), sets SQLite's busy timeout on it to <paramref name="busyTimeoutMs"/> and prepares the statements on it.
    /// The instance owns the connection from then on; on a failure here it is closed.</summary>
    public static GrantStatements On(SqliteConnection connection, int busyTimeoutMs)
    {
        try
        {
            SqliteException.ThrowExceptionForRC(raw.sqlite3_busy_timeout(connection.Handle, busyTimeoutMs), connection.Handle);
            return new GrantStatements(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Inside a transaction: redeems the grant unless its row says it was redeemed or revoked.</summary>
    public RedeemOutcome RedeemOne(GrantRedemption redemption)
    {
        try
        {
            Check(raw.sqlite3_bind_text(_read, 1, redemption.Jti));
            var rc = raw.sqlite3_step(_read);
            if (rc == SqliteRow)
            {
                if (raw.sqlite3_column_int(_read, 1) != 0) return RedeemOutcome.Revoked;
                if (raw.sqlite3_column_int(_read, 0) != 0) return RedeemOutcome.AlreadyRedeemed;
            }
            else if (rc != SqliteDone)
            {
                Check(rc);
            }
        }
        finally
        {
            raw.sqlite3_reset(_read);
            raw.sqlite3_clear_bindings(_read);
        }
        // Invariant: the conditional upsert redeems only an unused row, so even without the transaction's lock two
        // redemptions could not both succeed.
        try
        {
            Check(raw.sqlite3_bind_text(_redeem, 1, redemption.Jti));
            Check(raw.sqlite3_bind_text(_redeem, 2, redemption.DecisionId));
            Check(raw.sqlite3_bind_text(_redeem, 3, redemption.Repository));
            Check(raw.sqlite3_bind_text(_redeem, 4, redemption.RunId));
            Check(raw.sqlite3_bind_text(_redeem, 5, StoreTime.Format(redemption.ExpiresAt)));
            Check(raw.sqlite3_bind_text(_redeem, 6, StoreTime.Format(redemption.RedeemedAt)));
            var rc = raw.sqlite3_step(_redeem);
            if (rc != SqliteDone) Check(rc);
            return raw.sqlite3_changes(Db) == 1 ? RedeemOutcome.Redeemed : RedeemOutcome.AlreadyRedeemed;
        }
        finally
        {
            raw.sqlite3_reset(_redeem);
            raw.sqlite3_clear_bindings(_redeem);
        }
    }

    /// <summary>Inside a transaction: marks the grant revoked (a row of its own when it was never redeemed).</summary>
    public void RevokeOne(GrantRevocation revocation)
    {
        try
        {
            Check(raw.sqlite3_bind_text(_revoke, 1, revocation.Jti));
            Check(raw.sqlite3_bind_text(_revoke, 2, revocation.Repository));
            Check(raw.sqlite3_bind_text(_revoke, 3, revocation.RunId));
            Check(raw.sqlite3_bind_text(_revoke, 4, StoreTime.Format(revocation.RevokedAt + SqliteGrantStore.MaxGrantLifetime)));
            Check(raw.sqlite3_bind_text(_revoke, 5, StoreTime.Format(revocation.RevokedAt)));
            Run(_revoke);
        }
        finally
        {
            raw.sqlite3_clear_bindings(_revoke);
        }
    }

    /// <summary>Finalizes the statements and closes the connection.</summary>
    public override void Dispose()
    {
        base.Dispose();
        _connection.Dispose();
    }
}
