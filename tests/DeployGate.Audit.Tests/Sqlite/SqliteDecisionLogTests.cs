using DeployGate.Audit.Sqlite;
using DeployGate.Audit.Tests.Shared;

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
    public async Task AppendWhileAnotherConnectionHoldsTheWriteLock_ReturnsAtOnce_AndCommitsWhenItIsFree()
    {
        // Appending never waits for SQLite's lock on the caller's thread: the writer thread waits instead.
        await using var log = _store.Open();
        ValueTask append;
        using (var holder = _store.Raw())
        using (var transaction = holder.BeginTransaction(deferred: false))
        {
            append = log.AppendAsync(TestDecisions.Make(1), new AuditContext());
            Assert.False(append.IsCompleted);
            await Task.Delay(200);
            Assert.False(append.IsCompleted);   // nothing completes before its commit
            Assert.Equal(0, log.CommitCount);
        }
        await append;
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
        await log.AppendAsync(TestDecisions.Make(401), new AuditContext());   // the restart runs after this batch
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (log.ForcedRestartCount == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(1, log.ForcedRestartCount);

        await log.AppendAsync(TestDecisions.Make(402), new AuditContext());   // the first commit after it starts the WAL over
        Assert.True(WalFrames() < before, $"the WAL holds {WalFrames()} frames, {before} before the restart");
        var verification = await log.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(402, verification.RecordsChecked);
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
}
