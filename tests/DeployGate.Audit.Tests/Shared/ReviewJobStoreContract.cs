using DeployGate.Audit.Jobs;

namespace DeployGate.Audit.Tests.Shared;

/// <summary>The review job store contract (SPEC §6, §9), run against every store: a redelivery is a no-op, each due
/// job is leased to exactly one worker across instances, a dead worker's job is claimed again after its lease, and
/// only the lease holder may save.</summary>
public abstract class ReviewJobStoreContract : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);
    private IStoreFixture? _store;
    private readonly List<IReviewJobStore> _opened = [];

    protected IStoreFixture Store => _store ?? throw new InvalidOperationException("not initialised");

    protected abstract IStoreFixture CreateStore();

    public Task InitializeAsync()
    {
        _store = CreateStore();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var jobs in _opened)
        {
            if (jobs is IAsyncDisposable a) await a.DisposeAsync();
            else (jobs as IDisposable)?.Dispose();
        }
        if (_store is not null) await _store.DisposeAsync();
    }

    private IReviewJobStore Open()
    {
        var jobs = Store.OpenJobs();
        _opened.Add(jobs);
        return jobs;
    }

    private static ReviewJob Job(string id, int dueSecond = 0) => new()
    {
        DeliveryId = id,
        Payload = """{"action":"requested","environment":"production"}""",
        ReceivedAt = T0,
        DueAt = T0.AddSeconds(dueSecond),
    };

    [StoreFact]
    public async Task TryAdd_Redelivery_IsANoOp()
    {
        var jobs = Open();

        Assert.True(await jobs.TryAddAsync(Job("d1")));
        Assert.False(await jobs.TryAddAsync(Job("d1") with { Payload = "{}" }));

        var stored = await jobs.GetAsync("d1");
        Assert.NotNull(stored);
        Assert.Equal(Job("d1").Payload, stored.Payload);
        Assert.Equal(ReviewJobState.Pending, stored.State);
        Assert.Null(await jobs.GetAsync("missing"));
    }

    [StoreFact]
    public async Task Claim_OnlyDueJobs_OldestFirst_AndLeased()
    {
        var jobs = Open();
        await jobs.TryAddAsync(Job("later", 60));
        await jobs.TryAddAsync(Job("second", 5));
        await jobs.TryAddAsync(Job("first", 1));

        var claimed = await jobs.ClaimDueAsync(T0.AddSeconds(10), Lease, "worker-a", 10);

        Assert.Equal(["first", "second"], claimed.Select(j => j.DeliveryId));
        Assert.All(claimed, j => Assert.Equal("worker-a", j.LeaseOwner));
        Assert.All(claimed, j => Assert.Equal(T0.AddSeconds(10) + Lease, j.LeaseUntil));
        Assert.Empty(await jobs.ClaimDueAsync(T0.AddSeconds(11), Lease, "worker-b", 10));   // leased, and `later` not due
        Assert.Equal(T0.AddSeconds(1), await jobs.NextDueAsync());
    }

    [StoreFact]
    public async Task ConcurrentClaims_AcrossInstances_EachJobGoesToExactlyOneWorker()
    {
        var seed = Open();
        for (var i = 0; i < 60; i++) await seed.TryAddAsync(Job($"job-{i:D2}", i % 7));
        IReviewJobStore[] instances = [Open(), Open(), Open()];

        var claims = await Task.WhenAll(Enumerable.Range(0, 30).Select(w =>
            Task.Run(() => instances[w % 3].ClaimDueAsync(T0.AddMinutes(1), Lease, $"worker-{w}", 5))));

        var all = claims.SelectMany(c => c.Select(j => j.DeliveryId)).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());   // nobody got a job someone else holds
        Assert.Equal(60, all.Count);                         // 30 workers × 5 ≥ 60: every job was claimed
    }

    [StoreFact]
    public async Task DeadWorker_LeaseExpires_AnotherInstanceTakesOver_AndTheDeadOneCannotSave()
    {
        var a = Open();
        var b = Open();
        await a.TryAddAsync(Job("d2"));
        var taken = Assert.Single(await a.ClaimDueAsync(T0, Lease, "instance-a", 1));

        // instance-a "crashes"; before its lease ends nobody else may take the job, afterwards anyone may.
        Assert.Empty(await b.ClaimDueAsync(T0 + Lease - TimeSpan.FromSeconds(1), Lease, "instance-b", 1));
        var retaken = Assert.Single(await b.ClaimDueAsync(T0 + Lease, Lease, "instance-b", 1));
        Assert.Equal("instance-b", retaken.LeaseOwner);

        Assert.False(await a.SaveAsync(taken with { State = ReviewJobState.Done, Outcome = "approved" }, "instance-a"));
        Assert.True(await b.SaveAsync(retaken with { State = ReviewJobState.Done, Outcome = "rejected", Code = "DG2104", CompletedAt = T0 + Lease }, "instance-b"));

        var done = await a.GetAsync("d2");
        Assert.NotNull(done);
        Assert.Equal(ReviewJobState.Done, done.State);
        Assert.Equal("rejected", done.Outcome);
        Assert.Equal("DG2104", done.Code);
        Assert.Null(done.LeaseOwner);
        Assert.Empty(await a.ClaimDueAsync(T0.AddDays(1), Lease, "instance-a", 10));   // done jobs are never claimed
        Assert.Null(await a.NextDueAsync());
    }

    [StoreFact]
    public async Task Save_RoundTripsEveryWorkerField_AndReleasesTheLease()
    {
        var jobs = Open();
        await jobs.TryAddAsync(Job("d3"));
        var claimed = Assert.Single(await jobs.ClaimDueAsync(T0, Lease, "w", 1));
        var updated = claimed with
        {
            DueAt = T0.AddHours(3), Attempts = 2, StatusPosted = true, PendingState = "status", PendingComment = "waiting for `business-hours`",
            DecidedAt = T0.AddSeconds(1), DecisionId = "dec_9", LastError = "github 502", Code = "DG4001",
        };

        Assert.True(await jobs.SaveAsync(updated, "w"));

        var stored = await Open().GetAsync("d3");   // another instance sees it
        Assert.Equal(updated with { LeaseOwner = null, LeaseUntil = null }, stored);
    }
}

public sealed class SqliteReviewJobStoreContract : ReviewJobStoreContract
{
    protected override IStoreFixture CreateStore() => new SqliteStoreFixture();
}

[RequiresPostgres]
public sealed class PostgresReviewJobStoreContract : ReviewJobStoreContract
{
    protected override IStoreFixture CreateStore() => new PostgresStoreFixture();
}
