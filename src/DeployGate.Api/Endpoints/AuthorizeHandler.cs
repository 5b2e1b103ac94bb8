using DeployGate.Audit;
using DeployGate.Engine;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api;

/// <summary><c>POST /api/v1/authorize</c> (SPEC §4): a thin edge over one engine call. Reads the clock
/// once, verifies the token, finds the policy, decides, makes the decision durable in the audit log, and
/// only then answers: 200 allow / 403 deny with the decision; 401/400 problem details (audited too, with
/// their decision id); 503 when the policy source, the issuer keys or the store are unavailable.</summary>
internal sealed partial class AuthorizeHandler(
    OidcTokenValidator tokens, IPolicySource policies, IDecisionLog log, GrantAuthority grants, TimeProvider time, ILogger<AuthorizeHandler> logger)
{
    private static readonly AuditContext Api = new("api");
    private const int RetryAfterSeconds = 5;

    public async Task HandleAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        using var body = await RequestBody.ReadAsync(context.Request, AuthorizeRequestParser.MaxBodyBytes, ct);
        if (body.TooLarge)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, ServerCodes.BodyTooLarge, $"request body is larger than {AuthorizeRequestParser.MaxBodyBytes / 1024} KiB");
            return;
        }
        await DecideAsync(context, body.Memory, ct);
    }

    private async Task DecideAsync(HttpContext context, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var now = time.GetUtcNow();                       // the only clock read in a decision
        var decisionId = DecisionIdSource.New(now);
        var parsed = AuthorizeRequestParser.Parse(body.Span);

        var token = await tokens.ValidateAsync(context.Request.Headers.Authorization.ToString(), now, ct);
        if (!token.IsValid)
        {
            var request = parsed.Request ?? AuthorizeRequestParser.BestEffort(body.Span);
            var status = token.Unavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status401Unauthorized;
            Log.TokenRejected(logger, decisionId, token.Code!, token.Message!);
            await RecordRejectionAndAnswerAsync(context, Rejections.Create(request, null, now, decisionId, "token", token.Code!, token.Message!), status, ct);
            return;
        }
        var claims = token.Claims!;
        if (parsed.Request is null)
        {
            Log.RequestRejected(logger, decisionId, parsed.Code!, parsed.Message!);
            await RecordRejectionAndAnswerAsync(context, Rejections.Create(AuthorizeRequestParser.BestEffort(body.Span), claims, now, decisionId,
                "request", parsed.Code!, parsed.Message!), StatusCodes.Status400BadRequest, ct);
            return;
        }

        var lookup = await policies.GetAsync(claims.Repository!, now, revalidate: false, ct);
        Decision decision;
        try
        {
            decision = lookup.Policy is { } policy
                ? Evaluator.Evaluate(policy, parsed.Request, claims, now, decisionId)
                : Evaluator.Error(parsed.Request, claims, now, decisionId, lookup.Ref, lookup.Code!, lookup.Message!);
        }
        catch (Exception ex)
        {
            // The evaluator promises not to throw; if it does, fail closed.
            Log.EngineFailed(logger, decisionId, ex);
            await Problems.WriteAsync(context, StatusCodes.Status500InternalServerError, ServerCodes.Internal, "the decision could not be made; denied", decisionId);
            return;
        }

        // Every API allow carries a grant (SPEC §7); one that cannot be signed turns into a deny (fail closed).
        var grantFailed = false;
        if (decision.Verdict == Verdict.Allow && lookup.Policy is { } allowedBy)
        {
            try
            {
                decision = decision with { Grant = grants.Issue(allowedBy, decision, now) };
            }
            catch (GrantKeyException ex)
            {
                Log.GrantFailed(logger, decisionId, ex);
                decision = Evaluator.Error(parsed.Request, claims, now, decisionId, allowedBy.Ref, ex.Code, "the grant for this allow cannot be signed; denied");
                grantFailed = true;
            }
        }

        var serialized = SerializedDecision.Of(decision);   // one serialization: the answer, and the audit row's JSON
        if (!await TryAppendAsync(context, serialized, ct)) return;
        if (logger.IsEnabled(LogLevel.Debug))   // its arguments cost an iterator and a search per request otherwise
        {
            var verdictName = DecisionJson.VerdictName(decision.Verdict);
            var firstFailure = decision.Failures.FirstOrDefault()?.Code ?? "-";
            Log.Decided(logger, decision.DecisionId, verdictName, claims.Repository!, decision.Request.Environment,
                decision.Request.Action == GateAction.Deploy ? "deploy" : "read-secret", firstFailure);
        }

        var response = context.Response;
        var unavailable = lookup.Unavailable || grantFailed;
        response.StatusCode = unavailable
            ? StatusCodes.Status503ServiceUnavailable
            : decision.Verdict == Verdict.Allow ? StatusCodes.Status200OK : StatusCodes.Status403Forbidden;
        if (unavailable) response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-store";
        // A known length: one send with headers and body, where chunked framing sent its terminator in a second one.
        response.ContentLength = serialized.Answer.Length;
        await response.Body.WriteAsync(serialized.Answer, ct);
    }

    private async Task RecordRejectionAndAnswerAsync(HttpContext context, Decision decision, int status, CancellationToken ct)
    {
        if (!await TryAppendAsync(context, SerializedDecision.Of(decision), ct)) return;
        var check = decision.Checks[0];
        await Problems.WriteAsync(context, status, check.Code!, check.Message, decision.DecisionId,
            status == StatusCodes.Status503ServiceUnavailable ? RetryAfterSeconds : null);
    }

    /// <summary>Invariant: nothing is answered for a decision that is not durable (SPEC §1.6); a store
    /// failure is a 503 that carries no verdict.</summary>
    private async Task<bool> TryAppendAsync(HttpContext context, SerializedDecision decision, CancellationToken ct)
    {
        try
        {
            await log.AppendAsync(decision, Api, ct);
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, decision.Decision.DecisionId, ex);
            var code = ex is AuditStoreException store ? store.Code : StoreCodes.Unavailable;
            await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, code,
                "the audit log cannot record the decision; nothing is allowed until it can", decision.Decision.DecisionId, RetryAfterSeconds);
            return false;
        }
    }

    // Per-request lines are Debug: every decision, rejections included, is in the audit log already, and at
    // Information a console line per request cost ~3 µs of CPU and ~30 µs of latency for a lone request (the
    // logger thread's wake-up and write), and floods hosted log ingestion. Failures of the gate itself are Error.
    private static partial class Log
    {
        [LoggerMessage(EventId = 2000, Level = LogLevel.Debug, Message = "decision {DecisionId}: {Verdict} {Action} {Repository} → {Environment} (first failure {Code})")]
        public static partial void Decided(ILogger logger, string decisionId, string verdict, string repository, string environment, string action, string code);

        [LoggerMessage(EventId = 3000, Level = LogLevel.Debug, Message = "decision {DecisionId}: token rejected {Code}: {Reason}")]
        public static partial void TokenRejected(ILogger logger, string decisionId, string code, string reason);

        [LoggerMessage(EventId = 6100, Level = LogLevel.Debug, Message = "decision {DecisionId}: request rejected {Code}: {Reason}")]
        public static partial void RequestRejected(ILogger logger, string decisionId, string code, string reason);

        [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "decision {DecisionId}: audit store unavailable, answered 503")]
        public static partial void StoreFailed(ILogger logger, string decisionId, Exception exception);

        [LoggerMessage(EventId = 3110, Level = LogLevel.Error, Message = "decision {DecisionId}: DG3110 the grant cannot be signed; denied with 503")]
        public static partial void GrantFailed(ILogger logger, string decisionId, Exception exception);

        [LoggerMessage(EventId = 6901, Level = LogLevel.Error, Message = "decision {DecisionId}: DG6901 engine failure")]
        public static partial void EngineFailed(ILogger logger, string decisionId, Exception exception);
    }
}
