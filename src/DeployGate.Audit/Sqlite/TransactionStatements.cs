using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace DeployGate.Audit.Sqlite;

/// <summary>A writer's transaction statements (<c>BEGIN IMMEDIATE</c>, <c>COMMIT</c>, <c>ROLLBACK</c>) and the
/// statements of its own that a subclass prepares, all prepared once on a connection's handle and stepped through
/// SQLite's API directly. Shared by the audit writer (<see cref="WriterStatements"/>) and the grant store
/// (<see cref="Grants.GrantStatements"/>). Only one thread at a time uses an instance; errors surface as
/// <see cref="SqliteException"/>.</summary>
internal abstract class TransactionStatements : IDisposable
{
    protected const int SqliteBusy = 5;
    protected const int SqliteRow = 100;
    protected const int SqliteDone = 101;

    private readonly List<sqlite3_stmt> _prepared = new(5);
    private readonly sqlite3_stmt _begin;
    private readonly sqlite3_stmt _commit;
    private readonly sqlite3_stmt _rollback;

    /// <summary>Prepares the three transaction statements; a subclass prepares its own with <see cref="Prepare"/> and,
    /// should that fail, disposes of the instance (every statement prepared so far is finalized).</summary>
    protected TransactionStatements(sqlite3 db)
    {
        Db = db;
        try
        {
            _begin = Prepare("BEGIN IMMEDIATE");   // take the write lock now, waiting up to busy_timeout
            _commit = Prepare("COMMIT");
            _rollback = Prepare("ROLLBACK");
        }
        catch
        {
            FinalizeAll();
            throw;
        }
    }

    protected sqlite3 Db { get; }

    public void Begin() => Run(_begin);

    /// <summary><c>BEGIN IMMEDIATE</c> without waiting: false, and no transaction, when another connection holds SQLite's
    /// write lock (another process writing the file); the connection's busy timeout, <paramref name="busyTimeoutMs"/>,
    /// is set again either way.</summary>
    public bool TryBeginNow(int busyTimeoutMs)
    {
        Check(raw.sqlite3_busy_timeout(Db, 0));
        try
        {
            var rc = raw.sqlite3_step(_begin);
            if (rc == SqliteDone) return true;
            if ((rc & 0xff) == SqliteBusy) return false;
            Check(rc);
            return false;   // not reached: Check throws for every other code
        }
        finally
        {
            raw.sqlite3_reset(_begin);
            raw.sqlite3_busy_timeout(Db, busyTimeoutMs);
        }
    }

    public void Commit() => Run(_commit);

    /// <summary>Best effort after a failure: the connection is closed next anyway, which rolls back too.</summary>
    public void TryRollback()
    {
        raw.sqlite3_step(_rollback);
        raw.sqlite3_reset(_rollback);
    }

    /// <summary>Finalizes every statement prepared (the connection is its owner's to close).</summary>
    public virtual void Dispose() => FinalizeAll();

    private void FinalizeAll()
    {
        foreach (var statement in _prepared) statement.Dispose();
        _prepared.Clear();
    }

    protected sqlite3_stmt Prepare(string sql)
    {
        Check(raw.sqlite3_prepare_v2(Db, sql, out var statement));
        _prepared.Add(statement);
        return statement;
    }

    /// <summary>Steps a statement that returns no rows, then resets it.</summary>
    protected void Run(sqlite3_stmt statement)
    {
        try
        {
            var rc = raw.sqlite3_step(statement);
            if (rc != SqliteDone) Check(rc);
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    protected void Check(int rc) => SqliteException.ThrowExceptionForRC(rc, Db);
}
