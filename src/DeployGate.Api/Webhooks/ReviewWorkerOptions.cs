namespace DeployGate.Api.Webhooks;

/// <summary>How the review worker paces itself. Defaults suit production; tests replace the singleton.</summary>
internal sealed class ReviewWorkerOptions
{
    /// <summary>Run the standalone background service (default true). Azure Functions also drives jobs through the
    /// timer function; both may run at once (leases keep a job to one worker).</summary>
    public bool Background { get; init; } = true;

    /// <summary>How often the background service looks for due jobs when not woken by a delivery. Default 1 s.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a claimed job belongs to this worker before another may take it over. Default 2 min.</summary>
    public TimeSpan LeaseFor { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Retryable failures (GitHub 5xx/429/secondary limits, network, policy source) before the job ends
    /// rejected with DG4012. Default 8 (about 20 min of backoff).</summary>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>First backoff, doubled per attempt up to <see cref="MaxDelay"/>. Default 10 s; max 10 min.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest <c>Retry-After</c> honoured as given; longer ones are capped. Default 1 h.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromHours(1);

    /// <summary>An approval not yet delivered (GitHub failed) is re-decided instead of re-sent once it is older
    /// than this, so an approval always reflects policy and time close to its delivery. Default 5 min.</summary>
    public TimeSpan RedecideAfter { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>GitHub fails a gated job after 30 days; DeployGate never waits for a window beyond that from receipt.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Jobs claimed per store round trip, and at most per run (one timer invocation). Defaults 10 and 50.</summary>
    public int BatchSize { get; init; } = 10;

    public int MaxJobsPerRun { get; init; } = 50;
}
