using DeployGate.Engine.Policies;

namespace DeployGate.Engine.Scheduling;

/// <summary>The one place that turns an environment's windows and freezes into open intervals. The
/// evaluator's <c>next_allowed_at</c>, <c>deploygate windows</c> and the compile-time warnings all use it.</summary>
internal static class TimelineBuilder
{
    /// <param name="secret">For <c>read-secret</c>: the secret's rule; null means any secret rule.</param>
    public static List<OpenInterval> Open(EnvironmentDef env, GateAction action, string? secret, DateTimeOffset from, DateTimeOffset to)
    {
        var rules = new List<AccessRule>();
        if (action == GateAction.Deploy)
        {
            if (env.Deploy is not null) rules.Add(env.Deploy);
        }
        else if (secret is not null)
        {
            if (env.RuleFor(action, secret) is { } rule) rules.Add(rule);
        }
        else
        {
            rules.AddRange(env.Secrets);
        }

        var open = new List<OpenInterval>();
        foreach (var rule in rules)
        {
            if (rule.Windows.Length == 0)
            {
                open.Add(new OpenInterval(from, to));
                continue;
            }
            foreach (var window in rule.Windows) window.Set.AddIntervals(from, to, open);
        }
        open = Intervals.Normalize(open);

        var frozen = new List<OpenInterval>();
        foreach (var freeze in env.FreezesFor(action)) freeze.Rule.Set.AddIntervals(from, to, frozen);
        frozen = Intervals.Normalize(frozen);

        return Intervals.Clip(Intervals.Subtract(open, frozen), from, to);
    }
}
