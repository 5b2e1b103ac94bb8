using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using System.Text;
using DeployGate.Audit;
using DeployGate.Audit.Jobs;
using DeployGate.Engine;
using DeployGate.GitHub;
using DeployGate.GitHub.Webhooks;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Webhooks;

/// <summary>Reviews due <c>deployment_protection_rule</c> jobs (SPEC §6). Per job: validate the callback URL
/// (before any token leaves the process), mint an installation token, read the run, read the policy (default
/// branch, fresh), decide <c>deploy</c> for the payload's environment, make the decision durable in the audit
/// log, then approve, reject, or post a status comment and wait for the window. Retryable GitHub failures are
/// rescheduled in the job (restarts keep the schedule); persisting ones end in a rejection carrying the code.
/// Driven by <see cref="ReviewWorkerService"/> (standalone) and the Functions timer (<c>POST /review-jobs</c>).</summary>
internal sealed partial class ReviewWorker(
    IReviewJobStore jobs,
    GitHubAppClient github,
    IPolicySource policies,
    IDecisionLog log,
    IssuerTrust trust,
    GateConfiguration config,
    ReviewWorkerOptions options,
    TimeProvider time,
    ILogger<ReviewWorker> logger)
{
    public const string Channel = "webhook";

    private readonly string _owner = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
    private readonly Uri _apiBase = new(config.GitHub.ApiUrl.TrimEnd('/') + "/");

    /// <summary>Claims and processes due jobs until none is due or <see cref="ReviewWorkerOptions.MaxJobsPerRun"/>
    /// were processed. Returns how many were processed.</summary>
    public async Task<int> RunDueAsync(CancellationToken ct)
    {
        var total = 0;
        while (total < options.MaxJobsPerRun)
        {
            var claimed = await jobs.ClaimDueAsync(time.GetUtcNow(), options.LeaseFor, _owner, options.BatchSize, ct);
            if (claimed.Count == 0) break;
            foreach (var job in claimed)
            {
                await ProcessSafelyAsync(job, ct);
                total++;
            }
        }
        return total;
    }

    private async Task ProcessSafelyAsync(ReviewJob job, CancellationToken ct)
    {
        try
        {
            await ProcessAsync(job, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;   // the lease expires and another run takes the job over
        }
        catch (Exception ex)
        {
            // Store down, or a bug: keep the job, retry later; never approve on an error.
            Log.JobFailed(logger, job.DeliveryId, ex);
            try
            {
                await SaveAsync(Retry(job, time.GetUtcNow(), $"internal error: {ex.GetType().Name}", null), ct);
            }
            catch (Exception again) when (again is not OperationCanceledException)
            {
                Log.JobFailed(logger, job.DeliveryId, again);
            }
        }
    }

    private async Task ProcessAsync(ReviewJob job, CancellationToken ct)
    {
        var now = time.GetUtcNow();                      // the only clock read for this job's decision
        var ev = ProtectionRuleEvent.TryParse(Encoding.UTF8.GetBytes(job.Payload), out var problem);
        if (ev is null)
        {
            await SaveAsync(Done(job, now, "failed", WebhookCodes.PayloadInvalid, problem), ct);
            return;
        }
        var audit = new AuditContext(Channel, job.DeliveryId);

        // Fail closed before any token exists: a callback URL on another host never receives one.
        if (!CallbackUrl.TryParse(ev.CallbackUrl, _apiBase, ev.Repository, out var target, out var why))
        {
            var rejected = ErrorDecision(ev, BaseClaims(ev, CallbackUrl.LooseRunId(ev.CallbackUrl)), now, null, WebhookCodes.CallbackUrlMismatch, why);
            await log.AppendAsync(rejected, audit, ct);
            Log.Decided(logger, job.DeliveryId, rejected.DecisionId, "reject-unsent", ev.Repository, ev.Environment, WebhookCodes.CallbackUrlMismatch);
            await SaveAsync(Done(job, now, "rejected-unsent", WebhookCodes.CallbackUrlMismatch, why) with { DecisionId = rejected.DecisionId }, ct);
            return;
        }

        // A review decided earlier whose delivery failed: send it again (a stale approval is re-decided instead).
        if (job.PendingState is { } pending && job.PendingComment is { } pendingComment &&
            !(pending == "approved" && now - (job.DecidedAt ?? now) > options.RedecideAfter))
        {
            await DeliverAsync(job, ev, target!, pending, pendingComment, now, ct);
            return;
        }

        var runId = target!.RunId.ToString(CultureInfo.InvariantCulture);
        if (trust.AllowedOwners is { } owners && !owners.Contains(target.Owner))
        {
            await DecideErrorAndRejectAsync(job, ev, target, BaseClaims(ev, runId), now, null, TokenCodes.OwnerNotAllowed,
                $"repository owner `{target.Owner}` is not served by this gate (`DeployGate:AllowedOwners`)", audit, ct);
            return;
        }

        var token = await github.GetInstallationTokenAsync(ev.InstallationId, ct);
        if (!token.Ok)
        {
            if (token.Transient) await RetryOrGiveUpAsync(job, ev, target, BaseClaims(ev, runId), now, token.Code!, token.Message!, token.RetryAfter, audit, ct);
            else
            {
                // Without a token nothing can be posted: record the deny, end the job.
                var d = ErrorDecision(ev, BaseClaims(ev, runId), now, null, token.Code!, token.Message!);
                await log.AppendAsync(d, audit, ct);
                Log.Decided(logger, job.DeliveryId, d.DecisionId, "reject-unsent", ev.Repository, ev.Environment, token.Code!);
                await SaveAsync(Done(job, now, "failed", token.Code!, token.Message) with { DecisionId = d.DecisionId }, ct);
            }
            return;
        }

        var run = await github.GetWorkflowRunAsync(target.Owner, target.Repo, target.RunId, token.Value!, ct);
        if (!run.Ok)
        {
            if (run.Status == HttpStatusCode.Unauthorized) github.ForgetInstallationToken(ev.InstallationId);
            if (run.Transient || run.Status == HttpStatusCode.Unauthorized)
                await RetryOrGiveUpAsync(job, ev, target, BaseClaims(ev, runId), now, run.Code!, run.Message!, run.RetryAfter, audit, ct);
            else
                await DecideErrorAndRejectAsync(job, ev, target, BaseClaims(ev, runId), now, null, run.Code!, run.Message!, audit, ct);
            return;
        }

        var claims = Claims(ev, target, run.Value!);
        var lookup = await policies.GetAsync(ev.Repository, now, revalidate: true, ct);
        if (lookup.Unavailable)
        {
            await RetryOrGiveUpAsync(job, ev, target, claims, now, lookup.Code!, lookup.Message!, null, audit, ct, lookup.Ref);
            return;
        }

        // A protection rule reviews the whole job: GitHub names no target (the target check is not applicable).
        var request = new DecisionRequest(GateAction.Deploy, ev.Environment) { WholeJob = true };
        var decision = lookup.Policy is { } policy
            ? Evaluator.Evaluate(policy, request, claims, now, DecisionIdSource.New(now))
            : Evaluator.Error(request, claims, now, DecisionIdSource.New(now), lookup.Ref, lookup.Code!, lookup.Message!);
        await log.AppendAsync(decision, audit, ct);      // durable before anything leaves the process

        if (decision.Verdict == Verdict.Allow)
        {
            Log.Decided(logger, job.DeliveryId, decision.DecisionId, "approve", ev.Repository, ev.Environment, "-");
            await DeliverAsync(Decided(job, decision, "approved", ReviewComment.Approved(decision), now), ev, target, "approved", ReviewComment.Approved(decision), now, ct);
            return;
        }

        if (decision.NextAllowedAt is { } next && lookup.Policy is { } p &&
            p.TryGetEnvironment(ev.Environment, out var env) && env.WaitForWindow is { } wait &&
            next - now <= wait && next - job.ReceivedAt <= options.MaxWait)
        {
            var first = decision.Failures.First().Code ?? "-";
            Log.Decided(logger, job.DeliveryId, decision.DecisionId, "wait", ev.Repository, ev.Environment, first);
            await WaitAsync(job, ev, target, decision, next, token.Value!, now, ct);
            return;
        }

        var code = decision.Failures.FirstOrDefault()?.Code ?? "-";
        Log.Decided(logger, job.DeliveryId, decision.DecisionId, "reject", ev.Repository, ev.Environment, code);
        var comment = ReviewComment.Rejected(decision);
        await DeliverAsync(Decided(job, decision, "rejected", comment, now), ev, target, "rejected", comment, now, ct);
    }

    /// <summary>Only window/freeze fail and the environment waits: one status comment, then re-decide at <paramref name="next"/>.</summary>
    private async Task WaitAsync(ReviewJob job, ProtectionRuleEvent ev, CallbackTarget target, Decision decision, DateTimeOffset next, string token, DateTimeOffset now, CancellationToken ct)
    {
        var waiting = job with
        {
            DueAt = next, Attempts = 0, DecisionId = decision.DecisionId, Code = decision.Failures.First().Code,
            PendingState = null, PendingComment = null, DecidedAt = null, LastError = null,
        };
        if (job.StatusPosted)
        {
            await SaveAsync(waiting, ct);
            return;
        }
        var posted = await github.ReviewDeploymentAsync(target.Owner, target.Repo, target.RunId, ev.Environment, null, ReviewComment.Waiting(decision, next), token, ct);
        if (posted.Ok)
        {
            await SaveAsync(waiting with { StatusPosted = true }, ct);
            return;
        }
        if (posted.Status == HttpStatusCode.Unauthorized) github.ForgetInstallationToken(ev.InstallationId);
        if (posted.Transient || posted.Status == HttpStatusCode.Unauthorized)
        {
            // The status comment is informative: retry the whole job (re-deciding) after a backoff.
            await SaveAsync(Retry(job, now, posted.Message, posted.RetryAfter) with { DecisionId = decision.DecisionId }, ct);
            return;
        }
        // GitHub refuses status comments (e.g. more than 10): wait without one.
        Log.StatusRefused(logger, job.DeliveryId, posted.Code!, posted.Message!);
        await SaveAsync(waiting with { StatusPosted = true, LastError = posted.Message }, ct);
    }

    /// <summary>Posts <paramref name="state"/> (<c>approved</c> | <c>rejected</c>) with <paramref name="comment"/>.
    /// <paramref name="job"/> already carries the pending review, so a retry re-sends exactly it.</summary>
    private async Task DeliverAsync(ReviewJob job, ProtectionRuleEvent ev, CallbackTarget target, string state, string comment, DateTimeOffset now, CancellationToken ct, bool final = false)
    {
        var token = await github.GetInstallationTokenAsync(ev.InstallationId, ct);
        GitHubResult<string> result;
        if (!token.Ok) result = GitHubResult.Fail<string>(token.Code!, token.Message!, token.Status) with { RetryAfter = token.RetryAfter };
        else result = await github.ReviewDeploymentAsync(target.Owner, target.Repo, target.RunId, ev.Environment, state, comment, token.Value!, ct);

        if (result.Ok)
        {
            Log.Delivered(logger, job.DeliveryId, state, target.RunId);
            await SaveAsync(Done(job, now, state, job.Code, null), ct);
            return;
        }
        if (result.Status == HttpStatusCode.Unauthorized) github.ForgetInstallationToken(ev.InstallationId);
        var retryable = result.Transient || result.Status == HttpStatusCode.Unauthorized;
        if (retryable && !final && job.Attempts + 1 < options.MaxAttempts)
        {
            Log.Retrying(logger, job.DeliveryId, result.Code!, result.Message!);
            await SaveAsync(Retry(job, now, $"{result.Code}: {result.Message}", result.RetryAfter), ct);
            return;
        }
        var code = retryable ? WebhookCodes.GaveUp : result.Code!;
        Log.DeliveryFailed(logger, job.DeliveryId, code, result.Message!);
        await SaveAsync(Done(job, now, "failed", code, $"{result.Code}: {result.Message}"), ct);
    }

    private async Task RetryOrGiveUpAsync(ReviewJob job, ProtectionRuleEvent ev, CallbackTarget target, WorkloadClaims claims, DateTimeOffset now,
        string code, string message, TimeSpan? retryAfter, AuditContext audit, CancellationToken ct, PolicyRef? policy = null)
    {
        if (job.Attempts + 1 < options.MaxAttempts)
        {
            Log.Retrying(logger, job.DeliveryId, code, message);
            await SaveAsync(Retry(job, now, $"{code}: {message}", retryAfter), ct);
            return;
        }
        await DecideErrorAndRejectAsync(job, ev, target, claims, now, policy, WebhookCodes.GaveUp,
            $"gave up after {job.Attempts + 1} attempts; last error {code}: {message}", audit, ct, final: true);
    }

    /// <summary>A deny that records an error (policy missing, run not found, owner not served, gave up), then rejected.</summary>
    private async Task DecideErrorAndRejectAsync(ReviewJob job, ProtectionRuleEvent ev, CallbackTarget target, WorkloadClaims claims, DateTimeOffset now,
        PolicyRef? policy, string code, string message, AuditContext audit, CancellationToken ct, bool final = false)
    {
        var decision = ErrorDecision(ev, claims, now, policy, code, message);
        await log.AppendAsync(decision, audit, ct);
        Log.Decided(logger, job.DeliveryId, decision.DecisionId, "reject", ev.Repository, ev.Environment, code);
        var comment = ReviewComment.Rejected(decision);
        await DeliverAsync(Decided(job, decision, "rejected", comment, now), ev, target, "rejected", comment, now, ct, final);
    }

    private Task SaveAsync(ReviewJob job, CancellationToken ct) => SaveCoreAsync(job, ct);

    private async Task SaveCoreAsync(ReviewJob job, CancellationToken ct)
    {
        if (!await jobs.SaveAsync(job, _owner, ct)) Log.LeaseLost(logger, job.DeliveryId);
    }

    private ReviewJob Retry(ReviewJob job, DateTimeOffset now, string? error, TimeSpan? retryAfter)
    {
        var attempts = job.Attempts + 1;
        TimeSpan delay;
        if (retryAfter is { } asked)
        {
            delay = asked < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : asked > options.MaxRetryAfter ? options.MaxRetryAfter : asked;
        }
        else
        {
            var factor = Math.Pow(2, Math.Min(attempts - 1, 20));
            var backoff = TimeSpan.FromTicks((long)Math.Min(options.BaseDelay.Ticks * factor, options.MaxDelay.Ticks));
            delay = backoff;
        }
        return job with { Attempts = attempts, DueAt = now + delay, LastError = error };
    }

    private static ReviewJob Decided(ReviewJob job, Decision decision, string state, string comment, DateTimeOffset now) => job with
    {
        PendingState = state, PendingComment = comment, DecidedAt = now, DecisionId = decision.DecisionId,
        Code = decision.Failures.FirstOrDefault()?.Code,
    };

    private static ReviewJob Done(ReviewJob job, DateTimeOffset now, string outcome, string? code, string? error) => job with
    {
        State = ReviewJobState.Done, Outcome = outcome, Code = code, LastError = error, CompletedAt = now,
        PendingState = null, PendingComment = null,
    };

    private static Decision ErrorDecision(ProtectionRuleEvent ev, WorkloadClaims claims, DateTimeOffset now, PolicyRef? policy, string code, string message) =>
        Evaluator.Error(new DecisionRequest(GateAction.Deploy, ev.Environment) { WholeJob = true }, claims, now, DecisionIdSource.New(now),
            policy ?? new PolicyRef($"github:{ev.Repository}/{GitHubPolicySource.PolicyPath}", null), code, message);

    /// <summary>What the payload alone says (for decisions made before the run could be read).</summary>
    private static WorkloadClaims BaseClaims(ProtectionRuleEvent ev, string? runId)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        void Put(string k, string? v)
        {
            if (v is not null) all[k] = v;
        }
        Put("repository", ev.Repository);
        Put("repository_owner", ev.RepositoryOwner ?? ev.Repository.Split('/')[0]);
        Put("ref", GitRefs.Normalize(ev.Ref));
        Put("sha", ev.Sha);
        Put("run_id", runId);
        Put("actor", ev.SenderLogin);
        Put("environment", ev.Environment);
        Put("event_name", ev.Event);
        return WorkloadClaims.FromDictionary(all);
    }

    /// <summary>Claims built from the payload and the run, shaped like the OIDC claims the policy's identities match
    /// (<c>job_workflow_ref</c> = <c>{o}/{r}/{run.path}@{ref}</c>: the run's top-level workflow; a reusable workflow's own
    /// ref is not known to the protection rule).</summary>
    private static WorkloadClaims Claims(ProtectionRuleEvent ev, CallbackTarget target, WorkflowRun run)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        void Put(string k, string? v)
        {
            if (!string.IsNullOrEmpty(v)) all[k] = v;
        }
        var gitRef = GitRefs.Normalize(ev.Ref ?? run.HeadBranch);
        var path = run.Path is { } p ? (p.IndexOf('@', StringComparison.Ordinal) is var at and >= 0 ? p[..at] : p) : null;
        Put("repository", ev.Repository);
        Put("repository_owner", ev.RepositoryOwner ?? target.Owner);
        Put("ref", gitRef);
        Put("sha", ev.Sha ?? run.HeadSha);
        Put("run_id", target.RunId.ToString(CultureInfo.InvariantCulture));
        Put("run_attempt", run.RunAttempt);
        Put("actor", run.Actor ?? ev.SenderLogin);
        Put("environment", ev.Environment);
        Put("event_name", run.Event ?? ev.Event);
        if (path is not null && gitRef is not null)
        {
            Put("job_workflow_ref", $"{ev.Repository}/{path}@{gitRef}");
            Put("workflow_ref", $"{ev.Repository}/{path}@{gitRef}");
        }
        return WorkloadClaims.FromDictionary(all.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "review {DeliveryId}: decision {DecisionId} {Outcome} {Repository} → {Environment} (first failure {Code})")]
        public static partial void Decided(ILogger logger, string deliveryId, string decisionId, string outcome, string repository, string environment, string code);

        [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "review {DeliveryId}: {State} delivered for run {RunId}")]
        public static partial void Delivered(ILogger logger, string deliveryId, string state, long runId);

        [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "review {DeliveryId}: retrying after {Code}: {Reason}")]
        public static partial void Retrying(ILogger logger, string deliveryId, string code, string reason);

        [LoggerMessage(EventId = 4012, Level = LogLevel.Error, Message = "review {DeliveryId}: could not deliver the review ({Code}): {Reason}")]
        public static partial void DeliveryFailed(ILogger logger, string deliveryId, string code, string reason);

        [LoggerMessage(EventId = 4013, Level = LogLevel.Warning, Message = "review {DeliveryId}: status comment refused ({Code}): {Reason}")]
        public static partial void StatusRefused(ILogger logger, string deliveryId, string code, string reason);

        [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "review {DeliveryId}: lease lost; another worker owns the job")]
        public static partial void LeaseLost(ILogger logger, string deliveryId);

        [LoggerMessage(EventId = 6901, Level = LogLevel.Error, Message = "review {DeliveryId}: job failed; will retry")]
        public static partial void JobFailed(ILogger logger, string deliveryId, Exception exception);
    }
}
