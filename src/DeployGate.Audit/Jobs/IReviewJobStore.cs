namespace DeployGate.Audit.Jobs;

/// <summary>Where a review job is in its life.</summary>
public enum ReviewJobState
{
    /// <summary>Waiting for <see cref="ReviewJob.DueAt"/> (first run, a retry, or a wait for a window).</summary>
    Pending,

    /// <summary>Finished: see <see cref="ReviewJob.Outcome"/>.</summary>
    Done,
}

/// <summary>One <c>deployment_protection_rule</c> delivery to review (SPEC §6), keyed by <c>X-GitHub-Delivery</c>.
/// <see cref="Payload"/> is the signed body exactly as received; everything else is the worker's bookkeeping,
/// persisted so that waits and retries survive restarts.</summary>
public sealed record ReviewJob
{
    public required string DeliveryId { get; init; }

    /// <summary>The raw webhook body (UTF-8 JSON).</summary>
    public required string Payload { get; init; }

    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>When the job should next run: on receipt, after a backoff (retry), or at <c>next_allowed_at</c> (wait).</summary>
    public required DateTimeOffset DueAt { get; init; }

    public ReviewJobState State { get; init; } = ReviewJobState.Pending;

    /// <summary>Consecutive retryable failures so far (reset after progress).</summary>
    public int Attempts { get; init; }

    /// <summary>The "waiting for a window" status comment was posted (it is posted once per job).</summary>
    public bool StatusPosted { get; init; }

    /// <summary>A review decided but not yet accepted by GitHub: <c>approved</c>, <c>rejected</c> or <c>status</c>
    /// (a comment without state), with <see cref="PendingComment"/>, decided at <see cref="DecidedAt"/>.</summary>
    public string? PendingState { get; init; }

    public string? PendingComment { get; init; }

    public DateTimeOffset? DecidedAt { get; init; }

    /// <summary>When <see cref="ReviewJobState.Done"/>: <c>approved</c> or <c>rejected</c> (GitHub accepted the review),
    /// <c>rejected-unsent</c> (rejected without a callback, e.g. callback host mismatch) or <c>failed</c>
    /// (the review could not be delivered).</summary>
    public string? Outcome { get; init; }

    /// <summary>The code that decided the outcome (first failed check, or the GitHub/webhook code).</summary>
    public string? Code { get; init; }

    /// <summary>The latest decision made for this job (every decision is in the audit log).</summary>
    public string? DecisionId { get; init; }

    /// <summary>The latest failure, one line, no secrets.</summary>
    public string? LastError { get; init; }

    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Who holds the job right now, and until when (set by <see cref="IReviewJobStore.ClaimDueAsync"/>).</summary>
    public string? LeaseOwner { get; init; }

    public DateTimeOffset? LeaseUntil { get; init; }
}

/// <summary>Persistent review jobs (SPEC §9). Several workers — threads, processes, instances over one shared
/// database — may run at once: a job is processed only by the holder of its lease, taken atomically by
/// <see cref="ClaimDueAsync"/> and given back by <see cref="SaveAsync"/>. A worker that dies loses its lease when
/// <c>LeaseUntil</c> passes, and the job becomes claimable again. Implementations: SQLite
/// (<see cref="Sqlite.SqliteReviewJobStore"/>); a PostgreSQL one claims with
/// <c>UPDATE … WHERE delivery_id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING *</c>.</summary>
public interface IReviewJobStore
{
    /// <summary>Stores a new job. False (and nothing changes) when a job with the same delivery id exists:
    /// a redelivery is a no-op. Durable when the task completes.</summary>
    Task<bool> TryAddAsync(ReviewJob job, CancellationToken cancellationToken = default);

    /// <summary>Atomically leases up to <paramref name="max"/> pending jobs with <c>DueAt ≤ now</c> whose lease is
    /// free or expired, to <paramref name="owner"/> until <c>now + leaseFor</c>; oldest due first.</summary>
    Task<IReadOnlyList<ReviewJob>> ClaimDueAsync(DateTimeOffset now, TimeSpan leaseFor, string owner, int max, CancellationToken cancellationToken = default);

    /// <summary>Writes the worker's fields of <paramref name="job"/> (everything but the delivery id, payload and
    /// receipt time) and releases the lease — only while <paramref name="owner"/> still holds it. False when the
    /// lease was lost (another worker took the job over; the caller drops its result).</summary>
    Task<bool> SaveAsync(ReviewJob job, string owner, CancellationToken cancellationToken = default);

    Task<ReviewJob?> GetAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>The earliest <c>DueAt</c> of a pending job, or null when none is pending.</summary>
    Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken = default);
}
