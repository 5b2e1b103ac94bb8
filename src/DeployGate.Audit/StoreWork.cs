using System.Collections.Concurrent;

namespace DeployGate.Audit;

/// <summary>Runs the SQLite stores' synchronous work (the grant store, the review jobs, the decisions query) on a few
/// threads of its own instead of the thread pool's. Microsoft.Data.Sqlite is synchronous even behind its async
/// methods: a redeem's commit waits for its <c>fsync</c>, and a second writer waits in SQLite's busy handler for the
/// first. On pool workers each such wait holds a thread that the pool's requests need (and makes it inject more,
/// which then spin); here it holds one of <see cref="ThreadCount"/>, and the rest queue without holding anything.
/// Callers' continuations run on the pool, never on these threads.</summary>
internal static class StoreWork
{
    /// <summary>Enough for reads to overlap (WAL readers do not block each other); writers to one file take turns in
    /// SQLite anyway.</summary>
    internal const int ThreadCount = 4;

    internal const string ThreadName = "dg-store";

    private static readonly BlockingCollection<Action> s_queue = Start();

    private static BlockingCollection<Action> Start()
    {
        var queue = new BlockingCollection<Action>(new ConcurrentQueue<Action>());
        for (var i = 0; i < ThreadCount; i++)
        {
            new Thread(() =>
            {
                foreach (var work in queue.GetConsumingEnumerable()) work();
            })
            { IsBackground = true, Name = ThreadName }.Start();
        }
        return queue;
    }

    /// <summary>Runs <paramref name="work"/> on a store thread; its result or exception completes the task. A token
    /// cancelled before the work starts cancels the task and the work never runs; once started, it runs to its end.</summary>
    public static Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        s_queue.Add(() =>
        {
            if (cancellationToken.IsCancellationRequested)
            {
                done.TrySetCanceled(cancellationToken);
                return;
            }
            try
            {
                done.TrySetResult(work());
            }
            catch (OperationCanceledException ex) when (ex.CancellationToken == cancellationToken && cancellationToken.IsCancellationRequested)
            {
                done.TrySetCanceled(cancellationToken);
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        }, CancellationToken.None);   // unbounded: Add never waits, so there is nothing to cancel
        return done.Task;
    }

    /// <summary>As <see cref="Run{T}(Func{T}, CancellationToken)"/> for a body written against SQLite's async API, which
    /// completes synchronously: it is run to its end on the store thread.</summary>
    public static Task<T> Run<T>(Func<Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Run(() => work().GetAwaiter().GetResult(), cancellationToken);
    }
}
