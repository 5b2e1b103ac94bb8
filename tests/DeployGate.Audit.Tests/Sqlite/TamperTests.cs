using Xunit;

namespace DeployGate.Audit.Tests.Sqlite;

/// <summary>Someone with the file edits it by hand (after dropping the append-only triggers); verify finds it.</summary>
public sealed class TamperTests : IDisposable
{
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    private async Task<ChainVerification> TamperAndVerify(string sql)
    {
        await using (var log = _store.Open())
        {
            await log.AppendAllAsync(DecisionLogExtensions.Range(1, 10));
            Assert.True((await log.VerifyAsync()).Intact);
        }
        _store.Tamper(sql);
        await using var reopened = _store.Open();
        return await reopened.VerifyAsync();
    }

    [Fact]
    public async Task Intact_ReportsCountAndHeadHash()
    {
        await using var log = _store.Open();
        Assert.Equal(new ChainVerification(true, 0, null, null) { HeadHash = new string('0', 64) }, await log.VerifyAsync());

        await log.AppendAllAsync(DecisionLogExtensions.Range(1, 10));

        var verification = await log.VerifyAsync();
        Assert.Equal(new ChainVerification(true, 10, null, null) { HeadHash = _store.Scalar<string>("SELECT hash FROM decision_log WHERE seq = 10") },
            verification);
    }

    [Fact]
    public async Task OneJsonByteChanged_ReportsThatRecord()
    {
        var original = TestDecisions.StoredJson(TestDecisions.Make(5));
        Assert.NotEqual('X', original[10]);

        var verification = await TamperAndVerify(
            "UPDATE decision_log SET decision_json = substr(decision_json, 1, 10) || 'X' || substr(decision_json, 12) WHERE seq = 5");

        Assert.Equal(new ChainVerification(false, 4, 5, "record `5` hash does not match its contents"), verification);
    }

    [Fact]
    public async Task ContextColumnChanged_ReportsThatRecord()
    {
        var verification = await TamperAndVerify("UPDATE decision_log SET channel = 'cli' WHERE seq = 7");

        Assert.Equal(new ChainVerification(false, 6, 7, "record `7` hash does not match its contents"), verification);
    }

    [Fact]
    public async Task RowDeleted_ReportsTheGap()
    {
        var verification = await TamperAndVerify("DELETE FROM decision_log WHERE seq = 5");

        Assert.Equal(new ChainVerification(false, 4, 5, "record `5` is missing (next is `6`)"), verification);
    }

    [Fact]
    public async Task RowsDeleted_ReportsTheWholeGap()
    {
        var verification = await TamperAndVerify("DELETE FROM decision_log WHERE seq IN (5, 6, 7)");

        Assert.Equal(new ChainVerification(false, 4, 5, "records `5` to `7` are missing (next is `8`)"), verification);
    }

    [Fact]
    public async Task FirstRowDeleted_ReportsRecordOne()
    {
        var verification = await TamperAndVerify("DELETE FROM decision_log WHERE seq = 1");

        Assert.Equal(new ChainVerification(false, 0, 1, "record `1` is missing (next is `2`)"), verification);
    }

    [Fact]
    public async Task HashesSwapped_ReportsTheEarlierRecord()
    {
        var verification = await TamperAndVerify("""
            UPDATE decision_log SET hash = (SELECT hash FROM decision_log WHERE seq = 7) WHERE seq = 4;
            UPDATE decision_log SET hash = (SELECT prev_hash FROM decision_log WHERE seq = 5) WHERE seq = 7;
            """);

        Assert.Equal(new ChainVerification(false, 3, 4, "record `4` hash does not match its contents"), verification);
    }

    [Fact]
    public async Task PrevHashForged_ReportsThatRecord()
    {
        var verification = await TamperAndVerify(
            "UPDATE decision_log SET prev_hash = (SELECT hash FROM decision_log WHERE seq = 4) WHERE seq = 6");

        Assert.Equal(new ChainVerification(false, 5, 6, "record `6` prev_hash does not match the hash of record `5`"), verification);
    }

    [Fact]
    public async Task RowsReordered_ReportsTheFirstMovedRecord()
    {
        var verification = await TamperAndVerify("""
            UPDATE decision_log SET seq = 1000 WHERE seq = 3;
            UPDATE decision_log SET seq = 3 WHERE seq = 4;
            UPDATE decision_log SET seq = 4 WHERE seq = 1000;
            """);

        Assert.Equal(new ChainVerification(false, 2, 3, "record `3` prev_hash does not match the hash of record `2`"), verification);
    }

    [Fact]
    public async Task MalformedHash_IsReported()
    {
        var verification = await TamperAndVerify("UPDATE decision_log SET hash = upper(hash) WHERE seq = 2");

        Assert.Equal(new ChainVerification(false, 1, 2, "record `2` hash is not 64 lowercase hex digits"), verification);
    }
}
