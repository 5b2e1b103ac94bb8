using DeployGate.Engine;

namespace DeployGate.Audit;

/// <summary>Extra facts recorded beside a decision: which front end asked, and for the webhook path
/// the delivery id. Run id and repository come from the decision itself.</summary>
public sealed record AuditContext(string Channel = "api", string? DeliveryId = null);

/// <summary>Filters for <see cref="IDecisionLog.QueryAsync"/>; newest first, at most <see cref="Limit"/> (1..10,000).</summary>
public sealed record DecisionQuery(
    string? Repository = null,
    string? Environment = null,
    string? Verdict = null,
    DateTimeOffset? Since = null,
    int Limit = 100);

/// <summary>The first problem found walking the chain, or none. <see cref="RecordsChecked"/> counts the records
/// verified before the first problem; <see cref="Problem"/> is one line (code: <see cref="StoreCodes.ChainBroken"/>).</summary>
public sealed record ChainVerification(bool Intact, long RecordsChecked, long? FirstBrokenSequence, string? Problem)
{
    /// <summary>When intact: the hash of the newest record (64 zeros for an empty log). Keep a copy outside
    /// the store to detect removal of the newest records, which the chain alone cannot show. Null when broken.</summary>
    public string? HeadHash { get; init; }
}

/// <summary>The append-only, hash-chained decision log (SPEC §9):
/// <c>hash = SHA-256(prev_hash ‖ canonical record)</c>.</summary>
public interface IDecisionLog
{
    /// <summary>Appends one decision. When the returned task completes the record is durable
    /// (committed and synced); the caller answers only after that. Group commit is allowed.</summary>
    ValueTask AppendAsync(Decision decision, AuditContext context, CancellationToken cancellationToken = default);

    /// <summary>As <see cref="AppendAsync(Decision, AuditContext, CancellationToken)"/>, for a decision the caller
    /// serialized already to answer with it: the row stores its <see cref="SerializedDecision"/> JSON as it is.</summary>
    ValueTask AppendAsync(SerializedDecision decision, AuditContext context, CancellationToken cancellationToken = default);

    /// <summary>Decisions as their stored JSON (SPEC §3 shape), newest first.</summary>
    Task<IReadOnlyList<string>> QueryAsync(DecisionQuery query, CancellationToken cancellationToken = default);

    /// <summary>Walks the whole chain and reports the first tampered or missing record.</summary>
    Task<ChainVerification> VerifyAsync(CancellationToken cancellationToken = default);
}
