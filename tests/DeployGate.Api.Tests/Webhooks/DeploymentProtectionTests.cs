using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using DeployGate.Audit.Jobs;
using DeployGate.GitHub;
using DeployGate.GitHub.Webhooks;

namespace DeployGate.Api.Tests.Webhooks;

/// <summary>The deployment protection rule end to end (SPEC §6): signed deliveries in, reviews out, against a fake
/// GitHub API on loopback. Time is a manual clock; the background worker is off unless a test is about it, so each
/// test drives due jobs itself. No assertion depends on elapsed wall-clock time.</summary>
public sealed class DeploymentProtectionTests : IAsyncLifetime
{
    private TestIssuer _issuer = null!;
    private FakeGitHubApi _github = null!;

    /// <summary>Monday 2026-11-23 17:30Z = 18:30 Berlin: after business hours; they reopen Tuesday 08:00Z.</summary>
    private static readonly DateTimeOffset AfterHours = new(2026, 11, 23, 17, 30, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset TuesdayOpening = new(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);

    public async Task InitializeAsync()
    {
        _issuer = await TestIssuer.StartAsync();
        _github = await FakeGitHubApi.StartAsync();
        _github.Files["main"] = WebhookPolicies.Web;
        _github.Files["feature/x"] = "version: 1\nenvironments: {}\n";    // never read: policy comes from the default branch
    }

    public async Task DisposeAsync()
    {
        await _github.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    private string Payload(string environment = "production", string? gitRef = "main", string? callback = null, Action<JsonObject>? change = null)
    {
        var payload = SamplePayloads.Requested(callback ?? _github.CallbackUrl(), environment, gitRef);
        change?.Invoke(payload);
        return payload.ToJsonString();
    }

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task Requested_InsideTheWindow_IsApproved_AndAudited()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (var response = await host.DeliverAsync(Payload(), "d-approve"))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.True((await JsonOf(response)).GetProperty("queued").GetBoolean());
        }
        Assert.Empty(_github.Calls);                                  // answered before any GitHub call

        Assert.Equal(1, await host.RunDueAsync());

        var review = Assert.Single(_github.Reviews);
        Assert.Equal($"/repos/acme/web/actions/runs/{FakeGitHubApi.RunId}/deployment_protection_rule", review.Path);
        Assert.Equal("Bearer " + FakeGitHubApi.InstallationToken, review.Authorization);
        Assert.Equal("production", review.Json["environment_name"]!.GetValue<string>());
        Assert.Equal("approved", review.Json["state"]!.GetValue<string>());
        var row = Assert.Single(await host.AuditAsync());
        Assert.Contains(row.DecisionId, review.Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(("allow", "webhook", "d-approve", "23625057533"), (row.Verdict, row.Channel, row.DeliveryId, row.RunId));
        var identity = row.Decision.GetProperty("identity");
        Assert.Equal("refs/heads/main", identity.GetProperty("ref").GetString());    // short `main` taken as a branch
        Assert.Equal("acme/web/.github/workflows/release.yml", identity.GetProperty("workflow").GetString());
        Assert.Equal("1", identity.GetProperty("run_attempt").GetString());
        Assert.Equal("alice", identity.GetProperty("actor").GetString());
        Assert.Equal(FakeGitHubApi.BlobSha(WebhookPolicies.Web), row.Decision.GetProperty("policy").GetProperty("revision").GetString());

        // Calls: app JWT only to mint; the installation token for everything else; policy from the default branch.
        Assert.All(_github.Calls.Where(c => c.Path.StartsWith("/app/", StringComparison.Ordinal)), c => Assert.Equal(3, c.Authorization["Bearer ".Length..].Split('.').Length));
        Assert.Contains(_github.Calls, c => c.Method == "GET" && c.Path == $"/repos/acme/web/actions/runs/{FakeGitHubApi.RunId}" && c.Authorization == "Bearer " + FakeGitHubApi.InstallationToken);
        Assert.Contains(_github.Calls, c => c.Path == "/app/installations/777/access_tokens");
        var job = await host.Jobs.GetAsync("d-approve");
        Assert.Equal((ReviewJobState.Done, "approved", row.DecisionId), (job!.State, job.Outcome, job.DecisionId));
        Assert.True((await host.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task EnvironmentThatApprovesTargets_IsApproved_TheTargetCheckIsNotApplicableForAWholeJob()
    {
        // GitHub names no target; the job's deploy step is checked for its target when it asks the gate.
        _github.Files["main"] = WebhookPolicies.Web.Replace("refs: [refs/heads/main], windows:", "refs: [refs/heads/main], targets: [\"aks/prod-*\"], windows:", StringComparison.Ordinal);
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (var response = await host.DeliverAsync(Payload(), "d-targets")) Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(1, await host.RunDueAsync());

        Assert.Equal("approved", Assert.Single(_github.Reviews).Json["state"]!.GetValue<string>());
        var target = Assert.Single(await host.AuditAsync()).Decision.GetProperty("checks").EnumerateArray()
            .Single(c => c.GetProperty("check").GetString() == "target");
        Assert.Equal("not_applicable", target.GetProperty("result").GetString());
    }

    [Fact]
    public async Task FeatureBranch_IsRejected_CommentListsFailedChecksWithCodes_AndDecisionId()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (var response = await host.DeliverAsync(Payload(gitRef: "feature/x"), "d-reject")) Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await host.RunDueAsync();

        var review = Assert.Single(_github.Reviews);
        Assert.Equal("rejected", review.Json["state"]!.GetValue<string>());
        var comment = review.Json["comment"]!.GetValue<string>();
        Assert.True(comment.Length <= 1024, $"{comment.Length} chars");
        var row = Assert.Single(await host.AuditAsync());
        Assert.Equal("deny", row.Verdict);
        Assert.Contains(row.DecisionId, comment, StringComparison.Ordinal);
        Assert.Equal(["DG2011", "DG2021"], row.FailedCodes.Order(StringComparer.Ordinal));
        Assert.Contains("DG2011", comment, StringComparison.Ordinal);
        Assert.Contains("DG2021", comment, StringComparison.Ordinal);
        Assert.Contains("rejected", comment, StringComparison.Ordinal);
        Assert.DoesNotContain(_github.Calls, c => c.Path.Contains("/contents/", StringComparison.Ordinal) && c.Path.Contains("feature", StringComparison.Ordinal));
        Assert.Equal((ReviewJobState.Done, "rejected", "DG2011"), ((await host.Jobs.GetAsync("d-reject"))!.State, (await host.Jobs.GetAsync("d-reject"))!.Outcome, (await host.Jobs.GetAsync("d-reject"))!.Code));
    }

    [Fact]
    public async Task OutsideTheWindow_WithoutWaitForWindow_IsRejected_NamingTheNextOpening()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github, AfterHours);
        using (await host.DeliverAsync(Payload(), "d-closed")) { }
        await host.RunDueAsync();
        var review = Assert.Single(_github.Reviews);
        Assert.Equal("rejected", review.Json["state"]!.GetValue<string>());
        Assert.Contains("DG2104", review.Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("2026-11-24T08:00:00Z", review.Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OutsideTheWindow_WithinWaitForWindow_PostsStatusOnce_ThenApprovesAtTheOpening_WithFreshPolicy()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github, AfterHours);
        using (await host.DeliverAsync(Payload(environment: "staging"), "d-wait")) { }
        Assert.Equal(1, await host.RunDueAsync());

        var status = Assert.Single(_github.Reviews);
        Assert.Null(status.Json["state"]);                                   // a status comment, not a decision
        Assert.Equal("staging", status.Json["environment_name"]!.GetValue<string>());
        Assert.Contains("2026-11-24T08:00:00Z", status.Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
        var waiting = await host.Jobs.GetAsync("d-wait");
        Assert.Equal((ReviewJobState.Pending, TuesdayOpening, true), (waiting!.State, waiting.DueAt, waiting.StatusPosted));

        // Not due yet: nothing happens, however often the worker runs.
        host.Clock.Advance(TuesdayOpening - AfterHours - TimeSpan.FromSeconds(1));
        Assert.Equal(0, await host.RunDueAsync());
        Assert.Single(_github.Reviews);

        // The policy changes on the default branch while waiting; the re-decision must read the new one.
        var edited = WebhookPolicies.Web.Replace("wait_for_window: 72h", "wait_for_window: 48h", StringComparison.Ordinal);
        _github.Files["main"] = edited;
        host.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await host.RunDueAsync());

        var reviews = _github.Reviews.ToList();
        Assert.Equal(2, reviews.Count);
        Assert.Equal("approved", reviews[1].Json["state"]!.GetValue<string>());
        var rows = await host.AuditAsync();
        Assert.Equal(["deny", "allow"], rows.Select(r => r.Verdict));
        Assert.All(rows, r => Assert.Equal(("webhook", "d-wait", "23625057533"), (r.Channel, r.DeliveryId, r.RunId)));
        Assert.Equal("2026-11-24T08:00:00Z", rows[0].Decision.GetProperty("next_allowed_at").GetString());
        Assert.Equal(FakeGitHubApi.BlobSha(edited), rows[1].Decision.GetProperty("policy").GetProperty("revision").GetString());
        Assert.Contains(rows[1].DecisionId, reviews[1].Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DuplicateDelivery_IsOneJob_AndOneCallback()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        var body = Payload();
        using (var first = await host.DeliverAsync(body, "d-dup")) Assert.True((await JsonOf(first)).GetProperty("queued").GetBoolean());
        using (var again = await host.DeliverAsync(body, "d-dup"))
        {
            Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
            Assert.False((await JsonOf(again)).GetProperty("queued").GetBoolean());
        }
        Assert.Equal(1, await host.RunDueAsync());
        using (await host.DeliverAsync(body, "d-dup")) { }                  // a redelivery after the review
        Assert.Equal(0, await host.RunDueAsync());
        Assert.Single(_github.Reviews);
        Assert.Single(await host.AuditAsync());
    }

    [Theory]
    [InlineData("sha256=0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("sha1=757107ea0eb2509fc211221cce984b8a37570b6d")]
    [InlineData("")]
    [InlineData(null)]
    public async Task BadOrMissingSignature_Is401_AndNothingIsStored(string? signature)
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using var response = await host.DeliverAsync(Payload(), "d-forged", signature: signature, sign: signature is not null);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(WebhookCodes.BadSignature, (await JsonOf(response)).GetProperty("code").GetString());
        Assert.Null(await host.Jobs.GetAsync("d-forged"));
        Assert.Equal(0, await host.RunDueAsync());
        Assert.Empty(_github.Calls);
        Assert.Empty(await host.AuditAsync());
    }

    [Fact]
    public async Task SignatureOverADifferentBody_Is401()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        var signed = WebhookSignature.Compute(System.Text.Encoding.UTF8.GetBytes(WebhookHost.Secret), System.Text.Encoding.UTF8.GetBytes(Payload()));
        using var response = await host.DeliverAsync(Payload(environment: "staging"), "d-swapped", signature: signed);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task NoSecretConfigured_WebhookIsDisabled_404_DG4008()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github, secret: null);
        using var response = await host.DeliverAsync(Payload(), "d-nosecret");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(WebhookCodes.Disabled, (await JsonOf(response)).GetProperty("code").GetString());
        var timer = await host.TimerAsync();
        Assert.Contains("disabled", timer["Logs"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(_github.Calls);
    }

    [Fact]
    public async Task Ping_Is200_OtherEventsAndActions_Are204_AndStoreNothing()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (var ping = await host.DeliverAsync("""{"zen":"Keep it logically awesome.","hook_id":1}""", "d-ping", "ping")) Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
        using (var push = await host.DeliverAsync("""{"ref":"refs/heads/main","repository":{"full_name":"acme/web","default_branch":"main"}}""", "d-push", "push")) Assert.Equal(HttpStatusCode.NoContent, push.StatusCode);
        using (var issue = await host.DeliverAsync("""{"action":"opened","issue":{"number":1}}""", "d-issue", "issues")) Assert.Equal(HttpStatusCode.NoContent, issue.StatusCode);
        using (var other = await host.DeliverAsync(Payload(change: p => p["action"] = "completed"), "d-other")) Assert.Equal(HttpStatusCode.NoContent, other.StatusCode);
        Assert.Equal(0, await host.RunDueAsync());
        Assert.Empty(_github.Calls);
    }

    [Fact]
    public async Task SignedButUnusablePayload_Is400_DG4009()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using var response = await host.DeliverAsync(Payload(change: p => p.Remove("installation")), "d-noinst");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await JsonOf(response);
        Assert.Equal(WebhookCodes.PayloadInvalid, problem.GetProperty("code").GetString());
        Assert.Contains("installation.id", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BodyOverOneMiB_Is413()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        var (status, answer) = await host.DeliverHeadersOnlyAsync(Payload(change: p => p["padding"] = new string('x', 1024 * 1024)), "d-huge");
        Assert.True(status == (int)HttpStatusCode.RequestEntityTooLarge, answer);
        Assert.Contains(ServerCodes.BodyTooLarge, answer, StringComparison.Ordinal);
        Assert.Null(await host.Jobs.GetAsync("d-huge"));
    }

    [Fact]
    public async Task DeploymentNull_UnknownFields_AreFine()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        var body = Payload(change: p =>
        {
            p["deployment"] = null;
            p["some_future_field"] = new JsonObject { ["nested"] = new JsonArray(1, 2) };
        });
        using (var response = await host.DeliverAsync(body, "d-nodeploy")) Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await host.RunDueAsync();
        Assert.Equal("approved", Assert.Single(_github.Reviews).Json["state"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("https://evil.example/repos/acme/web/actions/runs/5/deployment_protection_rule", "5")]
    [InlineData("HOST/repos/other/web/actions/runs/5/deployment_protection_rule", "5")]        // right host, another repository
    [InlineData("HOST/repos/acme/web/actions/runs/5/approvals", null)]                        // not a review URL: no run id either
    [InlineData("http://127.0.0.1:1/repos/acme/web/actions/runs/5/deployment_protection_rule", "5")] // right host, another port
    public async Task CallbackUrlNotOnTheConfiguredApi_IsRejectedWithoutSendingAnyToken(string callback, string? runId)
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (var response = await host.DeliverAsync(Payload(callback: callback.Replace("HOST", _github.Url, StringComparison.Ordinal)), "d-evil"))
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(1, await host.RunDueAsync());

        Assert.DoesNotContain(_github.Calls, c => c.CarriesToken);     // no token minted, none sent anywhere
        Assert.Empty(_github.Calls);
        var row = Assert.Single(await host.AuditAsync());
        Assert.Equal(("deny", "webhook", "d-evil", runId), (row.Verdict, row.Channel, row.DeliveryId, row.RunId));
        Assert.Equal([WebhookCodes.CallbackUrlMismatch], row.FailedCodes);
        var job = await host.Jobs.GetAsync("d-evil");
        Assert.Equal((ReviewJobState.Done, "rejected-unsent", WebhookCodes.CallbackUrlMismatch), (job!.State, job.Outcome, job.Code));
    }

    [Fact]
    public async Task GitHub500OnTheCallback_IsRetriedAfterBackoff_SameReview_OneDecision()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        _github.CallbackFailures.Enqueue(new Scripted(500));
        using (await host.DeliverAsync(Payload(), "d-500")) { }
        await host.RunDueAsync();
        var job = await host.Jobs.GetAsync("d-500");
        Assert.Equal((ReviewJobState.Pending, 1, "approved"), (job!.State, job.Attempts, job.PendingState));
        Assert.Equal(GateHost.Start + TimeSpan.FromSeconds(10), job.DueAt);            // first backoff step

        Assert.Equal(0, await host.RunDueAsync());                                     // not due yet
        host.Clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, await host.RunDueAsync());

        var reviews = _github.Reviews.ToList();
        Assert.Equal(2, reviews.Count);
        Assert.Equal(reviews[0].Body, reviews[1].Body);                               // the same review, re-sent
        Assert.Equal("approved", reviews[1].Json["state"]!.GetValue<string>());
        Assert.Single(await host.AuditAsync());
        Assert.Equal("approved", (await host.Jobs.GetAsync("d-500"))!.Outcome);
    }

    [Fact]
    public async Task GitHub429WithRetryAfter_IsHonoured_AndPersisted()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        _github.RunFailures.Enqueue(new Scripted(429, ("Retry-After", "120")));
        using (await host.DeliverAsync(Payload(), "d-429")) { }
        await host.RunDueAsync();
        Assert.Empty(_github.Reviews);
        var job = await host.Jobs.GetAsync("d-429");
        Assert.Equal(GateHost.Start + TimeSpan.FromSeconds(120), job!.DueAt);
        Assert.Contains(GitHubCodes.Unavailable, job.LastError, StringComparison.Ordinal);
        Assert.Empty(await host.AuditAsync());                                       // nothing decided yet

        var calls = _github.Calls.Count;
        host.Clock.Advance(TimeSpan.FromSeconds(119));
        Assert.Equal(0, await host.RunDueAsync());
        Assert.Equal(calls, _github.Calls.Count);                                    // GitHub left alone until then

        host.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await host.RunDueAsync());
        Assert.Equal("approved", Assert.Single(_github.Reviews).Json["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task SecondaryRateLimit403WithRetryAfter_IsRetried()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        _github.RunFailures.Enqueue(new Scripted(403, ("retry-after", "60")));
        using (await host.DeliverAsync(Payload(), "d-403")) { }
        await host.RunDueAsync();
        Assert.Equal(GateHost.Start + TimeSpan.FromSeconds(60), (await host.Jobs.GetAsync("d-403"))!.DueAt);
        host.Clock.Advance(TimeSpan.FromSeconds(60));
        await host.RunDueAsync();
        Assert.Equal("approved", Assert.Single(_github.Reviews).Json["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task GitHubKeepsFailing_EndsRejected_DG4012_WithTheLastError()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github, maxAttempts: 3);
        _github.RunAlwaysFails = true;
        using (await host.DeliverAsync(Payload(), "d-giveup")) { }
        for (var i = 0; i < 3; i++)
        {
            await host.RunDueAsync();
            host.Clock.Advance(TimeSpan.FromMinutes(10));
        }
        var review = Assert.Single(_github.Reviews);
        Assert.Equal("rejected", review.Json["state"]!.GetValue<string>());
        var comment = review.Json["comment"]!.GetValue<string>();
        Assert.Contains(WebhookCodes.GaveUp, comment, StringComparison.Ordinal);
        Assert.Contains(GitHubCodes.Unavailable, comment, StringComparison.Ordinal);
        var row = Assert.Single(await host.AuditAsync());
        Assert.Equal(("deny", "d-giveup", "23625057533"), (row.Verdict, row.DeliveryId, row.RunId));
        Assert.Equal([WebhookCodes.GaveUp], row.FailedCodes);
    }

    [Fact]
    public async Task RunNotFound_IsRejected_DG4011()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        _github.RunMissing = true;
        using (await host.DeliverAsync(Payload(), "d-norun")) { }
        await host.RunDueAsync();
        Assert.Contains(WebhookCodes.RunNotFound, Assert.Single(_github.Reviews).Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal([WebhookCodes.RunNotFound], Assert.Single(await host.AuditAsync()).FailedCodes);
    }

    [Fact]
    public async Task Restart_WithAJobPending_TheNextInstanceOverTheSameDatabaseReviewsIt()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dg-webhook-restart-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var first = await WebhookHost.StartAsync(_issuer, _github, directory: dir))
            {
                using var response = await first.DeliverAsync(Payload(), "d-restart");
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            }                                                                 // stopped before any review
            Assert.Empty(_github.Calls);

            await using var second = await WebhookHost.StartAsync(_issuer, _github, directory: dir, background: true);
            ReviewJob? job = null;
            for (var i = 0; i < 200 && job?.State != ReviewJobState.Done; i++)
            {
                await Task.Delay(50);
                job = await second.Jobs.GetAsync("d-restart");
            }
            Assert.Equal((ReviewJobState.Done, "approved"), (job!.State, job.Outcome));
            Assert.Equal("approved", Assert.Single(_github.Reviews).Json["state"]!.GetValue<string>());
            Assert.Equal("d-restart", Assert.Single(await second.AuditAsync()).DeliveryId);
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Fact]
    public async Task PolicyFileMissing_IsRejected_DG4003()
    {
        _github.Files.TryRemove("main", out _);
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (await host.DeliverAsync(Payload(), "d-nopolicy")) { }
        await host.RunDueAsync();
        var review = Assert.Single(_github.Reviews);
        Assert.Equal("rejected", review.Json["state"]!.GetValue<string>());
        Assert.Contains(GitHubCodes.PolicyFileNotFound, review.Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal([GitHubCodes.PolicyFileNotFound], Assert.Single(await host.AuditAsync()).FailedCodes);
    }

    [Fact]
    public async Task PolicyFileInvalid_IsRejected_WithTheLoadersCode()
    {
        _github.Files["main"] = "version: 1\nenvironments:\n  production:\n    deploy: { roles: [nobody] }\n";
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (await host.DeliverAsync(Payload(), "d-badpolicy")) { }
        await host.RunDueAsync();
        var review = Assert.Single(_github.Reviews);
        Assert.Equal("rejected", review.Json["state"]!.GetValue<string>());
        var code = Assert.Single(Assert.Single(await host.AuditAsync()).FailedCodes);
        Assert.StartsWith("DG1", code, StringComparison.Ordinal);
        Assert.Contains(code, review.Json["comment"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TimerFunction_RunsDueJobs_AndAnswersTheCustomHandlerResponseShape()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github);
        using (await host.DeliverAsync(Payload(), "d-timer")) { }
        var response = await host.TimerAsync();
        Assert.Equal(["Outputs", "Logs", "ReturnValue"], response.Select(p => p.Key));
        Assert.Empty(response["Outputs"]!.AsObject());
        Assert.Null(response["ReturnValue"]);
        Assert.Contains("processed 1", response["Logs"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("approved", Assert.Single(_github.Reviews).Json["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task BackgroundService_ReviewsANewDeliveryWithoutBeingAsked()
    {
        await using var host = await WebhookHost.StartAsync(_issuer, _github, background: true);
        using (await host.DeliverAsync(Payload(), "d-bg")) { }
        for (var i = 0; i < 200 && !_github.Reviews.Any(); i++) await Task.Delay(50);
        Assert.Equal("approved", Assert.Single(_github.Reviews).Json["state"]!.GetValue<string>());
    }
}
