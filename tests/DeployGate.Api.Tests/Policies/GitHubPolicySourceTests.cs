using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using DeployGate.GitHub;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Tests.Policies;

/// <summary>The github policy source against a fake GitHub REST API on loopback.</summary>
public sealed class GitHubPolicySourceTests : IAsyncLifetime
{
    private TestIssuer _issuer = null!;
    private FakeGitHub _github = null!;
    private GateHost _gate = null!;
    private string _keyPath = null!;
    private const string Body = """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""";
    private const string WebhookSecret = "push-secret-0123456789";
    private static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(1);   // the default of Policy:MaxAge
    private static readonly string Edited = TestPolicies.Web.Replace("aks/staging-*", "aks/staging-9", StringComparison.Ordinal);

    public async Task InitializeAsync()
    {
        _issuer = await TestIssuer.StartAsync();
        _github = await FakeGitHub.StartAsync();
        _keyPath = Path.GetTempFileName();
        using (var rsa = RSA.Create(2048)) File.WriteAllText(_keyPath, rsa.ExportRSAPrivateKeyPem());
        _gate = await StartGateAsync();
    }

    private Task<GateHost> StartGateAsync(string? maxAge = null) => GateHost.StartAsync(_issuer, new Dictionary<string, string?>
    {
        ["Policy:Source"] = "github",
        ["Policy:MaxAge"] = maxAge,
        ["GitHub:ApiUrl"] = _github.Url,
        ["GitHub:AppId"] = "12345",
        ["GitHub:PrivateKeyPath"] = _keyPath,
        ["GitHub:WebhookSecret"] = WebhookSecret,
    });

    public async Task DisposeAsync()
    {
        await _gate.DisposeAsync();
        await _github.DisposeAsync();
        await _issuer.DisposeAsync();
        File.Delete(_keyPath);
    }

    private string Token(GateHost? gate = null) => _issuer.Sign(_issuer.Claims((gate ?? _gate).Clock.GetUtcNow(), GateHost.Audience));

    private async Task<HttpStatusCode> AuthorizeAsync(GateHost? gate = null)
    {
        using var response = await (gate ?? _gate).AuthorizeAsync(Token(gate), Body);
        return response.StatusCode;
    }

