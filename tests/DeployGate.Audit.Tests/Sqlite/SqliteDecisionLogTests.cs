using DeployGate.Audit.Sqlite;
using DeployGate.Audit.Tests.Shared;
using DeployGate.Engine;

namespace DeployGate.Audit.Tests.Sqlite;

/// <summary>What only SQLite has: WAL, file paths and connection strings, SQLite's own error text. The contract
/// every store keeps is in <see cref="DecisionLogContract"/>.</summary>
public sealed class SqliteDecisionLogTests : IDisposable
{
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task Open_UsesWalJournal()
    {
        await using var log = _store.Open();
        Assert.Equal("wal", _store.Scalar<string>("PRAGMA journal_mode"));
    }

    [Fact]
    public async Task DecisionJson_IsStoredAsText_ByteForByte_NonAsciiIncluded()
    {
        // The insert binds the serializer's UTF-8 as a blob and CASTs it to TEXT: the column must hold text, the
        // same text a query returns and the hash covers, whatever characters it has.
        await using var log = _store.Open();
        var decision = TestDecisions.Make(1, environment: "prödüction-東京");
        await log.AppendAsync(decision, new AuditContext());
        Assert.Equal("text", _store.Scalar<string>("SELECT typeof(decision_json) FROM decision_log"));
        Assert.Equal(TestDecisions.StoredJson(decision), _store.Scalar<string>("SELECT decision_json FROM decision_log"));
        Assert.Equal(TestDecisions.StoredJson(decision), Assert.Single(await log.QueryAsync(new DecisionQuery { Limit = 10 })));
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task ContextColumns_KeepNullEmptyAndNonAsciiValuesApart()
    {
        // The writer binds each column from UTF-8 spans: a null stays NULL, an empty string stays '' (not NULL), and
        // non-ASCII text is stored as the same text.
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1, repository: null, environment: ""), new AuditContext("webhook", "delivery-é"));
        await log.AppendAsync(TestDecisions.Make(2, repository: "acme/wéb-東京"), new AuditContext());

