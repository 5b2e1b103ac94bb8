using System.Collections.Concurrent;

namespace DeployGate.Audit.Sqlite;

/// <summary>One write transaction at a time per SQLite file within this process, in the order they asked. The audit
/// writer, the grant store and the review jobs share one file, and SQLite lets one connection write at a time: a
/// second one that tries gets SQLITE_BUSY and sleeps in a busy handler (SQLite's own: 1, 2, 5, 10 … 100 ms;
/// Microsoft.Data.Sqlite's retry loop: longer), however soon the lock comes free. Under a load of authorizes and
/// redeems together, the audit writer slept in that handler behind redeems' commits, and every authorize waited with
/// it: open loop at 300 operations/s (an authorize and its grant's redeem each), p99 308–324 ms, p99.9 0.76–1.0 s.
/// Taking turns here first means no writer of this process meets another in SQLite's lock; the handler is left for
/// another process sharing the file. Each release hands the turn to the longest waiter and wakes that one alone. Not
/// tied to a thread (no monitor is held across the transaction), so it may be released from any thread.</summary>
internal sealed class FileWriteLock
{
    private static readonly ConcurrentDictionary<string, FileWriteLock> s_byPath = new(StringComparer.Ordinal);

    private readonly Lock _gate = new();
    private readonly Queue<Waiter> _waiting = new();
    private bool _held;

    /// <summary>The lock of the file at <paramref name="fullPath"/> (a full path: <see cref="Path.GetFullPath(string)"/>).</summary>
    public static FileWriteLock For(string fullPath) => s_byPath.GetOrAdd(fullPath, static _ => new FileWriteLock());

    /// <summary>Callers holding or waiting for a turn (test hook).</summary>
    internal int Queued
    {
        get
        {
            lock (_gate) return (_held ? 1 : 0) + _waiting.Count;
        }
    }

    /// <summary>Waits for this caller's turn; dispose the result to give the turn to the next one.</summary>
    public Turn Enter()
    {
        Waiter waiter;
        lock (_gate)
        {
            if (!_held)
            {
                _held = true;
                return new Turn(this);
            }
            waiter = new Waiter();
            _waiting.Enqueue(waiter);
        }
        waiter.Wait();   // the turn is handed over by Exit: nobody else can take it meanwhile
        return new Turn(this);
    }

    /// <summary>Takes the turn only when nobody holds it (and so nobody waits for it); never waits.</summary>
    public bool TryEnter(out Turn turn)
    {
        lock (_gate)
        {
            if (_held)
            {
                turn = default;
                return false;
            }
            _held = true;
        }
        turn = new Turn(this);
        return true;
    }

    /// <summary>Hands the turn straight to the longest waiter (waking that one alone), or frees it.</summary>
    private void Exit()
    {
        Waiter? next;
        lock (_gate)
        {
            if (!_waiting.TryDequeue(out next)) _held = false;
        }
        next?.Grant();
    }

    /// <summary>One caller waiting for its turn, woken by <see cref="Grant"/> alone.</summary>
    private sealed class Waiter
    {
        private readonly object _monitor = new();
        private bool _granted;

        public void Wait()
        {
            lock (_monitor)
            {
                while (!_granted) Monitor.Wait(_monitor);
            }
        }

        public void Grant()
        {
            lock (_monitor)
            {
                _granted = true;
                Monitor.Pulse(_monitor);
            }
        }
    }

    /// <summary>A caller's turn at writing; <see cref="Dispose"/> ends it (once).</summary>
    public struct Turn : IDisposable
    {
        private FileWriteLock? _owner;

        internal Turn(FileWriteLock owner) => _owner = owner;

        public void Dispose()
        {
            var owner = _owner;
            _owner = null;
            owner?.Exit();
        }
    }
}
