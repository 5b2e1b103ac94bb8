using System.Collections.Frozen;
using DeployGate.Engine.Rules;
using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine.Policies;

/// <summary>A pipeline service account: claim selectors, all of which must match.</summary>
internal sealed class IdentityDef(string name, GlobSet? repository, GlobSet? workflow, GlobSet? @ref,
    IReadOnlyList<(string Claim, GlobSet Globs)> claims)
{
    public string Name { get; } = name;

    /// <summary>The literal repositories this identity can match, or null when a pattern has wildcards.</summary>
    public IEnumerable<string>? LiteralRepositories =>
        repository is not null && repository.Globs.All(g => !g.HasWildcards) ? repository.Globs.Select(g => g.Pattern) : null;

    public bool Matches(WorkloadClaims c, string? workflowPath)
    {
        if (repository is not null && !repository.IsMatch(c.Repository)) return false;
        if (workflow is not null && !workflow.IsMatch(workflowPath)) return false;
        if (@ref is not null && !@ref.IsMatch(c.Ref)) return false;
        foreach (var (claim, globs) in claims)
        {
            if (!globs.IsMatch(c.Get(claim))) return false;
        }
        return true;
    }
}

internal sealed class DelegationDef(string role, int toIdentity, string grantedBy, string? reason,
    FrozenSet<string>? environments, DateTimeOffset? from, DateTimeOffset until)
{
    public string Role { get; } = role;
    public int ToIdentity { get; } = toIdentity;
    public HeldRole Held { get; } = new(role, "delegation", grantedBy, until, reason);
    public Check PassCheck { get; } = new("role", CheckResult.Pass, null,
        $"holds role `{role}` by delegation from `{grantedBy}` until {DecisionJson.Instant(until)}");

    public bool ActiveFor(string environment, DateTimeOffset now) =>
        (from is null || from <= now) && now < until &&
        (environments is null || environments.Contains(environment));
}

/// <summary>A named time set: a window or a freeze.</summary>
internal sealed class TimeRule(string name, string zoneId, TimeZoneInfo zone, ITimeSet set)
{
    public string Name { get; } = name;
    public string ZoneId { get; } = zoneId;
    public TimeZoneInfo Zone { get; } = zone;
    public ITimeSet Set { get; } = set;
    public Check WindowPass { get; } = new("window", CheckResult.Pass, null, $"inside window `{name}` ({zoneId})");

    public bool Contains(DateTimeOffset t) => Set.Contains(t);

    public List<OpenInterval> IntervalsIn(DateTimeOffset from, DateTimeOffset to)
    {
        var list = new List<OpenInterval>();
        Set.AddIntervals(from, to, list);
        return Intervals.Normalize(list);
    }

    [ThreadStatic] private static List<OpenInterval>? t_scratch;   // reused: a deny allocates as little as it can

    /// <summary>The first opening at or after <paramref name="t"/> within the horizon, or null. Precondition:
    /// <paramref name="t"/> is outside the set (the window check asks only then). Outside it, the first start at or
    /// after t among the raw intervals is the first start of the merged ones (a merged interval starting earlier
    /// and reaching it would contain t), so no sort and no merge are needed.</summary>
    public DateTimeOffset? NextOpening(DateTimeOffset t, TimeSpan horizon)
    {
        System.Diagnostics.Debug.Assert(!Set.Contains(t), "NextOpening is asked only outside the set");
        var found = t_scratch ??= [];
        foreach (var span in Scheduling.Horizons.Growing(horizon))
        {
            found.Clear();
            Set.AddIntervals(t, t + span, found);
            DateTimeOffset? first = null;
            foreach (var i in found)
            {
                if (i.End > i.Start && i.Start >= t && i.Start < t + span && (first is null || i.Start < first)) first = i.Start;
            }
            if (first is not null) return first;
        }
        return null;
    }

    /// <summary>When the interval covering <paramref name="t"/> ends (merged), or null if beyond the horizon.</summary>
    public DateTimeOffset? CloseAfter(DateTimeOffset t, TimeSpan horizon)
    {
        foreach (var i in IntervalsIn(t, t + horizon))
        {
            if (i.Start <= t && t < i.End) return i.End < t + horizon ? i.End : null;
        }
        return null;
    }
}

internal sealed class FreezeDef(TimeRule rule, FrozenSet<string>? environments, bool deploy, bool readSecret)
{
    public TimeRule Rule { get; } = rule;
    public string Name => Rule.Name;

    public bool AppliesTo(string environment, GateAction action) =>
        (action == GateAction.Deploy ? deploy : readSecret) &&
        (environments is null || environments.Contains(environment));
}

/// <summary>A deploy rule or one secret rule of an environment, with its pass messages precomputed so
/// an allow allocates no strings.</summary>
internal sealed class AccessRule(string[] roles, TimeRule[] windows, GlobSet? targets, GlobSet? refs, GlobSet? names)
{
    public string[] Roles { get; } = roles;
    public TimeRule[] Windows { get; } = windows;
    public GlobSet? Targets { get; } = targets;
    public GlobSet? Refs { get; } = refs;
    /// <summary>Secret names this rule covers (secret rules only).</summary>
    public GlobSet? Names { get; } = names;

    public Check[] RefPass { get; } = Passes("ref", "ref matches approved", refs);
    public Check[] TargetPass { get; } = Passes("target", "target matches approved", targets);
    public Check[] SecretPass { get; } = Passes("secret", "secret matches", names);

    /// <summary>The windows as a deny names them: <c>window `a` (Europe/Berlin)</c> or <c>windows `a`, `b`</c>.</summary>
    public string WindowsLabel { get; } = windows.Length == 1
        ? $"window `{windows[0].Name}` ({windows[0].ZoneId})"
        : $"windows {string.Join(", ", windows.Select(w => $"`{w.Name}`"))}";

    private static Check[] Passes(string check, string text, GlobSet? globs) =>
        globs is null ? [] : [.. globs.Globs.Select(g => new Check(check, CheckResult.Pass, null, $"{text} `{g.Pattern}`"))];
}

internal sealed class EnvironmentDef(
    EnvironmentInfo info,
    string? requiredGitHubEnvironment,
    AccessRule? deploy,
    AccessRule[] secrets,
    string[] breakGlassRoles,
    FreezeDef[] deployFreezes,
    FreezeDef[] secretFreezes)
{
    public EnvironmentInfo Info { get; } = info;
    public string Name => Info.Name;
    public string? RequiredGitHubEnvironment { get; } = requiredGitHubEnvironment;
    public AccessRule? Deploy { get; } = deploy;
    public AccessRule[] Secrets { get; } = secrets;
    public string[] BreakGlassRoles { get; } = breakGlassRoles;
    public Check PassCheck { get; } = new("environment", CheckResult.Pass, null, requiredGitHubEnvironment is null
        ? $"environment `{info.Name}` is defined"
        : $"environment `{info.Name}` is defined and the job runs in GitHub environment `{requiredGitHubEnvironment}`");

    public FreezeDef[] FreezesFor(GateAction action) => action == GateAction.Deploy ? deployFreezes : secretFreezes;

    /// <summary>The rule that governs a request: the deploy rule, or the first secret rule whose names match.</summary>
    public AccessRule? RuleFor(GateAction action, string? secret)
    {
        if (action == GateAction.Deploy) return Deploy;
        if (secret is null) return null;
        foreach (var s in Secrets)
        {
            if (s.Names!.IsMatch(secret)) return s;
        }
        return null;
    }
}
