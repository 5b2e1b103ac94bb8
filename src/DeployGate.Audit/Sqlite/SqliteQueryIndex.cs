using Microsoft.Data.Sqlite;

namespace DeployGate.Audit.Sqlite;

/// <summary>The audit log's query index: a second SQLite file beside the log (<c>audit.db-index</c> for
/// <c>audit.db</c>) whose <c>decision_index</c> table holds the filter columns (<c>repository</c>,
/// <c>environment</c>, <c>verdict</c>, <c>evaluated_at</c>) of log rows 1..n, n being its largest <c>seq</c>, with
/// an index per filter. A thread of its own copies new rows in passes of up to <see cref="PassMaxRows"/>: when
/// <see cref="SqliteDecisionLog.IndexEveryRows"/> rows were committed since the last pass, and at least every
/// <see cref="SqliteDecisionLog.IndexInterval"/> while any were. The thread runs at the lowest priority (see
/// <see cref="LowerThisThreadsPriority"/>).
/// <para>Why a second file: with the indexes on the log, every commit dirtied one leaf page per index, one per
/// distinct key in its batch (a 4 KiB WAL frame each, synced before the answer); a pass dirties each leaf once for
/// all its rows. In the log's file a pass would hold its write lock, so commits would wait for it (6–35 ms a pass
/// of 1,024 rows of the 200-environment bench policy); here it holds only this file's lock and a read snapshot of
/// the log.</para>
/// The file is derived: it is written without syncs (<c>synchronous = NORMAL</c> in WAL mode: a crash may lose the
/// last passes, never the file), and a file that cannot be read, or of another <see cref="SqliteSchema.IndexFileVersion"/>,
/// is deleted and built again from the log. Queries read rows above n from the log itself.</summary>
internal sealed class SqliteQueryIndex : IAsyncDisposable
{
    /// <summary>Most rows one pass copies; a pass that copied this many is followed by the next at once (a log
    /// migrated from schema version 1, or a deleted index file, catches up this way).</summary>
    internal const int PassMaxRows = 4_096;

    private readonly string _logPath;
    private readonly int _everyRows;
    private readonly int _intervalMs;
    private readonly WakeSignal _wake = new();   // no spinning: no answer waits for a pass
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _unindexed;   // rows committed since the last pass began (the log's writer adds, the indexer takes)
    private int _woken;        // 1 once the writer set _wake for the current count
    private int _idle;         // 1 while the indexer sleeps with nothing to index (no timeout): the next row wakes it
    private int _stopping;
    private long _passes;
    private long _failures;

    public SqliteQueryIndex(string logPath, int everyRows, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(everyRows, 1);
        _logPath = logPath;
        _everyRows = everyRows;
        _intervalMs = interval == Timeout.InfiniteTimeSpan ? Timeout.Infinite : checked((int)interval.TotalMilliseconds);
        IndexPath = PathFor(logPath);
    }

    /// <summary>The index file for the log at <paramref name="logPath"/>.</summary>
    public static string PathFor(string logPath) => logPath + "-index";

    public string IndexPath { get; }

    /// <summary>Passes completed (test hook).</summary>
    public long PassCount => Interlocked.Read(ref _passes);

    /// <summary>Passes that failed (test hook).</summary>
    public long FailureCount => Interlocked.Read(ref _failures);

