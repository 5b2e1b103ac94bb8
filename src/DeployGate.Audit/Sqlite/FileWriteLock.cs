using System.Collections.Concurrent;

namespace DeployGate.Audit.Sqlite;

/// <summary>One write transaction at a time per SQLite file within this process, in the order they asked. The audit
/// writer, the grant store and the review jobs share one file, and SQLite lets one connection write at a time: a
/// second one that tries gets SQLITE_BUSY and sleeps in a busy handler (SQLite's own: 1, 2, 5, 10 … 100 ms;
/// Microsoft.Data.Sqlite's retry loop: longer), however soon the lock comes free. Under a load of authorizes and
/// redeems together, the audit writer slept in that handler behind redeems' commits, and every authorize waited with
/// it: open loop at 300 operations/s (an authorize and its grant's redeem each), p99 308–324 ms, p99.9 0.76–1.0 s.
/// Taking turns here first means no writer of this process meets another in SQLite's lock; the handler is left for
/// another process sharing the file. Not tied to a thread (a ticket counter, not a monitor held across the
/// transaction), so it may be released from any thread.</summary>
internal sealed class FileWriteLock
{
    private static readonly ConcurrentDictionary<string, FileWriteLock> s_byPath = new(StringComparer.Ordinal);

    private readonly object _turn = new();   // guards the counters, and is what the waiting callers wait on
    private long _nextTicket;
    private long _serving;

    /// <summary>The lock of the file at <paramref name="fullPath"/> (a full path: <see cref="Path.GetFullPath(string)"/>).</summary>
    public static FileWriteLock For(string fullPath) => s_byPath.GetOrAdd(fullPath, static _ => new FileWriteLock());

    /// <summary>Callers holding or waiting for a turn (test hook).</summary>
    internal long Queued
    {
        get
        {
            lock (_turn) return _nextTicket - _serving;
        }
    }

    /// <summary>Waits for this caller's turn; dispose the result to give the turn to the next one.</summary>
    public Turn Enter()
    {
        lock (_turn)
        {
            var ticket = _nextTicket++;
            while (ticket != _serving) Monitor.Wait(_turn);
        }
        return new Turn(this);
    }

    private void Exit()
    {
        lock (_turn)
        {
            _serving++;
            Monitor.PulseAll(_turn);
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
