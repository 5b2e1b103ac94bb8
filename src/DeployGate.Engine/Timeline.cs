using System.Collections.Immutable;
using DeployGate.Engine.Parsing;
using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine;

/// <summary>A half-open interval of instants <c>[Start, End)</c> during which an action is allowed by time.</summary>
public readonly record struct OpenInterval(DateTimeOffset Start, DateTimeOffset End);

/// <summary>When an environment is open for an action: its windows minus its freezes, merged.
/// Agrees with <see cref="Evaluator"/>'s <c>window</c> and <c>freeze</c> checks at every instant.</summary>
public static class Timeline
{
    /// <summary>Horizon of <c>next_allowed_at</c> and of the policy warnings: 366 days.</summary>
    public static TimeSpan Horizon => PolicyCompiler.Horizon;

    /// <param name="secret">For <c>read-secret</c>: the secret whose rule applies; null = any secret rule.</param>
    /// <returns>Open intervals within [from, to); empty for an unknown environment.</returns>
    public static ImmutableArray<OpenInterval> Open(CompiledPolicy policy, string environment, GateAction action,
        DateTimeOffset from, DateTimeOffset to, string? secret = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var env = policy.FindEnvironment(environment);
        return env is null || to <= from ? [] : [.. TimelineBuilder.Open(env, action, secret, from, to)];
    }

    /// <summary>For an allowed request: the instant its time permission lapses on its own — the close of
    /// the window that allowed it or the start of the next applicable freeze, whichever is first — or null
    /// when that is more than <paramref name="horizon"/> away. Grants bound their <c>exp</c> by it.</summary>
    public static DateTimeOffset? OpenUntil(CompiledPolicy policy, DecisionRequest request, DateTimeOffset now, TimeSpan horizon)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(request);
        var env = policy.FindEnvironment(request.Environment);
        if (env is null) return now;
        foreach (var i in TimelineBuilder.Open(env, request.Action, request.Secret, now, now + horizon))
        {
            if (i.Start <= now && now < i.End) return i.End < now + horizon ? i.End : null;
        }
        return now; // not open now: nothing to bound (the request was not allowed by time)
    }
}