        Assert.Equal("null|text||webhook|delivery-é", _store.Scalar<string>(
            "SELECT typeof(repository) || '|' || typeof(environment) || '|' || environment || '|' || channel || '|' || delivery_id FROM decision_log WHERE seq = 1"));
        Assert.Equal("acme/wéb-東京|production|api|null", _store.Scalar<string>(
            "SELECT repository || '|' || environment || '|' || channel || '|' || typeof(delivery_id) FROM decision_log WHERE seq = 2"));
        Assert.Equal("dec_00000000000000000000000002|run-2|deny|2026-11-22T10:15:02.0000000Z", _store.Scalar<string>(
            "SELECT decision_id || '|' || run_id || '|' || verdict || '|' || evaluated_at FROM decision_log WHERE seq = 2"));
        Assert.Equal(ChainHashGenesis, _store.Scalar<string>("SELECT prev_hash FROM decision_log WHERE seq = 1"));
        Assert.Equal(_store.Scalar<string>("SELECT hash FROM decision_log WHERE seq = 1"), _store.Scalar<string>("SELECT prev_hash FROM decision_log WHERE seq = 2"));
        Assert.True((await log.VerifyAsync()).Intact);
    }

    private static readonly string ChainHashGenesis = new('0', 64);

    [Fact]
    public async Task MoreQueuedThanOneBatchHolds_CommitInBatchesOfAtMostMaxBatch_InOrder()
    {
        // 2,500 appends queue while another connection holds the write lock: the writer then takes them 1,024 at a time
        // (the rest stays queued for the next batch), and the chain holds them all, in the order they were queued.
        await using var log = _store.Open();
        const int count = 2_500;
        var appends = new Task[count];
        using (var holder = _store.Raw())
        using (var transaction = holder.BeginTransaction(deferred: false))
        {
            for (var n = 1; n <= count; n++) appends[n - 1] = log.AppendAsync(TestDecisions.Make(n), new AuditContext()).AsTask();
            await Task.Delay(100);
            Assert.DoesNotContain(appends, a => a.IsCompleted);
        }
        await Task.WhenAll(appends);

        Assert.Equal(count, _store.Scalar<long>("SELECT count(*) FROM decision_log"));
        Assert.Equal(0, _store.Scalar<long>("SELECT count(*) FROM decision_log WHERE decision_id <> printf('dec_%026d', seq)"));
        Assert.InRange(log.CommitCount, 3, 4);   // the first batch (1 or more records) waited for the lock; then 1,024 at most each
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task QueryIndexThread_RunsAtTheLowestPriority_TheWriterAtTheNormalOne()
    {
        Assert.True(OperatingSystem.IsLinux(), "this check reads /proc; the gate's CI runs on Linux");
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());   // the threads have started and run by now

        // /proc/self/task/<tid>/stat: "<tid> (<name>) <state> …", nice is the 17th field after the name.
        // Other tests' logs open and close meanwhile: a thread may be gone before its file is read, and another log's
        // indexer may not have lowered itself yet, so this asserts that some indexer runs at 19 and no writer does.
        var threads = new List<(string Name, int Nice)>();
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            string stat;
            try { stat = File.ReadAllText(Path.Combine(task, "stat")); }
            catch (IOException) { continue; }
            var close = stat.LastIndexOf(')');
            threads.Add((stat[(stat.IndexOf('(') + 1)..close], int.Parse(stat[(close + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.Contains(threads, t => t is ("dg-audit-index", 19));
        var writers = threads.Where(t => t.Name == "dg-audit-writer").ToList();
        Assert.NotEmpty(writers);
        var normal = NiceOf("/proc/self/stat");   // the process's main thread: 0 unless the tests themselves run niced
        Assert.All(writers, t => Assert.Equal(normal, t.Nice));
    }

    [Fact]
    public void LowerThisThreadsPriority_ChangesTheCallingThreadAlone()
    {
        Assert.True(OperatingSystem.IsLinux(), "this check reads /proc; the gate's CI runs on Linux");
        (bool Lowered, int Nice) seen = default;
        var thread = new Thread(() => seen = (SqliteQueryIndex.LowerThisThreadsPriority(), NiceOf("/proc/thread-self/stat")));
        thread.Start();
        thread.Join();

        Assert.Equal((true, 19), seen);
        Assert.Equal(NiceOf("/proc/self/stat"), NiceOf("/proc/thread-self/stat"));   // this thread unchanged
        Assert.NotEqual(19, NiceOf("/proc/self/stat"));                               // and the process
    }

    private static int NiceOf(string statPath)
    {
        var stat = File.ReadAllText(statPath);
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task LoneAppend_CommitsOnTheCallersThread_AndIsDoneWhenTheCallReturns()
    {
        // Nobody committing, nothing holding the file: the appender commits itself, with no hand-off to wait for.
        await using var log = _store.Open();
        for (var n = 1; n <= 3; n++)
        {
            var append = log.AppendAsync(TestDecisions.Make(n), new AuditContext());
            Assert.True(append.IsCompletedSuccessfully, $"append {n} returned before its commit");
            Assert.Equal(n, _store.Scalar<long>("SELECT count(*) FROM decision_log"));   // committed: another connection sees it
            await append;
        }
        Assert.Equal(3, log.InlineCommits);
        Assert.Equal(3, log.CommitCount);
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task AppendWhileThisProcessWritesTheFile_GoesToTheWriterThread_WhichWaitsForItsTurn()
    {
        // A redeem or a review job of this process holds the file's write turn: the appender must not wait for it.
        await using var log = _store.Open();
        ValueTask append;
        using (FileWriteLock.For(Path.GetFullPath(_store.DatabasePath)).Enter())
        {
            append = log.AppendAsync(TestDecisions.Make(1), new AuditContext());
            Assert.False(append.IsCompleted);
            await Task.Delay(100);
            Assert.False(append.IsCompleted);
        }
        await append;
        Assert.Equal(0, log.InlineCommits);
        Assert.Equal(1, log.CommitCount);
        Assert.Equal(1, _store.Scalar<long>("SELECT count(*) FROM decision_log"));
    }

    [Fact]
    public async Task ConcurrentAppends_SomeInlineSomeByTheWriter_OneChainWithEveryRecord()
    {
        await using var log = _store.Open();
        const int count = 2_000;
        await Task.WhenAll(Enumerable.Range(1, count).Select(n => Task.Run(async () =>
        {
            if (n % 7 == 0) await Task.Yield();
            await log.AppendAsync(TestDecisions.Make(n), new AuditContext());
        })));
        var verification = await log.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(count, verification.RecordsChecked);
        Assert.Equal(count, _store.Scalar<long>("SELECT count(DISTINCT decision_id) FROM decision_log"));
        Assert.True(log.InlineCommits > 0, "no append found the writer idle");
        Assert.True(log.CommitCount < count, $"{log.CommitCount} commits for {count} records: none grouped");
    }

    [Fact]
    public async Task AppendWhileAnotherConnectionHoldsTheWriteLock_ReturnsAtOnce_AndCommitsWhenItIsFree()
    {
        // Appending never waits for SQLite's lock on the caller's thread: the writer thread waits instead.
        await using var log = _store.Open();
        ValueTask append;
        using (var holder = _store.Raw())
        using (var transaction = holder.BeginTransaction(deferred: false))
        {
            // The call itself must come back while the lock is held (the busy timeout it must not wait out is 10 s).
            var call = Task.Run(() => log.AppendAsync(TestDecisions.Make(1), new AuditContext()));
            Assert.True(await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(5))) == call, "the append waited for SQLite's lock on the caller's thread");
            append = await call;
            Assert.False(append.IsCompleted);
            await Task.Delay(200);
            Assert.False(append.IsCompleted);   // nothing completes before its commit
            Assert.Equal(0, log.CommitCount);
        }
        await append;
        Assert.Equal(0, log.InlineCommits);   // the busy lock sent it to the writer thread, which waited
        Assert.Equal(1, _store.Scalar<long>("SELECT count(*) FROM decision_log"));
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task Wal_IsCheckpointedOffTheAppendPath_AndStartsOverOnceLong()
    {
        // Appends never checkpoint (wal_autocheckpoint is off); the checkpointer thread does, and once the WAL
        // reaches RestartFrames it makes the next commit start the WAL over, so the file does not grow without end.
        await using var log = _store.Open();
        var n = 0;
        long longest = 0;
        // An open read snapshot keeps every checkpoint from finishing, so the WAL must grow. Without it, whether it
        // reached RestartFrames depended on the machine: on a slow disk the checkpointer kept it short (3,910 frames
        // after 20,000 appends in one CI run).
        using (var reader = _store.Raw())
        using (var snapshot = reader.BeginTransaction(deferred: true))
        {
            using (var read = reader.CreateCommand())
            {
                read.Transaction = snapshot;
                read.CommandText = "SELECT count(*) FROM decision_log";
                read.ExecuteScalar();
            }
            while (longest < SqliteDecisionLog.RestartFrames && n < 20_000)
            {
                await log.AppendAsync(TestDecisions.Make(++n), new AuditContext());
                if (n % 100 == 0) longest = Math.Max(longest, WalFrames());
            }
        }
        Assert.True(longest >= SqliteDecisionLog.RestartFrames, $"the WAL reached only {longest} frames in {n} appends");

        var deadline = DateTime.UtcNow.AddSeconds(30);
        long frames;
        do
        {
            await Task.Delay(50);
            await log.AppendAsync(TestDecisions.Make(++n), new AuditContext());   // a RESTART takes effect at the next commit
            frames = WalFrames();
        }
        while (frames >= SqliteDecisionLog.RestartFrames / 2 && DateTime.UtcNow < deadline);

        Assert.True(frames < SqliteDecisionLog.RestartFrames / 2, $"the WAL still holds {frames} frames");
        Assert.True(log.CheckpointCount > 0);
        var verification = await log.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(n, verification.RecordsChecked);
    }

    [Fact]
    public async Task RestartRequested_TheWriterStartsTheWalOverBetweenBatches()
    {
        // Under sustained saturation the checkpointer's RESTART rarely finds the writer idle; past ForcedRestartFrames
        // it asks the writer, which holds no transaction between batches, to run it.
        await using var log = _store.Open();
        await Task.WhenAll(Enumerable.Range(1, 400).Select(n => log.AppendAsync(TestDecisions.Make(n), new AuditContext()).AsTask()));
        var before = WalFrames();
        Assert.True(before > 100, $"the WAL holds only {before} frames");

        log.RequestRestart();
        // It runs after the next batch, by the writer thread; one that the checkpointer's PASSIVE held up (blocked) is
        // asked again and runs after a later batch, so append until it has run.
        var n = 400;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (log.ForcedRestartCount == 0 && DateTime.UtcNow < deadline)
        {
            await log.AppendAsync(TestDecisions.Make(++n), new AuditContext());
            await Task.Delay(10);
        }
        Assert.Equal(1, log.ForcedRestartCount);

        await log.AppendAsync(TestDecisions.Make(++n), new AuditContext());   // the first commit after it starts the WAL over
        Assert.True(WalFrames() < before, $"the WAL holds {WalFrames()} frames, {before} before the restart");
        var verification = await log.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(n, verification.RecordsChecked);
    }

    /// <summary>Frames in the WAL now (<c>mxFrame</c>), read without touching the database: SQLite's wal-index header
    /// at the start of the <c>-shm</c> file holds it at byte 16, in native byte order (sqlite.org/walformat.html).
    /// The WAL file's size would not do: a WAL that starts over keeps its length (up to journal_size_limit).</summary>
    private long WalFrames()
    {
        using var shm = new FileStream(_store.DatabasePath + "-shm", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        Span<byte> header = stackalloc byte[20];
        shm.ReadExactly(header);
        return BitConverter.ToUInt32(header[16..]);
    }

    [Fact]
    public async Task TableDroppedUnderTheLog_ReportsSqlitesReason()
    {
        await using var log = _store.Open();
        await log.AppendAsync(TestDecisions.Make(1), new AuditContext());
        _store.Exec("DROP TABLE decision_log");

        var again = await Assert.ThrowsAsync<AuditStoreException>(async () => await log.AppendAsync(TestDecisions.Make(99), new AuditContext()));
        Assert.Contains("no such table", again.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Data Source={0}")]
    [InlineData("DataSource={0};Cache=Shared")]
    [InlineData("Filename={0}")]
    [InlineData("{0}")]
    public async Task Open_AcceptsPathOrConnectionString(string format)
    {
        await using (var first = _store.Open()) await first.AppendAsync(TestDecisions.Make(1), new AuditContext());

        await using var log = SqliteDecisionLog.Open(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, _store.DatabasePath));

        Assert.Equal(_store.DatabasePath, log.DatabasePath);
        Assert.Single(await log.QueryAsync(new DecisionQuery()));
    }

    [Theory]
    [InlineData("")]
    [InlineData(":memory:")]
    [InlineData("Data Source=:memory:")]
    [InlineData("Data Source=x.db;Mode=Memory")]
    [InlineData("Data Source=x.db;Mode=ReadOnly")]
    [InlineData("Data Source=x.db;Password=p")]
    [InlineData("Cache=Shared")]
    [InlineData("Nonsense Keyword=1")]
    public void Open_UnusableLocation_IsRefusedWithCode(string location)
    {
        var refused = Assert.Throws<AuditStoreException>(() => SqliteDecisionLog.ResolvePath(location));
        Assert.Equal(StoreCodes.InvalidLocation, refused.Code);
    }

    [Fact]
    public async Task Query_AcrossTheIndexWatermark_ReturnsEveryMatchNewestFirst()
    {
        // Rows above the query index's largest seq are read from decision_log, the others through the index file:
        // wherever the watermark stands, every query returns what a scan of all rows would, newest first.
        string[] repositories = ["acme/web", "acme/api", "ACME/web"];
        string[] environments = ["production", "staging", "PRODUCTION"];
        var decisions = Enumerable.Range(1, 30).Select(n => TestDecisions.Make(n,
            repository: n % 7 == 0 ? null : repositories[n % 3],
            environment: environments[n / 3 % 3],
            verdict: n % 4 == 0 ? Verdict.Allow : Verdict.Deny,
            at: TestDecisions.T0.AddSeconds(n % 5 == 0 ? 100 + n : n))).ToArray();
        await using var log = _store.Open();
        await log.AppendAllAsync(decisions);

        DecisionQuery[] queries =
        [
            new(), new(Limit: 1), new(Limit: 7), new(Repository: "acme/web"), new(Repository: "acme/web", Limit: 3),
            new(Environment: "production"), new(Environment: "Staging", Verdict: "deny"), new(Verdict: "allow", Limit: 2),
            new(Since: TestDecisions.T0.AddSeconds(20)), new(Repository: "acme/api", Environment: "PRODUCTION", Since: TestDecisions.T0.AddSeconds(5)),
            new(Repository: "nobody/else"),
        ];
        var indexed = 0;
        foreach (var step in (int[])[0, 1, 9, 7, 12, 1, 100])
        {
            indexed += log.Index.IndexNow(step);
            Assert.Equal(indexed, _store.IndexScalar<long>("SELECT count(*) FROM decision_index"));
            foreach (var query in queries)
            {
                var expected = decisions.Reverse().Where(d =>
                        (query.Repository is null || d.Identity.Repository == query.Repository)
                        && (query.Environment is null || string.Equals(d.Request.Environment, query.Environment, StringComparison.OrdinalIgnoreCase))
                        && (query.Verdict is null || (d.Verdict == Verdict.Allow ? "allow" : "deny") == query.Verdict)
                        && (query.Since is null || d.EvaluatedAt >= query.Since))
                    .Take(query.Limit).Select(TestDecisions.StoredJson);
                Assert.Equal(expected, await log.QueryAsync(query));
            }
        }
        Assert.Equal(30, indexed);
    }

    [Fact]
    public async Task QueryIndex_CopiesRowsOnceEveryRowsWereCommitted()
    {
        await using var log = _store.OpenIndexing(everyRows: 5, interval: Timeout.InfiniteTimeSpan);
        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 4));
        await Task.Delay(100);
        Assert.Equal(0, log.Index.PassCount);   // 4 rows: below the threshold, and passes by time are off
        Assert.False(File.Exists(SqliteQueryIndex.PathFor(_store.DatabasePath)));

        await log.AppendAllAsync(DecisionLogExtensions.Range(5, 1));
        // The indexer counts a pass after its commit: wait for both, then check that it was one pass.
        await Eventually(() => _store.IndexScalar<long>("SELECT count(*) FROM decision_index") == 5 && log.Index.PassCount >= 1);
        Assert.Equal(1, log.Index.PassCount);
        Assert.Equal(5L, _store.IndexScalar<long>("SELECT max(seq) FROM decision_index"));
        Assert.Equal(5, (await log.QueryAsync(new DecisionQuery(Repository: "acme/web"))).Count);
    }

    [Fact]
    public async Task QueryIndex_CopiesRowsBelowTheThreshold_AfterTheInterval()
    {
        await using var log = _store.OpenIndexing(everyRows: int.MaxValue, interval: TimeSpan.FromMilliseconds(20));
        await Eventually(() => log.Index.PassCount >= 1);   // the pass at start found nothing: the indexer sleeps
        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 3));   // the first row wakes it to start the interval
        await Eventually(() => _store.IndexScalar<long>("SELECT count(*) FROM decision_index") == 3);
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task Open_Version1File_IsMigrated_AndItsRowsIndexedInPasses()
    {
        // A version-1 file (the filter indexes on decision_log itself) larger than one index pass.
        var count = SqliteQueryIndex.PassMaxRows + 100;
        await using (var old = _store.Open())
        {
            await Task.WhenAll(Enumerable.Range(1, count).Select(n => old.AppendAsync(TestDecisions.Make(n,
                environment: n % 2 == 0 ? "production" : "staging"), new AuditContext()).AsTask()));
        }
        Assert.False(File.Exists(SqliteQueryIndex.PathFor(_store.DatabasePath)));   // never indexed: as a version-1 log
        _store.Exec("""
            CREATE INDEX decision_log_repository ON decision_log (repository);
            CREATE INDEX decision_log_environment ON decision_log (environment);
            CREATE INDEX decision_log_evaluated_at ON decision_log (evaluated_at);
            UPDATE schema_versions SET version = 1 WHERE component = 'decision_log';
            """);

        await using var log = _store.OpenIndexing(everyRows: int.MaxValue, interval: TimeSpan.FromMilliseconds(20));
        Assert.Equal(2L, _store.Scalar<long>("SELECT version FROM schema_versions WHERE component = 'decision_log'"));
        Assert.Equal(0L, _store.Scalar<long>("SELECT count(*) FROM sqlite_master WHERE name LIKE 'decision_log_%' AND type = 'index'"));
        Assert.Equal(count, (await log.QueryAsync(new DecisionQuery(Repository: "acme/web", Limit: 10_000))).Count);   // from the log alone

        // One pass copies at most PassMaxRows; the next followed unasked (everyRows is never reached). Both in one wait:
        // the indexer counts a pass after its commit, so the rows can be visible a moment before the count is.
        await Eventually(() => _store.IndexScalar<long>("SELECT count(*) FROM decision_index") == count && log.Index.PassCount >= 2);
        Assert.Equal(3L, _store.IndexScalar<long>("SELECT count(*) FROM sqlite_master WHERE name LIKE 'decision_index_%' AND type = 'index'"));
        Assert.Equal(count / 2, (await log.QueryAsync(new DecisionQuery(Environment: "Production", Limit: 10_000))).Count);
        Assert.Equal((long)count, (await log.VerifyAsync()).RecordsChecked);
    }

    [Fact]
    public async Task QueryIndexFailing_LeavesAppendsAndQueriesWhole_AndIsRetried()
    {
        await using var log = _store.OpenIndexing(everyRows: 1, interval: TimeSpan.FromMilliseconds(20));
        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 1));
        await Eventually(() => log.Index.PassCount >= 1);
        _store.IndexExec("CREATE TRIGGER broken_index BEFORE INSERT ON decision_index BEGIN SELECT RAISE(ABORT, 'simulated i/o failure'); END;");
        await log.AppendAllAsync(DecisionLogExtensions.Range(2, 2));
        await Eventually(() => log.Index.FailureCount >= 1);
        Assert.Equal(3, (await log.QueryAsync(new DecisionQuery(Environment: "production"))).Count);
        Assert.Equal(1L, _store.IndexScalar<long>("SELECT count(*) FROM decision_index"));

        _store.IndexExec("DROP TRIGGER broken_index");   // retried after the interval without any new append
        await Eventually(() => _store.IndexScalar<long>("SELECT count(*) FROM decision_index") == 3);
        Assert.Equal(3, (await log.QueryAsync(new DecisionQuery(Environment: "production"))).Count);
        Assert.True((await log.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task QueryIndexFile_NotADatabase_IsRebuiltFromTheLog()
    {
        await using (var first = _store.Open()) await first.AppendAllAsync(DecisionLogExtensions.Range(1, 3));
        File.WriteAllText(SqliteQueryIndex.PathFor(_store.DatabasePath), "not a database, but long enough to be read as one's header");

        await using var log = _store.OpenIndexing(everyRows: int.MaxValue, interval: TimeSpan.FromMilliseconds(20));
        Assert.Equal(3, (await log.QueryAsync(new DecisionQuery(Repository: "acme/web"))).Count);   // the log alone meanwhile
        await Eventually(() => log.Index.PassCount >= 1);
        Assert.Equal(3L, _store.IndexScalar<long>("SELECT count(*) FROM decision_index"));
        Assert.Equal(3, (await log.QueryAsync(new DecisionQuery(Repository: "acme/web"))).Count);
    }

    [Fact]
    public async Task QueryIndexFile_OfAnotherVersion_IsIgnoredByQueries_AndRebuilt()
    {
        await using (var first = _store.Open())
        {
            await first.AppendAllAsync(DecisionLogExtensions.Range(1, 4));
            first.Index.IndexNow(2);
            // A layout this build does not know, whose rows it would misread: used, the query would miss seq 1.
            _store.IndexExec("DELETE FROM decision_index WHERE seq = 1; PRAGMA user_version = 99");
            Assert.Equal(4, (await first.QueryAsync(new DecisionQuery(Repository: "acme/web"))).Count);
        }

        await using var log = _store.OpenIndexing(everyRows: int.MaxValue, interval: TimeSpan.FromMilliseconds(20));
        await Eventually(() => _store.IndexScalar<long>("PRAGMA user_version") == 1
            && _store.IndexScalar<long>("SELECT count(*) FROM decision_index") == 4);
        Assert.Equal(4, (await log.QueryAsync(new DecisionQuery(Repository: "acme/web"))).Count);
    }

    /// <summary>Polls for up to 10 s; a condition that throws (the index file not made yet) is not met yet.</summary>
    private static async Task Eventually(Func<bool> condition)
    {
        bool Met()
        {
            try
            {
                return condition();
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                return false;
            }
        }
        for (var i = 0; i < 500 && !Met(); i++) await Task.Delay(20);
        Assert.True(condition(), "not within 10 s");
    }
}
