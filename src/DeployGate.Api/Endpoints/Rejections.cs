using System.Collections.Immutable;
using DeployGate.Engine;

namespace DeployGate.Api;

/// <summary>The audit record of a request refused before any policy was consulted (token rejected, body
/// malformed): a deny with one failing <c>token</c> or <c>request</c> check carrying the code. Identity
/// fields are taken only from verified claims, so a forged token never puts its claims in the log.</summary>
internal static class Rejections
{
    public static readonly PolicyRef NoPolicy = new("none", null);

    public static Decision Create(DecisionRequest request, WorkloadClaims? claims, DateTimeOffset now, string decisionId,
        string check, string code, string message) => new(
            decisionId,
            Verdict.Deny,
            now,
            request,
            new DecisionIdentity(claims?.Repository, claims?.Workflow, claims?.Ref, claims?.Sha, claims?.RunId, claims?.RunAttempt,
                claims?.Actor, [], []),
            ImmutableArray.Create(new Check(check, CheckResult.Fail, code, message)),
            NextAllowedAt: null,
            BreakGlass: false,
            NoPolicy);
}