    private async Task<HttpStatusCode> PushAsync(string gitRef, string defaultBranch = "trunk")
    {
        var payload = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["ref"] = gitRef,
            ["repository"] = new JsonObject { ["full_name"] = "acme/web", ["default_branch"] = defaultBranch },
        }.ToJsonString());
        using var response = await DeliverPushAsync(payload);
        return response.StatusCode;
    }

    private async Task<HttpResponseMessage> DeliverPushAsync(byte[] payload)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/github/webhook") { Content = new ByteArrayContent(payload) };
        request.Headers.Add("X-GitHub-Event", "push");
        request.Headers.Add("X-GitHub-Delivery", Guid.NewGuid().ToString());
        request.Headers.Add(DeployGate.GitHub.Webhooks.WebhookSignature.Header,
            DeployGate.GitHub.Webhooks.WebhookSignature.Compute(Encoding.UTF8.GetBytes(WebhookSecret), payload));
        return await _gate.Client.SendAsync(request);
    }

    [Fact]
    public async Task Policy_IsReadFromTheDefaultBranch_WithETagCaching()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        _github.Files["refs/heads/main"] = "version: 1\nenvironments: {}\n";   // the deployed ref must never be read

        using (var first = await _gate.AuthorizeAsync(Token(), Body))
        {
            var text = await first.Content.ReadAsStringAsync();
            Assert.True(first.StatusCode == HttpStatusCode.OK, text);
            var policy = JsonDocument.Parse(text).RootElement.GetProperty("policy");
            Assert.Equal("github:acme/web/.github/deploygate.yml", policy.GetProperty("source").GetString());
            Assert.Equal(FakeGitHub.BlobSha(TestPolicies.Web), policy.GetProperty("revision").GetString());
        }
        _gate.Clock.Advance(MaxAge);   // too old: the next request revalidates before it is decided
        using (var second = await _gate.AuthorizeAsync(Token(), Body)) Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        Assert.Equal(2, _github.ContentRefs.Count);
        Assert.All(_github.ContentRefs, r => Assert.Equal("trunk", r));
        Assert.Equal(1, _github.TokensMinted);                  // installation token cached
        Assert.Equal(2, _github.NotModified);                   // repo + file revalidated, not refetched
        Assert.All(_github.Requests, r =>
        {
            Assert.StartsWith("DeployGate/", r.UserAgent, StringComparison.Ordinal);
            Assert.Equal("2022-11-28", r.ApiVersion);
        });
        // App JWT only for the App endpoints; installation token for the repository.
        Assert.All(_github.Requests.Where(r => r.Path.StartsWith("/app/", StringComparison.Ordinal) || r.Path.EndsWith("/installation", StringComparison.Ordinal)),
            r => Assert.Equal(3, r.Bearer.Split('.').Length));
        Assert.All(_github.Requests.Where(r => r.Path.StartsWith("/repos/acme/web/contents", StringComparison.Ordinal)), r => Assert.Equal("ghs_fake_installation_token", r.Bearer));

        // An edit on the default branch is picked up by the first request that finds the snapshot MaxAge old (new ETag).
        _github.Files["trunk"] = Edited;
        _gate.Clock.Advance(MaxAge);
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync());
    }

    [Fact]
    public async Task NoPolicyFile_IsAnAuditedDeny_DG4003()
    {
        using var response = await _gate.AuthorizeAsync(Token(), Body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, text);
        Assert.Contains(JsonDocument.Parse(text).RootElement.GetProperty("checks").EnumerateArray(), c => c.GetProperty("code").GetString() == DeployGate.GitHub.GitHubCodes.PolicyFileNotFound);
    }

    [Fact]
    public async Task GitHubDown_Is503_Deny_WithRetryAfter_DG4001()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        _github.Failing = true;
        using var response = await _gate.AuthorizeAsync(Token(), Body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, text);
        Assert.NotNull(response.Headers.RetryAfter);
        var decision = JsonDocument.Parse(text).RootElement;
        Assert.Equal("deny", decision.GetProperty("verdict").GetString());
        Assert.Contains(decision.GetProperty("checks").EnumerateArray(), c => c.GetProperty("code").GetString() == DeployGate.GitHub.GitHubCodes.Unavailable);
    }

    [Fact]
    public async Task NoPolicyFile_IsRemembered_UntilMaxAgeOrAPush()
    {
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync());
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync());
        Assert.Single(_github.ContentRefs);   // a repository without a policy does not cost GitHub calls per request

        _github.Files["trunk"] = TestPolicies.Web;
        Assert.Equal(HttpStatusCode.NoContent, await PushAsync("refs/heads/trunk"));
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        Assert.Equal(2, _github.ContentRefs.Count);

        _github.Files.TryRemove("trunk", out _);
        _gate.Clock.Advance(MaxAge);
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync());
        Assert.Equal(3, _github.ContentRefs.Count);
    }

    [Fact]
    public async Task AfterATransientFailure_GitHubIsNotAskedAgainForFiveSeconds()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        _github.Failing = true;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await AuthorizeAsync());
        var asked = _github.Requests.Count;
        _gate.Clock.Advance(GitHubPolicySource.RetryBackoff - TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await AuthorizeAsync());   // the remembered failure
        Assert.Equal(asked, _github.Requests.Count);

        _github.Failing = false;
        _gate.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
    }

    [Theory]
    [InlineData(29_000)]   // MaxAge / 2 - 1 s: not even refreshed behind the request
    [InlineData(-5)]       // a request whose instant was read just before the snapshot was checked (concurrent requests)
    public async Task WithinMaxAge_TheSnapshotIsUsed_WithoutAskingGitHub(int millisecondsLater)
    {
        _github.Files["trunk"] = TestPolicies.Web;
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        var asked = _github.Requests.Count;

        _github.Files["trunk"] = Edited;
        _gate.Clock.Advance(TimeSpan.FromMilliseconds(millisecondsLater));
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        Assert.Equal(asked, _github.Requests.Count);
    }

    [Fact]
    public async Task PastHalfOfMaxAge_TheRequestDoesNotWait_AndRefreshesTheSnapshotBehindIt()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());

        _github.Files["trunk"] = Edited;
        _github.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);   // GitHub answers no file read
        _gate.Clock.Advance(MaxAge / 2);
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());   // answered from the snapshot while the refresh waits on GitHub
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());   // joins the refresh under way, does not start another
        await WaitForAsync(() => _github.ContentRefs.Count == 2);
        _github.Hold.SetResult();

        // The refresh lands without any more time passing: the edit applies before the snapshot is MaxAge old.
        await WaitForAsync(async () => await AuthorizeAsync() == HttpStatusCode.Forbidden);
        Assert.Equal(2, _github.ContentRefs.Count);
    }

    [Fact]
    public async Task PushToTheDefaultBranch_ExpiresTheSnapshot_OtherBranchesDoNot()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        _github.Files["trunk"] = Edited;

        Assert.Equal(HttpStatusCode.NoContent, await PushAsync("refs/heads/feature"));
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        Assert.Single(_github.ContentRefs);

        Assert.Equal(HttpStatusCode.NoContent, await PushAsync("refs/heads/trunk"));
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync());   // same instant: the push alone made it revalidate
        Assert.Equal(2, _github.ContentRefs.Count);
        Assert.Contains("[4020] push to the default branch of acme/web", _gate.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PushWithoutItsRefOrRepository_Is400_DG4009()
    {
        using var response = await DeliverPushAsync(Encoding.UTF8.GetBytes("""{"ref":"refs/heads/trunk","repository":{"full_name":"acme/web"}}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(DeployGate.GitHub.Webhooks.WebhookCodes.PayloadInvalid, problem.GetProperty("code").GetString());
        Assert.Contains("repository.default_branch", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxAgeZero_RevalidatesOnEveryRequest()
    {
        await using var gate = await StartGateAsync(maxAge: "0s");
        _github.Files["trunk"] = TestPolicies.Web;
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync(gate));
        Assert.Equal(3, _github.ContentRefs.Count);
        Assert.Equal(4, _github.NotModified);   // the second and third: repository and file, each a 304

        _github.Files["trunk"] = Edited;
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync(gate));
    }

    [Fact]
    public async Task GitHubDown_TheSnapshotServesUntilMaxAge_Then503()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        _github.Failing = true;

        _gate.Clock.Advance(MaxAge - TimeSpan.FromSeconds(1));
        var asked = _github.Requests.Count;
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());   // the refresh it starts fails: the snapshot stays
        await WaitForAsync(() => _github.Requests.Count > asked);
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());

        _gate.Clock.Advance(TimeSpan.FromSeconds(1));
        using var response = await _gate.AuthorizeAsync(Token(), Body);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var decision = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains(decision.GetProperty("checks").EnumerateArray(), c => c.GetProperty("code").GetString() == DeployGate.GitHub.GitHubCodes.Unavailable);
    }

    [Fact]
    public async Task FileDeleted_IsSeenAfterMaxAge_AsADeny()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        Assert.Equal(HttpStatusCode.OK, await AuthorizeAsync());
        _github.Files.TryRemove("trunk", out _);
        _gate.Clock.Advance(MaxAge);
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync());
        Assert.Equal(HttpStatusCode.Forbidden, await AuthorizeAsync());   // not served from the old snapshot
    }

    [Fact]
    public async Task ConcurrentRequests_ShareOneRevalidation_AndOneCallerGivingUpFailsNoOther()
    {
        var (client, source) = HeldSource();
        using var _ = client;
        var now = GateHost.Start;

        using var gaveUp = new CancellationTokenSource();
        var waiting = Enumerable.Range(0, 8).Select(_ => source.GetAsync("acme/web", now, revalidate: false, CancellationToken.None).AsTask()).ToList();
        var impatient = source.GetAsync("acme/web", now, revalidate: false, gaveUp.Token).AsTask();
        Assert.All(waiting, t => Assert.False(t.IsCompleted));
        await gaveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);

        _github.Hold!.SetResult();
        var lookups = await Task.WhenAll(waiting);
        Assert.All(lookups, l => Assert.Same(lookups[0], l));
        Assert.NotNull(lookups[0].Policy);
        Assert.Single(_github.ContentRefs);
        Assert.Equal(1, _github.TokensMinted);

        // The review worker's read revalidates even though the snapshot is fresh.
        var fresh = await source.GetAsync("acme/web", now, revalidate: true, CancellationToken.None);
        Assert.NotNull(fresh.Policy);
        Assert.Equal(2, _github.ContentRefs.Count);
    }

    [Fact]
    public async Task PushDuringARevalidation_LeavesItsAnswerExpired()
    {
        var (client, source) = HeldSource();
        using var _ = client;

        var reading = source.GetAsync("acme/web", GateHost.Start, revalidate: false, CancellationToken.None).AsTask();
        await WaitForAsync(() => _github.ContentRefs.Count == 1);   // GitHub has been asked; its answer may predate the push
        source.Expire("acme/web");
        _github.Hold!.SetResult();
        Assert.NotNull((await reading).Policy);

        Assert.NotNull((await source.GetAsync("acme/web", GateHost.Start, revalidate: false, CancellationToken.None)).Policy);
        Assert.Equal(2, _github.ContentRefs.Count);   // asked again, not taken as fresh
        Assert.NotNull((await source.GetAsync("acme/web", GateHost.Start, revalidate: false, CancellationToken.None)).Policy);
        Assert.Equal(2, _github.ContentRefs.Count);   // and that one is fresh
    }

    /// <summary>The source alone, over the fake, which holds its file reads until released.</summary>
    private (GitHubAppClient, GitHubPolicySource) HeldSource()
    {
        _github.Files["trunk"] = TestPolicies.Web;
        _github.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var client = new GitHubAppClient(new PlainClients(), new GitHubAppOptions(new Uri(_github.Url + "/"), "12345", File.ReadAllText(_keyPath)), TimeProvider.System);
        return (client, new GitHubPolicySource(client, MaxAge, Microsoft.Extensions.Logging.Abstractions.NullLogger<GitHubPolicySource>.Instance));
    }

    private static async Task WaitForAsync(Func<bool> condition) => await WaitForAsync(() => Task.FromResult(condition()));

    /// <summary>Until <paramref name="condition"/> holds, for at most 10 s (a bound on a hung test, not a timing assertion).</summary>
    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true within 10 s");
            await Task.Delay(20);
        }
    }

    private sealed class PlainClients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new();
    }

    private sealed record Seen(string Path, string UserAgent, string ApiVersion, string Bearer);

    private sealed class FakeGitHub : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _tokens;
        private int _notModified;

        private FakeGitHub(WebApplication app, string url)
        {
            _app = app;
            Url = url;
        }

        public string Url { get; }
        public ConcurrentDictionary<string, string> Files { get; } = new();
        public ConcurrentQueue<string> ContentRefs { get; } = new();
        public ConcurrentQueue<Seen> Requests { get; } = new();
        public int TokensMinted => Volatile.Read(ref _tokens);
        public int NotModified => Volatile.Read(ref _notModified);
        public volatile bool Failing;

        /// <summary>While set and not completed, file reads wait for it (a slow GitHub).</summary>
        public volatile TaskCompletionSource? Hold;

#pragma warning disable CA5350 // git blob ids are SHA-1 by definition; not used for security here
        public static string BlobSha(string text) => Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes("blob " + Encoding.UTF8.GetByteCount(text) + "\0" + text)));
#pragma warning restore CA5350

        public static async Task<FakeGitHub> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            FakeGitHub? gh = null;
            app.Use(async (ctx, next) =>
            {
                gh!.Requests.Enqueue(new Seen(ctx.Request.Path, ctx.Request.Headers.UserAgent.ToString(), ctx.Request.Headers["X-GitHub-Api-Version"].ToString(),
                    ctx.Request.Headers.Authorization.ToString().Replace("Bearer ", "", StringComparison.Ordinal)));
                if (gh.Failing)
                {
                    ctx.Response.StatusCode = 502;
                    return;
                }
                await next(ctx);
            });
            app.MapGet("/app", () => Results.Json(new { id = 12345 }));
            app.MapGet("/repos/{o}/{r}/installation", () => Results.Json(new { id = 777 }));
            app.MapPost("/app/installations/{id}/access_tokens", () =>
            {
                Interlocked.Increment(ref gh!._tokens);
                return Results.Json(new { token = "ghs_fake_installation_token", expires_at = "2026-11-23T11:00:00Z" }, statusCode: 201);
            });
            app.MapGet("/repos/{o}/{r}", (HttpContext ctx) => gh!.WithETag(ctx, "\"repo-v1\"", new JsonObject { ["default_branch"] = "trunk" }.ToJsonString()));
            app.MapGet("/repos/{o}/{r}/contents/.github/deploygate.yml", async (HttpContext ctx) =>
            {
                var gitRef = ctx.Request.Query["ref"].ToString();
                gh!.ContentRefs.Enqueue(gitRef);
                if (gh.Hold is { } hold) await hold.Task;
                if (!gh.Files.TryGetValue(gitRef, out var text))
                {
                    ctx.Response.StatusCode = 404;
                    return;
                }
                var sha = BlobSha(text);
                var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
                var wrapped = string.Join("\n", Enumerable.Range(0, (b64.Length + 59) / 60).Select(i => b64.Substring(i * 60, Math.Min(60, b64.Length - i * 60))));
                await gh.WithETag(ctx, $"\"{sha}\"", new JsonObject { ["sha"] = sha, ["encoding"] = "base64", ["content"] = wrapped }.ToJsonString());
            });
            await app.StartAsync();
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
            gh = new FakeGitHub(app, url);
            return gh;
        }

        private Task WithETag(HttpContext ctx, string etag, string json)
        {
            if (ctx.Request.Headers.IfNoneMatch.ToString() == etag)
            {
                Interlocked.Increment(ref _notModified);
                ctx.Response.StatusCode = 304;
                return Task.CompletedTask;
            }
            ctx.Response.Headers.ETag = etag;
            ctx.Response.ContentType = "application/json";
            return ctx.Response.WriteAsync(json);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
