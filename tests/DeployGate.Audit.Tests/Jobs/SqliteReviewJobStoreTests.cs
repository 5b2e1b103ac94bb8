using DeployGate.Audit.Jobs;
using DeployGate.Audit.Jobs.Sqlite;
using DeployGate.Audit.Sqlite;

namespace DeployGate.Audit.Tests.Jobs;

/// <summary>Review jobs: dedupe by delivery id, leases (one worker per job), persistence across reopen,
/// and sharing the audit log's file.</summary>
public sealed class SqliteReviewJobStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("dg-jobs-").FullName;
    private string Db => Path.Combine(_dir, "audit.db");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static ReviewJob Job(string id, DateTimeOffset due) => new() { DeliveryId = id, Payload = "{}", ReceivedAt = T0, DueAt = due };

    [Fact]
    public async Task SameDeliveryTwice_IsStoredOnce()
    {
        var store = new SqliteReviewJobStore(Db);
        Assert.True(await store.TryAddAsync(Job("a", T0)));
        Assert.False(await store.TryAddAsync(Job("a", T0) with { Payload = "{\"other\":1}" }));
        Assert.Equal("{}", (await store.GetAsync("a"))!.Payload);
    }

    [Fact]
    public async Task Claim_TakesOnlyDueJobs_OnceEach_UntilTheLeaseExpires()
    {
        var store = new SqliteReviewJobStore(Db);
        await store.TryAddAsync(Job("due", T0));
        await store.TryAddAsync(Job("later", T0.AddMinutes(5)));

        var mine = await store.ClaimDueAsync(T0, TimeSpan.FromMinutes(2), "w1", 10);
        Assert.Equal(["due"], mine.Select(j => j.DeliveryId));
        Assert.Equal(("w1", T0.AddMinutes(2)), (mine[0].LeaseOwner, mine[0].LeaseUntil));
        Assert.Empty(await store.ClaimDueAsync(T0.AddSeconds(30), TimeSpan.FromMinutes(2), "w2", 10));   // leased

        // w1 died: after the lease, w2 takes it over, and w1's late save is refused.
        var taken = await store.ClaimDueAsync(T0.AddMinutes(2), TimeSpan.FromMinutes(2), "w2", 10);
        Assert.Equal(["due"], taken.Select(j => j.DeliveryId));
        Assert.False(await store.SaveAsync(mine[0] with { State = ReviewJobState.Done, Outcome = "approved" }, "w1"));
        Assert.True(await store.SaveAsync(taken[0] with { State = ReviewJobState.Done, Outcome = "rejected", Code = "DG2104" }, "w2"));
        var done = await store.GetAsync("due");
        Assert.Equal((ReviewJobState.Done, "rejected", "DG2104", null), (done!.State, done.Outcome, done.Code, done.LeaseOwner));
        Assert.DoesNotContain(await store.ClaimDueAsync(T0.AddHours(1), TimeSpan.FromMinutes(2), "w3", 10), j => j.DeliveryId == "due");   // done stays done
    }

    [Fact]
    public async Task ConcurrentClaims_NeverShareAJob()
    {
        var store = new SqliteReviewJobStore(Db);
        for (var i = 0; i < 40; i++) await store.TryAddAsync(Job($"j{i}", T0));
        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(w =>
            Task.Run(() => new SqliteReviewJobStore(Db).ClaimDueAsync(T0, TimeSpan.FromMinutes(2), $"w{w}", 10))));
        var all = claims.SelectMany(c => c.Select(j => j.DeliveryId)).ToList();
        Assert.Equal(all.Count, all.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(40, all.Count);
    }

    [Fact]
    public async Task RescheduledJob_SurvivesReopen_WithItsDueTimeAndPendingReview()
    {
        var store = new SqliteReviewJobStore(Db);
        await store.TryAddAsync(Job("r", T0));
        var job = (await store.ClaimDueAsync(T0, TimeSpan.FromMinutes(2), "w", 1))[0];
        await store.SaveAsync(job with
        {
            DueAt = T0.AddSeconds(120), Attempts = 1, PendingState = "approved", PendingComment = "ok", DecidedAt = T0, DecisionId = "dec_1", LastError = "DG4001: 429",
        }, "w");

        var reopened = new SqliteReviewJobStore(Db);
        Assert.Equal(T0.AddSeconds(120), await reopened.NextDueAsync());
        Assert.Empty(await reopened.ClaimDueAsync(T0.AddSeconds(119), TimeSpan.FromMinutes(2), "w", 1));
        var again = Assert.Single(await reopened.ClaimDueAsync(T0.AddSeconds(120), TimeSpan.FromMinutes(2), "w", 1));
        Assert.Equal((1, "approved", "ok", "dec_1", T0), (again.Attempts, again.PendingState, again.PendingComment, again.DecisionId, again.DecidedAt!.Value));
    }

    [Fact]
    public async Task SharesTheAuditLogFile_WithoutDisturbingTheChain()
    {
        await using var log = new SqliteDecisionLog(Db);
        var store = new SqliteReviewJobStore(log.DatabasePath);
        await store.TryAddAsync(Job("x", T0));
        Assert.True((await log.VerifyAsync()).Intact);
        Assert.NotNull(await store.GetAsync("x"));
    }
}
