using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace DeployGate.Api;

/// <summary>RFC 9457 problem details with DeployGate's <c>code</c> (and the audited <c>decision_id</c> when there is one).</summary>
internal static class Problems
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync(HttpContext context, int status, string code, string detail, string? decisionId = null, int? retryAfterSeconds = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/problem+json";
        response.Headers.CacheControl = "no-store";
        if (retryAfterSeconds is { } retry) response.Headers.RetryAfter = retry.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (status == StatusCodes.Status401Unauthorized && code.StartsWith("DG3", StringComparison.Ordinal))
            response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
        using var stream = new MemoryStream(256);
        using (var w = new Utf8JsonWriter(stream, Options))
        {
            w.WriteStartObject();
            w.WriteString("type", "about:blank");
            w.WriteString("title", Title(status));
            w.WriteNumber("status", status);
            w.WriteString("detail", detail);
            w.WriteString("code", code);
            if (decisionId is not null) w.WriteString("decision_id", decisionId);
            w.WriteEndObject();
        }
        response.ContentLength = stream.Length;
        await response.Body.WriteAsync(stream.GetBuffer().AsMemory(0, (int)stream.Length), context.RequestAborted);
    }

    private static string Title(int status) => status switch
    {
        400 => "malformed request",
        401 => "token rejected",
        403 => "forbidden",
        404 => "not found",
        413 => "request body too large",
        503 => "service unavailable",
        _ => "error",
    };
}
