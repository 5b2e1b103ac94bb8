namespace DeployGate.Audit.Grants;

/// <summary>How an attempt to redeem a grant ended in the store.</summary>
public enum RedeemOutcome
{
    /// <summary>This call redeemed it: the first and only redemption.</summary>
    Redeemed,

    /// <summary>It had been redeemed before (by this or any other instance sharing the store).</summary>
    AlreadyRedeemed,

    /// <summary>It had been revoked before; revocation wins over a later redemption.</summary>
    Revoked,
}

/// <summary>One redemption: the grant's identity (from its verified claims) and the instant.</summary>
public sealed record GrantRedemption(
    string Jti,
    string DecisionId,
    string Repository,
    string RunId,
    DateTimeOffset ExpiresAt,
    DateTimeOffset RedeemedAt);

/// <summary>One revocation, by the run the grant was issued to.</summary>
public sealed record GrantRevocation(string Jti, string Repository, string RunId, DateTimeOffset RevokedAt);

/// <summary>What the store knows about a grant: nothing (both null), redeemed, revoked, or both.</summary>
public sealed record GrantStatus(DateTimeOffset? RedeemedAt, DateTimeOffset? RevokedAt)
{
    public static readonly GrantStatus Unused = new(null, null);

    /// <summary>Neither redeemed nor revoked.</summary>
    public bool IsUnused => RedeemedAt is null && RevokedAt is null;
}

/// <summary>Redemptions and revocations of grants (SPEC §7, §9). Issuing a grant writes nothing here: a grant
/// the store has never heard of is simply unused. Every implementation must make <see cref="RedeemAsync"/>
/// atomic across every process that shares the store (one redemption wins, all others see
/// <see cref="RedeemOutcome.AlreadyRedeemed"/>), and every write durable before its task completes.
/// Failures throw <see cref="AuditStoreException"/> (DG5xxx); callers fail closed.</summary>
public interface IGrantStore
{
    /// <summary>Marks the grant redeemed unless it was redeemed or revoked before.</summary>
    Task<RedeemOutcome> RedeemAsync(GrantRedemption redemption, CancellationToken cancellationToken = default);

    /// <summary>Marks the grant revoked. Idempotent: a second revocation keeps the first instant. A redeemed grant
    /// can still be revoked (it is recorded; it changes nothing for the redeemer).</summary>
    Task RevokeAsync(GrantRevocation revocation, CancellationToken cancellationToken = default);

    /// <summary>Redemption and revocation instants of a grant; <see cref="GrantStatus.Unused"/> when unknown.</summary>
    Task<GrantStatus> GetStatusAsync(string jti, CancellationToken cancellationToken = default);

    /// <summary>Deletes rows of grants that expired before <paramref name="before"/> (they can no longer be
    /// redeemed anyway). Returns the number of rows removed.</summary>
    Task<int> PurgeAsync(DateTimeOffset before, CancellationToken cancellationToken = default);
}
