using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Tests.Webhooks;

/// <summary>One request the fake GitHub API received.</summary>
public sealed record GitHubCall(string Method, string Path, string Authorization, string Body)
{
    public bool CarriesToken => Authorization.Length > 0;
    public JsonObject Json => (JsonObject)JsonNode.Parse(Body)!;
}

/// <summary>A scripted non-success answer: status and headers (e.g. <c>Retry-After</c>).</summary>
public sealed record Scripted(int Status, params (string Name, string Value)[] Headers);

/// <summary>The GitHub REST API on loopback (real HTTP), recording every call: App installation tokens, the
/// repository (default branch <c>main</c>), the policy file on branches, workflow runs, and the protection-rule
/// review callback. Answers can be scripted to fail first.</summary>
public sealed class FakeGitHubApi : IAsyncDisposable
{
    public const string InstallationToken = "ghs_fake_installation_token_that_is_not_forty_chars_long.eyJ0eXAiOiJKV1QifQ.sig";
    public const long RunId = 23625057533;
    private readonly WebApplication _app;

    private FakeGitHubApi(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }
    public ConcurrentQueue<GitHubCall> Calls { get; } = new();
    public ConcurrentDictionary<string, string> Files { get; } = new();
    public ConcurrentQueue<Scripted> RunFailures { get; } = new();
    public ConcurrentQueue<Scripted> CallbackFailures { get; } = new();
    public bool RunMissing { get; set; }

    /// <summary>While set, every run request waits for it (a worker stuck mid-review, e.g. to be killed there);
    /// <see cref="RunRequestsHeld"/> counts the requests that arrived while held.</summary>
    public TaskCompletionSource? HoldRuns { get; set; }

    public int RunRequestsHeld => _runRequestsHeld;

    private int _runRequestsHeld;
    public bool RunAlwaysFails { get; set; }

    public JsonObject Run { get; set; } = new()
    {
        ["id"] = RunId,
        ["head_sha"] = "0123456789abcdef0123456789abcdef01234567",
        ["head_branch"] = "main",
        ["path"] = ".github/workflows/release.yml",
        ["event"] = "push",
        ["run_attempt"] = 1,
        ["actor"] = new JsonObject { ["login"] = "alice" },
    };

    public IEnumerable<GitHubCall> Reviews => Calls.Where(c => c.Method == "POST" && c.Path.EndsWith("/deployment_protection_rule", StringComparison.Ordinal));

    public string CallbackUrl(long runId = RunId) => $"{Url}/repos/acme/web/actions/runs/{runId}/deployment_protection_rule";

#pragma warning disable CA5350 // git blob ids are SHA-1 by definition; not used for security here
    public static string BlobSha(string text) => Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes("blob " + Encoding.UTF8.GetByteCount(text) + "\0" + text)));
#pragma warning restore CA5350

    public static async Task<FakeGitHubApi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        FakeGitHubApi? gh = null;
        app.Use(async (ctx, next) =>
        {
            ctx.Request.EnableBuffering();
            var body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            ctx.Request.Body.Position = 0;
            gh!.Calls.Enqueue(new GitHubCall(ctx.Request.Method, ctx.Request.Path, ctx.Request.Headers.Authorization.ToString(), body));
            await next(ctx);
        });
        app.MapGet("/app", () => Results.Json(new { id = 12345 }));
        app.MapGet("/repos/{o}/{r}/installation", () => Results.Json(new { id = 777 }));
        app.MapPost("/app/installations/{id}/access_tokens", () =>
            Results.Json(new { token = InstallationToken, expires_at = "2099-01-01T00:00:00Z" }, statusCode: 201));
        app.MapGet("/repos/{o}/{r}", () => Results.Json(new { default_branch = "main", full_name = "acme/web" }));
        app.MapGet("/repos/{o}/{r}/contents/.github/deploygate.yml", (HttpContext ctx) =>
        {
            if (!gh!.Files.TryGetValue(ctx.Request.Query["ref"].ToString(), out var text)) return Results.NotFound(new { message = "Not Found" });
            var sha = BlobSha(text);
            return Results.Json(new { sha, encoding = "base64", content = Convert.ToBase64String(Encoding.UTF8.GetBytes(text)), type = "file" });
        });
        app.MapGet("/repos/{o}/{r}/actions/runs/{id}", async (HttpContext ctx) =>
        {
            if (gh!.HoldRuns is { } hold)
            {
                Interlocked.Increment(ref gh._runRequestsHeld);
                await hold.Task.WaitAsync(ctx.RequestAborted);
            }
            if (gh.RunAlwaysFails) { await Answer(ctx, new Scripted(502)); return; }
            if (gh.RunFailures.TryDequeue(out var failure)) { await Answer(ctx, failure); return; }
            if (gh.RunMissing) { await Answer(ctx, new Scripted(404)); return; }
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(gh.Run.ToJsonString());
        });
        app.MapPost("/repos/{o}/{r}/actions/runs/{id}/deployment_protection_rule", (HttpContext ctx) =>
        {
            if (gh!.CallbackFailures.TryDequeue(out var failure)) return Answer(ctx, failure);
            ctx.Response.StatusCode = 204;
            return Task.CompletedTask;
        });
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        gh = new FakeGitHubApi(app, url);
        return gh;
    }

    private static Task Answer(HttpContext ctx, Scripted scripted)
    {
        ctx.Response.StatusCode = scripted.Status;
        foreach (var (name, value) in scripted.Headers) ctx.Response.Headers[name] = value;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync("""{"message":"scripted failure"}""");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
