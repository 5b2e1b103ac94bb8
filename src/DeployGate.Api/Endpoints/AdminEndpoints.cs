using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DeployGate.Audit;
using Microsoft.AspNetCore.Http;

namespace DeployGate.Api;

/// <summary><c>GET /api/v1/decisions</c> (admin bearer) and <c>GET /api/healthz</c>.</summary>
internal static class AdminEndpoints
{
    public const int MaxLimit = 10_000;

    public static async Task DecisionsAsync(HttpContext context, IDecisionLog log, GateConfiguration config)
    {
        if (config.Admin.Token is not { } adminToken)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, ServerCodes.AdminDisabled, "the admin API is disabled: `Admin:Token` is not set");
            return;
        }
        var header = context.Request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "";
        // Constant time over fixed-length hashes, so neither content nor length leaks.
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(adminToken))))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, ServerCodes.AdminUnauthorized, "the admin bearer token is missing or wrong");
            return;
        }

        var q = context.Request.Query;
        var query = new DecisionQuery(
            Repository: NullIfEmpty(q["repository"]),
            Environment: NullIfEmpty(q["environment"]),
            Verdict: NullIfEmpty(q["verdict"]));
        if (query.Verdict is not (null or "allow" or "deny"))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, ServerCodes.QueryInvalid, "`verdict` must be `allow` or `deny`");
            return;
        }
        if (NullIfEmpty(q["since"]) is { } sinceText)
        {
            if (!DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var since))
            {
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, ServerCodes.QueryInvalid, "`since` must be an RFC 3339 instant");
                return;
            }
            query = query with { Since = since };
        }
        if (NullIfEmpty(q["limit"]) is { } limitText)
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) || limit is < 1 or > MaxLimit)
            {
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, ServerCodes.QueryInvalid, $"`limit` must be 1..{MaxLimit}");
                return;
            }
            query = query with { Limit = limit };
        }

        var rows = await log.QueryAsync(query, context.RequestAborted);
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        var builder = new StringBuilder("[");
        for (var i = 0; i < rows.Count; i++)
        {
            if (i > 0) builder.Append(',');
            builder.Append(rows[i]);
        }
        builder.Append(']');
        await context.Response.WriteAsync(builder.ToString(), context.RequestAborted);
    }

    public static async Task HealthAsync(HttpContext context, IDecisionLog log, IPolicySource policies)
    {
        string store;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            cts.CancelAfter(TimeSpan.FromSeconds(5));
            await log.QueryAsync(new DecisionQuery(Limit: 1), cts.Token);
            store = "ok";
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            store = $"unavailable: {ex.GetType().Name}";
        }
        var (policyOk, policyDetail) = await policies.CheckAsync(context.RequestAborted);
        var ok = store == "ok" && policyOk;
        context.Response.StatusCode = ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        using var buffer = new MemoryStream(128);
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("status", ok ? "ok" : "unavailable");
            w.WriteString("store", store);
            w.WriteString("policy_source", policyDetail);
            w.WriteEndObject();
        }
        context.Response.ContentLength = buffer.Length;
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted);
    }

    private static string? NullIfEmpty(Microsoft.Extensions.Primitives.StringValues value) =>
        string.IsNullOrWhiteSpace(value.ToString()) ? null : value.ToString();
}
