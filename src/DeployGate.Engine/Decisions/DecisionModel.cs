using System.Collections.Immutable;

namespace DeployGate.Engine;

/// <summary>What a pipeline asks to do. Wire names: <c>deploy</c>, <c>read-secret</c>.</summary>
public enum GateAction
{
    Deploy,
    ReadSecret,
}

public enum Verdict
{
    Allow,
    Deny,
}

/// <summary>Result of one check. Wire names: <c>pass</c>, <c>fail</c>, <c>overridden</c>, <c>not_applicable</c>.</summary>
public enum CheckResult
{
    Pass,
    Fail,
    Overridden,
    NotApplicable,
}

/// <summary>One request to the gate (SPEC §3). <see cref="BreakGlassReason"/> is null when break-glass is not asked.</summary>
public sealed record DecisionRequest(
    GateAction Action,
    string Environment,
    string? Target = null,
    string? Secret = null,
    string? BreakGlassReason = null)
{
    /// <summary>A review of a whole job rather than of one operation: a GitHub deployment protection
    /// rule, which names no target. The <c>target</c> check is then <c>not_applicable</c>; the job's
    /// deploy step is checked for its target when it asks the gate itself.</summary>
    public bool WholeJob { get; init; }
}

/// <summary>One evaluated check: its name (<c>environment</c>, <c>role</c>, <c>ref</c>, <c>target</c>,
/// <c>secret</c>, <c>window</c>, <c>freeze</c>), result, code (null on pass) and a sentence.</summary>
public sealed record Check(string Name, CheckResult Result, string? Code, string Message);

/// <summary>A role the identity holds, and how.</summary>
public sealed record HeldRole(string Role, string Via, string? GrantedBy = null, DateTimeOffset? Until = null, string? Reason = null);

/// <summary>Who asked, as the decision reports it.</summary>
public sealed record DecisionIdentity(
    string? Repository,
    string? Workflow,
    string? Ref,
    string? Sha,
    string? RunId,
    string? RunAttempt,
    string? Actor,
    ImmutableArray<string> Identities,
    ImmutableArray<HeldRole> Roles);

/// <summary>Where the policy came from: <c>github:owner/repo/.github/deploygate.yml</c> or <c>file:…</c>, and its revision.</summary>
public sealed record PolicyRef(string Source, string? Revision);

/// <summary>A per-task credential issued on allow (SPEC §7).</summary>
public sealed record GrantInfo(string Token, string Jti, DateTimeOffset ExpiresAt);

/// <summary>A decision that explains itself (SPEC §3). Serialized by <see cref="DecisionJson"/>.</summary>
public sealed record Decision(
    string DecisionId,
    Verdict Verdict,
    DateTimeOffset EvaluatedAt,
    DecisionRequest Request,
    DecisionIdentity Identity,
    ImmutableArray<Check> Checks,
    DateTimeOffset? NextAllowedAt,
    bool BreakGlass,
    PolicyRef Policy,
    GrantInfo? Grant = null)
{
    public IEnumerable<Check> Failures => Checks.Where(c => c.Result == CheckResult.Fail);
}
