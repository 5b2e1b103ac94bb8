using System.Text.Json;
using DeployGate.Audit;
using DeployGate.Audit.Grants;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api;

/// <summary>The grant routes (SPEC §7): JWKS, redeem, introspect, revoke. Thin edges: read the clock once, parse,
/// verify with <see cref="GrantAuthority"/>, ask the <see cref="IGrantStore"/>, answer. Every redeem and revoke outcome
/// is logged with the grant's <c>jti</c> (never the token). Store failures answer 503 (fail closed).</summary>
internal sealed partial class GrantEndpoints(
    GrantAuthority authority, IGrantStore store, OidcTokenValidator tokens, TimeProvider time, ILogger<GrantEndpoints> logger)
{
    /// <summary>Largest grant request body (a grant is well under 2 KiB).</summary>
    public const int MaxBodyBytes = 16 * 1024;
    private const int RetryAfterSeconds = 5;

    public Task JwksAsync(HttpContext context)
    {
        var response = context.Response;
        response.ContentType = "application/json";
        // Short: a rotated-in key must reach verifiers quickly (they should also refetch on an unknown kid).
        response.Headers.CacheControl = "public, max-age=60";
        return response.WriteAsync(authority.Keys.JwksJson(time.GetUtcNow()), context.RequestAborted);
    }

    /// <summary><c>POST /api/v1/grants/redeem</c>: 200 claims | 400 | 401 invalid, expired, revoked, unknown key |
    /// 403 <c>expect</c> differs (not consumed) | 409 redeemed before | 503 store.</summary>
    public async Task RedeemAsync(HttpContext context)
    {
        var now = time.GetUtcNow();
        var body = await ReadJsonAsync(context);
        if (body is null) return;
        using var doc = body;
        if (!TryFields(doc.RootElement, ["token", "expect"], out var fields, out var problem) ||
            !TryRequired(fields, "token", out var token, out problem) ||
            !fields.TryGetValue("expect", out var expectElement) || expectElement.ValueKind == JsonValueKind.Null)
        {
            await BadRequestAsync(context, problem ?? (GrantCodes.FieldMissing, "missing `expect`: the operation you will perform ({ action, environment, target | secret })"));
            return;
        }
        if (expectElement.ValueKind != JsonValueKind.Object ||
            !TryFields(expectElement, ["action", "environment", "target", "secret"], out var expect, out problem) ||
            !TryRequired(expect, "action", out var action, out problem) ||
            !TryRequired(expect, "environment", out var environment, out problem) ||
            !TryOptional(expect, "target", out var target, out problem) ||
            !TryOptional(expect, "secret", out var secret, out problem))
        {
            await BadRequestAsync(context, problem ?? (ServerCodes.BodyFieldType, "`expect` must be an object"));
            return;
        }

        var check = await authority.VerifyAsync(token, now);
        if (!check.IsValid)
        {
            Log.RedeemRejected(logger, check.Code!, "-", check.Message!);
            await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, check.Code!, check.Message!);
            return;
        }
        var grant = check.Claims!;
        var mismatches = new List<string>(4);
        if (!string.Equals(action, grant.Action, StringComparison.Ordinal)) mismatches.Add($"action `{action}` (grant: `{grant.Action}`)");
        if (!string.Equals(environment, grant.Environment, StringComparison.OrdinalIgnoreCase))
            mismatches.Add($"environment `{environment}` (grant: `{grant.Environment}`)");
        if (!string.Equals(target, grant.Target, StringComparison.Ordinal)) mismatches.Add($"target `{target ?? "(none)"}` (grant: `{grant.Target ?? "(none)"}`)");
        if (!string.Equals(secret, grant.Secret, StringComparison.Ordinal)) mismatches.Add($"secret `{secret ?? "(none)"}` (grant: `{grant.Secret ?? "(none)"}`)");
        if (mismatches.Count > 0)
        {
            var message = $"the grant is for another operation: {string.Join(", ", mismatches)}";
            Log.RedeemRejected(logger, GrantCodes.ExpectMismatch, grant.Jti, message);
            await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, GrantCodes.ExpectMismatch, message);
            return;
        }

        RedeemOutcome outcome;
        try
        {
            outcome = await store.RedeemAsync(new GrantRedemption(grant.Jti, grant.DecisionId, grant.Repository, grant.RunId, grant.ExpiresAt, now), context.RequestAborted);
        }
        catch (AuditStoreException ex)
        {
            await StoreFailedAsync(context, "redeem", grant.Jti, ex);
            return;
        }
        switch (outcome)
        {
            case RedeemOutcome.Redeemed:
                Log.Redeemed(logger, grant.Jti, grant.DecisionId, grant.Repository, grant.RunId, grant.Action, grant.Environment);
                await WriteJsonAsync(context, StatusCodes.Status200OK, grant.PayloadJson);
                return;
            case RedeemOutcome.AlreadyRedeemed:
                Log.RedeemRejected(logger, GrantCodes.AlreadyRedeemed, grant.Jti, "already redeemed");
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, GrantCodes.AlreadyRedeemed, $"grant `{grant.Jti}` was already redeemed; a grant is single-use");
                return;
            default:
                Log.RedeemRejected(logger, GrantCodes.Revoked, grant.Jti, "revoked");
                await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, GrantCodes.Revoked, $"grant `{grant.Jti}` was revoked");
                return;
        }
    }

    /// <summary><c>POST /api/v1/grants/introspect</c> (RFC 7662 shape): <c>{"active":true, …claims}</c> for a valid,
    /// unredeemed, unrevoked grant; otherwise only <c>{"active":false}</c>. 400 malformed body, 503 store.</summary>
    public async Task IntrospectAsync(HttpContext context)
    {
        var now = time.GetUtcNow();
        var body = await ReadJsonAsync(context);
        if (body is null) return;
        using var doc = body;
        if (!TryFields(doc.RootElement, ["token"], out var fields, out var problem) || !TryRequired(fields, "token", out var token, out problem))
        {
            await BadRequestAsync(context, problem!.Value);
            return;
        }
        var check = await authority.VerifyAsync(token, now);
        if (!check.IsValid)
        {
            await WriteJsonAsync(context, StatusCodes.Status200OK, """{"active":false}""");
            return;
        }
        GrantStatus status;
        try
        {
            status = await store.GetStatusAsync(check.Claims!.Jti, context.RequestAborted);
        }
        catch (AuditStoreException ex)
        {
            await StoreFailedAsync(context, "introspect", check.Claims!.Jti, ex);
            return;
        }
        // Redeemed or revoked: nobody may act on it any more, so it is inactive (RFC 7662 §2.2).
        await WriteJsonAsync(context, StatusCodes.Status200OK, status.IsUnused
            ? """{"active":true,""" + check.Claims!.PayloadJson[1..]
            : """{"active":false}""");
    }

    /// <summary><c>POST /api/v1/grants/revoke</c> with the OIDC token of the run the grant was issued to: 204 (also when
    /// already revoked, redeemed, expired or never seen) | 400 | 401/503 token as for authorize | 403 another
    /// repository or run | 503 store.</summary>
    public async Task RevokeAsync(HttpContext context)
    {
        var now = time.GetUtcNow();
        var ct = context.RequestAborted;
        var token = await tokens.ValidateAsync(context.Request.Headers.Authorization.ToString(), now, ct);
        if (!token.IsValid)
        {
            Log.RevokeRejected(logger, token.Code!, "-", token.Message!);
            await Problems.WriteAsync(context, token.Unavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status401Unauthorized,
                token.Code!, token.Message!, retryAfterSeconds: token.Unavailable ? RetryAfterSeconds : null);
            return;
        }
        var body = await ReadJsonAsync(context);
        if (body is null) return;
        using var doc = body;
        if (!TryFields(doc.RootElement, ["jti"], out var fields, out var problem) || !TryRequired(fields, "jti", out var jti, out problem))
        {
            await BadRequestAsync(context, problem!.Value);
            return;
        }
        var claims = token.Claims!;
        if (!GrantIds.IsOwnedBy(jti, claims.Repository!, claims.RunId!))
        {
            var message = $"grant `{jti}` was not issued to repository `{claims.Repository}` run `{claims.RunId}`";
            Log.RevokeRejected(logger, GrantCodes.RevokeNotAllowed, jti, message);
            await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, GrantCodes.RevokeNotAllowed, message);
            return;
        }
        try
        {
            await store.RevokeAsync(new GrantRevocation(jti, claims.Repository!, claims.RunId!, now), ct);
        }
        catch (AuditStoreException ex)
        {
            await StoreFailedAsync(context, "revoke", jti, ex);
            return;
        }
        Log.Revoked(logger, jti, claims.Repository!, claims.RunId!);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        context.Response.Headers.CacheControl = "no-store";
    }

    private static async Task<JsonDocument?> ReadJsonAsync(HttpContext context)
    {
        byte[] bytes;
        using (var body = await RequestBody.ReadAsync(context.Request, MaxBodyBytes, context.RequestAborted))
        {
            if (body.TooLarge)
            {
                await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, ServerCodes.BodyTooLarge, $"request body is larger than {MaxBodyBytes / 1024} KiB");
                return null;
            }
            bytes = body.Memory.ToArray();   // the document keeps its bytes; the pooled buffer goes back now
        }
        try
        {
            var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
            doc.Dispose();
        }
        catch (JsonException)
        {
        }
        await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, ServerCodes.BodyMalformed, "request body is not a JSON object");
        return null;
    }

    private static bool TryFields(JsonElement obj, string[] known, out Dictionary<string, JsonElement> fields, out (string Code, string Message)? problem)
    {
        fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        problem = null;
        foreach (var p in obj.EnumerateObject())
        {
            if (!known.Contains(p.Name, StringComparer.Ordinal))
            {
                problem = (ServerCodes.BodyUnknownField, $"unknown field `{p.Name}`; expected {string.Join(", ", known.Select(k => $"`{k}`"))}");
                return false;
            }
            if (!fields.TryAdd(p.Name, p.Value))
            {
                problem = (ServerCodes.BodyUnknownField, $"field `{p.Name}` appears twice");
                return false;
            }
        }
        return true;
    }

    private static bool TryRequired(Dictionary<string, JsonElement> fields, string name, out string value, out (string Code, string Message)? problem)
    {
        if (!TryOptional(fields, name, out var v, out problem)) { value = ""; return false; }
        if (string.IsNullOrEmpty(v))
        {
            value = "";
            problem = (GrantCodes.FieldMissing, $"missing or empty `{name}`");
            return false;
        }
        value = v;
        return true;
    }

    private static bool TryOptional(Dictionary<string, JsonElement> fields, string name, out string? value, out (string Code, string Message)? problem)
    {
        value = null;
        problem = null;
        if (!fields.TryGetValue(name, out var e) || e.ValueKind == JsonValueKind.Null) return true;
        if (e.ValueKind != JsonValueKind.String)
        {
            problem = (ServerCodes.BodyFieldType, $"`{name}` must be a string");
            return false;
        }
        value = e.GetString();
        return true;
    }

    private static Task BadRequestAsync(HttpContext context, (string Code, string Message) problem) =>
        Problems.WriteAsync(context, StatusCodes.Status400BadRequest, problem.Code, problem.Message);

    private async Task StoreFailedAsync(HttpContext context, string what, string jti, AuditStoreException ex)
    {
        Log.StoreFailed(logger, what, jti, ex.Code, ex);
        await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ex.Code,
            $"the grant store cannot {what} right now; nothing was {(what == "introspect" ? "reported" : "changed")}", retryAfterSeconds: RetryAfterSeconds);
    }

    private static Task WriteJsonAsync(HttpContext context, int status, string json)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-store";
        return response.WriteAsync(json, context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3120, Level = LogLevel.Information, Message = "grant {Jti} redeemed (decision {DecisionId}, {Repository} run {RunId}, {Action} → {Environment})")]
        public static partial void Redeemed(ILogger logger, string jti, string decisionId, string repository, string runId, string action, string environment);

        [LoggerMessage(EventId = 3121, Level = LogLevel.Information, Message = "grant {Jti} redeem refused {Code}: {Reason}")]
        public static partial void RedeemRejected(ILogger logger, string code, string jti, string reason);

        [LoggerMessage(EventId = 3122, Level = LogLevel.Information, Message = "grant {Jti} revoked by {Repository} run {RunId}")]
        public static partial void Revoked(ILogger logger, string jti, string repository, string runId);

        [LoggerMessage(EventId = 3123, Level = LogLevel.Information, Message = "grant {Jti} revoke refused {Code}: {Reason}")]
        public static partial void RevokeRejected(ILogger logger, string code, string jti, string reason);

        [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "grant {Jti}: store cannot {What} ({Code}), answered 503")]
        public static partial void StoreFailed(ILogger logger, string what, string jti, string code, Exception exception);
    }
}
