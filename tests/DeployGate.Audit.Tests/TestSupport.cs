using System.Collections.Immutable;
using DeployGate.Audit.Sqlite;
using DeployGate.Engine;
using Microsoft.Data.Sqlite;

namespace DeployGate.Audit.Tests;

/// <summary>Decisions built directly (the evaluator is not needed to test storage).</summary>
internal static class TestDecisions
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 0, TimeSpan.Zero);

    public static Decision Make(
        int n,
        string? repository = "acme/web",
        string environment = "production",
        Verdict verdict = Verdict.Deny,
        DateTimeOffset? at = null,
        GrantInfo? grant = null) =>
        new(
            DecisionId: $"dec_{n:D26}",
            Verdict: verdict,
            EvaluatedAt: at ?? T0.AddSeconds(n),
            Request: new DecisionRequest(GateAction.Deploy, environment, Target: "aks/prod-eu-1"),
            Identity: new DecisionIdentity(repository, "acme/web/.github/workflows/release.yml", "refs/heads/main",
                "0123abcd", $"run-{n}", "1", "alice", ["release"],
                [new HeldRole("prod-deployer", "delegation", "alice", T0.AddDays(30), "CHG-1234 Q4 release train")]),
            Checks: verdict == Verdict.Allow
                ? [new Check("window", CheckResult.Pass, null, "inside window `business-hours`")]
                : [new Check("window", CheckResult.Fail, "DG2104", "outside window `business-hours` (Europe/Berlin)")],
            NextAllowedAt: verdict == Verdict.Allow ? null : T0.AddHours(22),
            BreakGlass: false,
            Policy: new PolicyRef("github:acme/web/.github/deploygate.yml", "blob-sha"),
            Grant: grant);

    public static string StoredJson(Decision decision) => DecisionJson.ToJson(decision);
}

/// <summary>A fresh folder per test with a not-yet-existing database path below a not-yet-existing subfolder.</summary>
internal sealed class TempStore : IDisposable
{
    public TempStore()
    {
        Folder = Path.Combine(Path.GetTempPath(), "dg-audit-tests", Guid.NewGuid().ToString("N"));
        DatabasePath = Path.Combine(Folder, "nested", "audit.db");
    }

    public string Folder { get; }

    public string DatabasePath { get; }

    /// <summary>Opens the log with its query index's passes off (queries then read <c>decision_log</c> alone; a test
    /// that wants them calls <see cref="SqliteQueryIndex.IndexNow"/> or uses <see cref="OpenIndexing"/>).</summary>
    public SqliteDecisionLog Open(TimeProvider? time = null) =>
        new(DatabasePath, time ?? new FixedTime(TestDecisions.T0), int.MaxValue, Timeout.InfiniteTimeSpan);

    /// <summary>Opens the log with its query index copying rows after every <paramref name="everyRows"/> and at least
    /// every <paramref name="interval"/>.</summary>
    public SqliteDecisionLog OpenIndexing(int everyRows, TimeSpan interval) =>
        new(DatabasePath, new FixedTime(TestDecisions.T0), everyRows, interval);

    /// <summary>A raw connection, as an operator (or an attacker) with the file would have.</summary>
    public SqliteConnection Raw() => Connect(DatabasePath, SqliteOpenMode.ReadWriteCreate);

    public void Exec(string sql)
    {
        using var connection = Raw();
        Run(connection, sql);
    }

    /// <summary>Removes the append-only triggers first, as someone editing the file by hand would.</summary>
    public void Tamper(string sql) =>
        Exec("DROP TRIGGER decision_log_no_update; DROP TRIGGER decision_log_no_delete; " + sql);

    public T Scalar<T>(string sql)
    {
        using var connection = Raw();
        return Scalar<T>(connection, sql);
    }

    /// <summary>A statement on the log's existing query index file (<see cref="SqliteQueryIndex"/>).</summary>
    public void IndexExec(string sql)
    {
        using var connection = Connect(SqliteQueryIndex.PathFor(DatabasePath), SqliteOpenMode.ReadWrite);
        Run(connection, sql);
    }

    /// <summary>A query on the log's query index file; throws while the file does not exist (it is not created here).</summary>
    public T IndexScalar<T>(string sql)
    {
        using var connection = Connect(SqliteQueryIndex.PathFor(DatabasePath), SqliteOpenMode.ReadOnly);
        return Scalar<T>(connection, sql);
    }

    private static SqliteConnection Connect(string path, SqliteOpenMode mode)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static void Run(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)command.ExecuteScalar()!;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind does not change any result.
        }
    }
}

internal static class TestWait
{
    /// <summary>Polls <paramref name="condition"/> every 5 ms; fails the test when it is not met within 30 s.</summary>
    public static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("condition not reached in 30 s");
            await Task.Delay(5);
        }
    }
}

internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

internal static class DecisionLogExtensions
{
    public static async Task AppendAllAsync(this IDecisionLog log, IEnumerable<Decision> decisions, AuditContext? context = null)
    {
        foreach (var decision in decisions) await log.AppendAsync(decision, context ?? new AuditContext());
    }

    public static ImmutableArray<Decision> Range(int from, int count) =>
        [.. Enumerable.Range(from, count).Select(n => TestDecisions.Make(n))];
}