    public void Start()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "dg-audit-index" };
        thread.Start();
    }

    /// <summary>The log's writer, after each commit: counts the rows, and wakes the indexer when they reach the
    /// threshold, or when they are the first while it sleeps with nothing to do (so that it starts the interval).</summary>
    public void Committed(int rows)
    {
        var count = Interlocked.Add(ref _unindexed, rows);   // a full fence: read _idle after it (see Run)
        if ((count >= _everyRows || (count == rows && Volatile.Read(ref _idle) == 1)) && Interlocked.Exchange(ref _woken, 1) == 0)
        {
            _wake.Set();
        }
    }

    /// <summary>Stops the indexer (a pass under way finishes first); rows not yet indexed are indexed by the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopping, 1) != 0) return;
        _wake.Set();
        await _done.Task;
    }

    /// <summary>Test hook: one pass of at most <paramref name="maxRows"/> rows on a connection of its own (the index
    /// file's write lock serializes it with the indexer thread). Returns how many rows it copied.</summary>
    public int IndexNow(int maxRows = int.MaxValue)
    {
        using var connection = Open();
        return Pass(connection, maxRows);
    }

    /// <summary>The indexer's thread runs at the lowest priority (Linux: nice 19, which needs no privilege): its passes
    /// are work no request waits for, and at high load the scheduler then gives the cores to the request threads and the
    /// log's writer first. Best effort: elsewhere, or when refused, it runs at the normal priority.</summary>
    internal static bool LowerThisThreadsPriority()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return NativeMethods.setpriority(0 /* PRIO_PROCESS: with a thread id, that thread alone */, NativeMethods.gettid(), 19) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static class NativeMethods
    {
        [System.Runtime.InteropServices.DllImport("libc")]
        [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
        internal static extern int setpriority(int which, int who, int prio);

        [System.Runtime.InteropServices.DllImport("libc")]
        [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
        internal static extern int gettid();
    }

    private void Run()
    {
        LowerThisThreadsPriority();
        SqliteConnection? connection = null;
        var behind = false;
        var due = true;   // at start: rows a previous process, or a version-1 file, left unindexed
        try
        {
            while (true)
            {
                // _idle is set before _unindexed is read, and Committed adds before it reads _idle: either this sees
                // the row, or Committed sees the indexer idle and wakes it.
                Interlocked.Exchange(ref _idle, 1);
                var timeout = behind ? 0 : due || Interlocked.Read(ref _unindexed) > 0 ? _intervalMs : Timeout.Infinite;
                if (timeout != Timeout.Infinite) Volatile.Write(ref _idle, 0);
                var woken = _wake.Wait(timeout);
                Volatile.Write(ref _idle, 0);
                if (Volatile.Read(ref _stopping) != 0) break;
                if (woken && timeout == Timeout.Infinite && Interlocked.Read(ref _unindexed) < _everyRows)
                {
                    Volatile.Write(ref _woken, 0);   // the first rows since the last pass: the interval starts now
                    continue;
                }
                Interlocked.Exchange(ref _unindexed, 0);
                Volatile.Write(ref _woken, 0);
                try
                {
                    connection ??= Open();
                    behind = Pass(connection, PassMaxRows) == PassMaxRows;
                    due = false;
                    Interlocked.Increment(ref _passes);
                }
                catch (Exception ex)
                {
                    // Queries then read more of the log itself, which costs them time, not correctness; answers never
                    // wait for this thread. A file SQLite cannot read is rebuilt from the log.
                    Interlocked.Increment(ref _failures);
                    connection?.Dispose();
                    connection = null;
                    if (ex is SqliteException { SqliteErrorCode: 11 or 26 }) Delete();   // SQLITE_CORRUPT, SQLITE_NOTADB
                    (behind, due) = (false, true);
                }
            }
        }
        finally
        {
            connection?.Dispose();
            _done.TrySetResult();
        }
    }

    /// <summary>One pass in a deferred transaction: the log is only read (a snapshot, no lock the log's writer waits for).</summary>
    private static int Pass(SqliteConnection connection, int maxRows)
    {
        using var transaction = connection.BeginTransaction(deferred: true);
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = SqliteSchema.IndexPass;
        command.Parameters.AddWithValue("$max", maxRows);
        var copied = command.ExecuteNonQuery();
        transaction.Commit();
        return copied;
    }

    /// <summary>Opens (creating when missing, rebuilding when of another version) the index file, with the log attached as <c>audit</c>.</summary>
    private SqliteConnection Open()
    {
        var connection = Connect();
        try
        {
            if (Scalar(connection, "PRAGMA user_version") is not (0 or SqliteSchema.IndexFileVersion))
            {
                connection.Dispose();
                Delete();
                connection = Connect();
            }
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;
                {SqliteSchema.IndexCreate}
                PRAGMA user_version = {SqliteSchema.IndexFileVersion};
                """;
            command.ExecuteNonQuery();
            command.CommandText = "ATTACH DATABASE $log AS audit";
            command.Parameters.AddWithValue("$log", _logPath);
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private SqliteConnection Connect()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = IndexPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 10,
        }.ToString());
        connection.Open();
        return connection;
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private void Delete()
    {
        foreach (var suffix in (ReadOnlySpan<string>)["", "-wal", "-shm"])
        {
            try
            {
                File.Delete(IndexPath + suffix);
            }
            catch (IOException)
            {
                // Another process may hold it; the next pass tries again.
            }
        }
    }
}
