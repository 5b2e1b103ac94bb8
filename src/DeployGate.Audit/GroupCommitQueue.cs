using System.Threading.Channels;
using DeployGate.Engine;

namespace DeployGate.Audit;

/// <summary>Group commit. The PostgreSQL log uses the whole queue: callers enqueue a record and await it; one
/// writer drains batches of at most <see cref="MaxBatch"/> records, commits each batch in one transaction (one
/// fsync), then completes every waiter of the batch: success, its own refusal (a duplicate id), or the
/// batch's failure. The SQLite log wakes its writer thread through a semaphore instead (see
/// <see cref="Sqlite.SqliteDecisionLog"/>) and shares <see cref="Pending"/>, <see cref="Complete"/> and <see cref="Validate"/>.
/// Invariant: no waiter completes successfully unless its record committed.</summary>
internal sealed class GroupCommitQueue
{
    public const int MaxBatch = 1024;

    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });

    internal sealed class Pending(ChainRecord record)
    {
        public ChainRecord Record { get; } = record;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set by the writer when this record alone was refused (duplicate id) in a batch that committed.</summary>
        public AuditStoreException? Error { get; set; }
    }

    /// <summary>Queues a decision; the task completes when its batch committed. Cancelling stops the wait
    /// only: a record already queued may still be written (recording too much is the safe side).</summary>
    public ValueTask EnqueueAsync(SerializedDecision decision, AuditContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(context);
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);

        var pending = new Pending(ChainRecord.From(decision, context));
        if (!_queue.Writer.TryWrite(pending))
        {
            return ValueTask.FromException(new AuditStoreException(StoreCodes.Closed,
                $"audit log is closed; decision `{decision.Decision.DecisionId}` was not recorded"));
        }
        var done = pending.Done.Task;
        return new ValueTask(cancellationToken.CanBeCanceled ? done.WaitAsync(cancellationToken) : done);
    }

    /// <summary>Stops accepting records; the writer still drains what is queued.</summary>
    public void Close() => _queue.Writer.TryComplete();

    /// <summary>Waits for records; false once closed and drained.</summary>
    public ValueTask<bool> WaitAsync() => _queue.Reader.WaitToReadAsync();

    /// <summary>Fills <paramref name="batch"/> with queued records, up to <see cref="MaxBatch"/>.</summary>
    public void Take(List<Pending> batch)
    {
        while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending)) batch.Add(pending);
    }

    /// <summary>After a batch's transaction: completes every waiter with success, its own refusal, or the failure.</summary>
    public static void Complete(List<Pending> batch, Exception? failure, Func<Exception, AuditStoreException> batchFailed)
    {
        foreach (var pending in batch)
        {
            if (failure is not null) pending.Done.TrySetException(batchFailed(failure));
            else if (pending.Error is not null) pending.Done.TrySetException(pending.Error);
            else pending.Done.TrySetResult();
        }
    }

    /// <summary>The writer itself failed (a bug): stop accepting, and fail every waiter — none may hang or succeed.</summary>
    public void Abandon(List<Pending> batch, Exception ex, string reason)
    {
        _queue.Writer.TryComplete(ex);
        var failure = new AuditStoreException(StoreCodes.Unavailable, $"audit writer stopped: {reason}", ex);
        foreach (var pending in batch) pending.Done.TrySetException(failure);
        while (_queue.Reader.TryRead(out var pending)) pending.Done.TrySetException(failure);
    }

    /// <summary>The query contract both stores share (SPEC §4: limit 1..10,000; verdict allow|deny).</summary>
    public static void Validate(DecisionQuery query, int maxLimit)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, maxLimit, nameof(query));
        if (query.Verdict is not (null or "allow" or "deny"))
        {
            throw new ArgumentException($"verdict must be `allow` or `deny`, not `{query.Verdict}`", nameof(query));
        }
    }
}
