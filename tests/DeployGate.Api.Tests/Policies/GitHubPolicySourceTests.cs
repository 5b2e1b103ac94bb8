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

    public async Task InitializeAsync()
    {
        _issuer = await TestIssuer.StartAsync();
        _github = await FakeGitHub.StartAsync();
        _keyPath = Path.GetTempFileName();
        using (var rsa = RSA.Create(2048)) File.WriteAllText(_keyPath, rsa.ExportRSAPrivateKeyPem());
        _gate = await GateHost.StartAsync(_issuer, new Dictionary<string, string?>
        {
            ["Policy:Source"] = "github",
            ["GitHub:ApiUrl"] = _github.Url,
            ["GitHub:AppId"] = "12345",
            ["GitHub:PrivateKeyPath"] = _keyPath,
        });
    }

    public async Task DisposeAsync()
    {
        await _gate.DisposeAsync();
        await _github.DisposeAsync();
        await _issuer.DisposeAsync();
        File.Delete(_keyPath);
    }

    private string Token() => _issuer.Sign(_issuer.Claims(GateHost.Start, GateHost.Audience));

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
        using (var second = await _gate.AuthorizeAsync(Token(), Body)) Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        Assert.All(_github.ContentRefs, r => Assert.Equal("trunk", r));
        Assert.Equal(1, _github.TokensMinted);                  // installation token cached
        Assert.True(_github.NotModified >= 2, $"{_github.NotModified} 304s");   // repo + file revalidated, not refetched
        Assert.All(_github.Requests, r =>
        {
            Assert.StartsWith("DeployGate/", r.UserAgent, StringComparison.Ordinal);
            Assert.Equal("2022-11-28", r.ApiVersion);
        });
        // App JWT only for the App endpoints; installation token for the repository.
        Assert.All(_github.Requests.Where(r => r.Path.StartsWith("/app/", StringComparison.Ordinal) || r.Path.EndsWith("/installation", StringComparison.Ordinal)),
            r => Assert.Equal(3, r.Bearer.Split('.').Length));
        Assert.All(_github.Requests.Where(r => r.Path.StartsWith("/repos/acme/web/contents", StringComparison.Ordinal)), r => Assert.Equal("ghs_fake_installation_token", r.Bearer));

        // An edit on the default branch is picked up on the next request (new ETag).
        _github.Files["trunk"] = TestPolicies.Web.Replace("aks/staging-*", "aks/staging-9", StringComparison.Ordinal);
        using var third = await _gate.AuthorizeAsync(Token(), Body);
        Assert.Equal(HttpStatusCode.Forbidden, third.StatusCode);
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
            app.MapGet("/repos/{o}/{r}/contents/.github/deploygate.yml", (HttpContext ctx) =>
            {
                var gitRef = ctx.Request.Query["ref"].ToString();
                gh!.ContentRefs.Enqueue(gitRef);
                if (!gh.Files.TryGetValue(gitRef, out var text))
                {
                    ctx.Response.StatusCode = 404;
                    return Task.CompletedTask;
                }
                var sha = BlobSha(text);
                var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
                var wrapped = string.Join("\n", Enumerable.Range(0, (b64.Length + 59) / 60).Select(i => b64.Substring(i * 60, Math.Min(60, b64.Length - i * 60))));
                return gh.WithETag(ctx, $"\"{sha}\"", new JsonObject { ["sha"] = sha, ["encoding"] = "base64", ["content"] = wrapped }.ToJsonString());
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
