using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace DeployGate.Bench.Plaintext;

/// <summary>The part of GitHub's REST API the gate's github policy source calls, for the <c>example-github</c> target:
/// one App installation, one installation token, every repository with default branch <c>main</c> holding the same
/// <c>.github/deploygate.yml</c>, and ETags, so a revalidation is answered 304 as GitHub answers it. <c>GET
/// /bench/github-requests</c> says how many API calls it has answered.</summary>
internal static class FakeGitHub
{
    private static long _calls;

    public static void Map(WebApplication app, byte[] policy)
    {
#pragma warning disable CA5350 // git blob ids are SHA-1 by definition; not used for security here
        var sha = Convert.ToHexStringLower(SHA1.HashData([.. Encoding.UTF8.GetBytes($"blob {policy.Length}\0"), .. policy]));
#pragma warning restore CA5350
        var file = new JsonObject { ["type"] = "file", ["sha"] = sha, ["encoding"] = "base64", ["content"] = Convert.ToBase64String(policy) }.ToJsonString();
        const string Repository = """{"default_branch":"main"}""";

        var api = app.MapGroup("").AddEndpointFilter(async (context, next) =>
        {
            Interlocked.Increment(ref _calls);
            return await next(context);
        });
        api.MapGet("/app", () => Results.Json(new JsonObject { ["id"] = 1 }));
        api.MapGet("/repos/{owner}/{repo}/installation", () => Results.Json(new JsonObject { ["id"] = 1 }));
        api.MapPost("/app/installations/{id}/access_tokens", () => Results.Json(
            new JsonObject { ["token"] = "ghs_bench", ["expires_at"] = DateTimeOffset.UtcNow.AddHours(1).ToString("O") }, statusCode: 201));
        api.MapGet("/repos/{owner}/{repo}", (HttpContext context) => WithETag(context, "\"repo-main\"", Repository));
        api.MapGet("/repos/{owner}/{repo}/contents/.github/deploygate.yml", (HttpContext context) =>
            context.Request.Query["ref"] == "main" ? WithETag(context, $"\"{sha}\"", file) : Results.NotFound());
        app.MapGet("/bench/github-requests", () => Interlocked.Read(ref _calls).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static IResult WithETag(HttpContext context, string etag, string json)
    {
        if (context.Request.Headers.IfNoneMatch == etag) return Results.StatusCode(StatusCodes.Status304NotModified);
        context.Response.Headers.ETag = etag;
        return Results.Content(json, "application/json");
    }
}
