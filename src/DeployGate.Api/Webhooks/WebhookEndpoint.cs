using System.Text;
using System.Text.RegularExpressions;
using DeployGate.Audit;
using DeployGate.Audit.Jobs;
using DeployGate.GitHub.Webhooks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Webhooks;

/// <summary><c>POST /api/github/webhook</c> (SPEC §6): verifies the signature over the raw body, answers
/// <c>ping</c>, persists a review job per <c>deployment_protection_rule</c>/<c>requested</c> delivery and answers
/// 202 at once (GitHub allows 10 s and never retries); the worker decides later. A <c>push</c> to a repository's
/// default branch expires its policy snapshot (204). 404 (DG4008) while no secret is configured; 401 (DG4007) for a
/// missing or wrong signature, with nothing processed; 413 over 1 MiB; 204 for other events and actions.</summary>
internal sealed partial class WebhookEndpoint(GateConfiguration config, IServiceProvider services, ReviewSignal signal, TimeProvider time, ILogger<WebhookEndpoint> logger)
{
    /// <summary>Largest body read (1 MiB). Protection-rule payloads are a few KiB plus their pull requests.</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    private readonly byte[]? _secret = config.GitHub.WebhookSecret is { } s ? Encoding.UTF8.GetBytes(s) : null;

    [GeneratedRegex("^[A-Za-z0-9-]{1,100}$")]
    private static partial Regex DeliveryIdPattern();

    public async Task HandleAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        if (_secret is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, WebhookCodes.Disabled,
                "the github webhook is disabled: `GitHub:WebhookSecret` is not configured");
            return;
        }
        using var body = await RequestBody.ReadAsync(context.Request, MaxBodyBytes, ct);
        if (body.TooLarge)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, ServerCodes.BodyTooLarge, $"webhook body is larger than {MaxBodyBytes / 1024} KiB");
            return;
        }
        await HandleAsync(context, body.Memory, ct);
    }

    private async Task HandleAsync(HttpContext context, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var headers = context.Request.Headers;
        if (!WebhookSignature.IsValid(_secret, body.Span, headers[WebhookSignature.Header].ToString()))
        {
            Log.BadSignature(logger, headers["X-GitHub-Delivery"].ToString(), context.Connection.RemoteIpAddress?.ToString() ?? "-");
            await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, WebhookCodes.BadSignature,
                $"`{WebhookSignature.Header}` is missing or does not match the body under the configured webhook secret");
            return;
        }

        var eventName = headers["X-GitHub-Event"].ToString();
        if (eventName == "ping")
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"ok":true}""", ct);
            return;
        }
        if (eventName == "push")
        {
            await HandlePushAsync(context, body, headers["X-GitHub-Delivery"].ToString(), ct);
            return;
        }
        if (eventName != "deployment_protection_rule" || ProtectionRuleEvent.ActionOf(body.Span) != "requested")
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        var deliveryId = headers["X-GitHub-Delivery"].ToString();
        if (!DeliveryIdPattern().IsMatch(deliveryId))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, WebhookCodes.PayloadInvalid, "`X-GitHub-Delivery` is missing or not a delivery id");
            return;
        }
        if (ProtectionRuleEvent.TryParse(body.Span, out var problem) is null)
        {
            Log.PayloadInvalid(logger, deliveryId, problem!);
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, WebhookCodes.PayloadInvalid, problem!);
            return;
        }

        var now = time.GetUtcNow();
        bool added;
        try
        {
            added = await services.GetRequiredService<IReviewJobStore>().TryAddAsync(new ReviewJob
            {
                DeliveryId = deliveryId,
                Payload = Encoding.UTF8.GetString(body.Span),
                ReceivedAt = now,
                DueAt = now,
            }, ct);
        }
        catch (AuditStoreException ex)
        {
            // Not stored, so not acknowledged: the delivery shows as failed in GitHub and can be redelivered.
            Log.StoreFailed(logger, deliveryId, ex);
            await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ex.Code, "the review job could not be stored; redeliver the event", retryAfterSeconds: 5);
            return;
        }
        Log.Queued(logger, deliveryId, added);
        if (added) signal.Notify();
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"delivery_id":"{{deliveryId}}","queued":{{(added ? "true" : "false")}}}""", ct);
    }

    /// <summary>A push to a repository's default branch may have changed its policy: the GitHub policy source's snapshot
    /// of it is revalidated by the next request instead of being used until <c>Policy:MaxAge</c>. Pushes to other
    /// branches change nothing (policy is read from the default branch only). 204 either way; 400 (DG4009) for a
    /// payload without its ref or repository.</summary>
    private async Task HandlePushAsync(HttpContext context, ReadOnlyMemory<byte> body, string deliveryId, CancellationToken ct)
    {
        var push = PushEvent.TryParse(body.Span, out var problem);
        if (push is null)
        {
            Log.PayloadInvalid(logger, deliveryId, problem!);
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, WebhookCodes.PayloadInvalid, problem!);
            return;
        }
        if (push.ToDefaultBranch) services.GetService<GitHubPolicySource>()?.Expire(push.Repository);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "webhook delivery {DeliveryId} from {Remote}: DG4007 bad signature, ignored")]
        public static partial void BadSignature(ILogger logger, string deliveryId, string remote);

        [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "webhook delivery {DeliveryId}: DG4009 {Reason}")]
        public static partial void PayloadInvalid(ILogger logger, string deliveryId, string reason);

        [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "webhook delivery {DeliveryId}: review job queued (new: {Added})")]
        public static partial void Queued(ILogger logger, string deliveryId, bool added);

        [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "webhook delivery {DeliveryId}: review job store unavailable, answered 503")]
        public static partial void StoreFailed(ILogger logger, string deliveryId, Exception exception);
    }
}

/// <summary>Wakes the background worker when a job is queued, so a fresh delivery need not wait for the next poll.</summary>
internal sealed class ReviewSignal : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Notify()
    {
        try
        {
            if (_signal.CurrentCount == 0) _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _signal.WaitAsync(timeout, ct);

    public void Dispose() => _signal.Dispose();
}
