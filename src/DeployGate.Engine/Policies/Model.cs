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
    /// <summary>The zone's remembered offsets, for the local times a deny names (<see cref="LocalTime"/>).</summary>
    public ZoneOffsets Offsets { get; } = ZoneOffsets.Of(zone);
    public ITimeSet Set { get; } = set;
    public Check WindowPass { get; } = new("window", CheckResult.Pass, null, $"inside window `{name}` ({zoneId})");

    /// <summary>A span of time on which membership is known and constant: inside (an interval of the set covering the
    /// last instant asked) or outside (from an instant outside the set up to the set's next opening, or up to the
    /// horizon when none was found). It saves the time-zone conversions and the search that every request in the same
    /// span would repeat (requests come in the order of the clock, and a window or freeze stays open or closed for hours).</summary>
    private sealed class Segment(DateTimeOffset from, DateTimeOffset until, bool inside, bool untilIsOpening)
        : KnownSpan(from, until)
    {
        public bool Inside { get; } = inside;
        /// <summary>Outside only: <see cref="KnownSpan.Until"/> is the set's next opening (not the horizon's end).</summary>
        public bool UntilIsOpening { get; } = untilIsOpening;
    }

    private Segment? _segment;

    public bool Contains(DateTimeOffset t)
    {
        var s = Volatile.Read(ref _segment);
        return s is not null && s.Covers(t) ? s.Inside : Learn(t).Inside;
    }

    /// <summary>Until when the membership of <paramref name="t"/> is known to stay what <see cref="Contains"/> said
    /// (the end of the remembered segment covering it), or null when none does.</summary>
    public DateTimeOffset? KnownUntil(DateTimeOffset t) => Volatile.Read(ref _segment) is { } s && s.Covers(t) ? s.Until : null;

    /// <summary>Membership of <paramref name="t"/> and how far it lasts, computed from the set and remembered.</summary>
    private Segment Learn(DateTimeOffset t)
    {
        Segment s;
        if (Set.Contains(t, out var covering)) s = new(covering.Start, covering.End, inside: true, untilIsOpening: false);
        else if (Search(t, Timeline.Horizon) is { } opens) s = new(t, opens, inside: false, untilIsOpening: true);
        else s = new(t, t + Timeline.Horizon, inside: false, untilIsOpening: false);
        Volatile.Write(ref _segment, s);
        return s;
    }

    public List<OpenInterval> IntervalsIn(DateTimeOffset from, DateTimeOffset to)
    {
        var list = new List<OpenInterval>();
        Set.AddIntervals(from, to, list);
        return Intervals.Normalize(list);
    }

    /// <summary>The first opening at or after <paramref name="t"/> within the horizon, or null. Precondition:
    /// <paramref name="t"/> is outside the set (the window check asks only then). Answered from the remembered
    /// segment when it covers <paramref name="t"/> (no opening lies between its start and its end).</summary>
    public DateTimeOffset? NextOpening(DateTimeOffset t, TimeSpan horizon)
    {
        System.Diagnostics.Debug.Assert(!Set.Contains(t, out _), "NextOpening is asked only outside the set");
        var s = Volatile.Read(ref _segment);
        if (s is null || !s.Covers(t)) s = Learn(t);
        if (s.Inside) return Search(t, horizon);   // precondition broken: answer as the set says, remember nothing
        if (s.UntilIsOpening) return s.Until < t + horizon ? s.Until : null;
        return t + horizon <= s.Until ? null : Search(t, horizon);   // none before s.Until; look past it only if asked to
    }

    /// <summary><see cref="NextOpening"/> from the set. Outside the set, the first start at or after t among the raw
    /// intervals is the first start of the merged ones (a merged interval starting earlier and reaching it would
    /// contain t), so no list, sort or merge is needed (<see cref="ITimeSet.FirstStart"/>).</summary>
    internal DateTimeOffset? Search(DateTimeOffset t, TimeSpan horizon) => Set.FirstStart(t, t + horizon);

    private Segment? _closing;   // inside only: [an instant asked, the end of the merged interval covering it)

    /// <summary>When the interval covering <paramref name="t"/> ends (merged), or null if beyond the horizon. A merged
    /// interval found whole (ending within the horizon) is remembered: every later instant of it closes at its end.
    /// Searched over growing spans (<see cref="Scheduling.Horizons"/>): a merged interval of the intervals overlapping
    /// [t, t + span) that covers t and ends before t + span is the whole merged interval, because any interval that
    /// would extend it starts at or before its end, so overlaps the span and is among those merged; one that reaches
    /// t + span may go on, so the next span is searched. The last span is the horizon, so the answer is the one a single
    /// search over the whole horizon gives, and a freeze that ends soon costs days of intervals, not a year's.</summary>
    public DateTimeOffset? CloseAfter(DateTimeOffset t, TimeSpan horizon)
    {
        if (Volatile.Read(ref _closing) is { } known && known.Covers(t)) return known.Until < t + horizon ? known.Until : null;
        foreach (var span in Scheduling.Horizons.Growing(horizon))
        {
            var end = CoveringEnd(t, t + span);
            if (end is not { } e) return null;   // nothing covers t (any interval covering t overlaps every span)
            if (e < t + span)
            {
                Volatile.Write(ref _closing, new Segment(t, e, inside: true, untilIsOpening: false));
                return e;
            }
        }
        return null;
    }

    /// <summary>The end of the merged interval, of those overlapping [t, to), that covers t; null when none does.</summary>
    private DateTimeOffset? CoveringEnd(DateTimeOffset t, DateTimeOffset to)
    {
        foreach (var i in IntervalsIn(t, to))
        {
            if (i.Start <= t && t < i.End) return i.End;
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

    private WindowDenial? _lastWindowDenial;

    /// <summary>The window check's last deny of this rule, valid from the instant it was made until the opening it
    /// names (see <see cref="WindowDenial"/>); null until one was made.</summary>
    public WindowDenial? LastWindowDenial
    {
        get => Volatile.Read(ref _lastWindowDenial);
        set => Volatile.Write(ref _lastWindowDenial, value);
    }

    private ClosedSpan? _lastClosedSpan;

    /// <summary>The last <c>next_allowed_at</c> found for this rule, valid from the instant it was asked for until
    /// that answer (see <see cref="ClosedSpan"/>); null until one was found.</summary>
    public ClosedSpan? LastClosedSpan
    {
        get => Volatile.Read(ref _lastClosedSpan);
        set => Volatile.Write(ref _lastClosedSpan, value);
    }

    private RoleDenial? _lastRoleDenial;

    /// <summary>The role check's last failure on this rule, with what its message was made of; null until one was made.</summary>
    public RoleDenial? LastRoleDenial
    {
        get => Volatile.Read(ref _lastRoleDenial);
        set => Volatile.Write(ref _lastRoleDenial, value);
    }

    /// <summary>The windows as a deny names them: <c>window `a` (Europe/Berlin)</c> or <c>windows `a`, `b`</c>.</summary>
    public string WindowsLabel { get; } = windows.Length == 1
        ? $"window `{windows[0].Name}` ({windows[0].ZoneId})"
        : $"windows {string.Join(", ", windows.Select(w => $"`{w.Name}`"))}";

    private static Check[] Passes(string check, string text, GlobSet? globs) =>
        globs is null ? [] : [.. globs.Globs.Select(g => new Check(check, CheckResult.Pass, null, $"{text} `{g.Pattern}`"))];
}

/// <summary>A failed role check of one rule and everything its message depends on besides the rule (whose environment,
/// action and roles are fixed): the matched identities, the roles they hold (by membership and by delegation, in the
/// order the decision lists them), and, when no identity matched, the repository, workflow and ref the message names.
/// A request that brings the same again gets the same check: a workflow that keeps asking for what it may not do costs
/// no new message. Immutable, published with one reference write.</summary>
internal sealed class RoleDenial(int[] matched, string[] held, string? repository, string? workflow, string? @ref, Check check)
{
    public Check Check { get; } = check;

    public static RoleDenial Of(List<int> matched, List<HeldRole> held, WorkloadClaims claims, Check check)
    {
        var roles = new string[held.Count];
        for (var i = 0; i < roles.Length; i++) roles[i] = held[i].Role;
        return matched.Count == 0
            ? new RoleDenial([], roles, claims.Repository, claims.Workflow, claims.Ref, check)
            : new RoleDenial([.. matched], roles, null, null, null, check);
    }

    public bool Fits(List<int> matchedNow, List<HeldRole> heldNow, WorkloadClaims claims)
    {
        if (matchedNow.Count != matched.Length || heldNow.Count != held.Length) return false;
        for (var i = 0; i < matched.Length; i++)
        {
            if (matchedNow[i] != matched[i]) return false;
        }
        for (var i = 0; i < held.Length; i++)
        {
            if (!string.Equals(heldNow[i].Role, held[i], StringComparison.Ordinal)) return false;
        }
        return matched.Length > 0 || (string.Equals(claims.Repository, repository, StringComparison.Ordinal)
            && string.Equals(claims.Workflow, workflow, StringComparison.Ordinal)
            && string.Equals(claims.Ref, @ref, StringComparison.Ordinal));
    }
}

/// <summary>A span of time, [<see cref="From"/>, <see cref="Until"/>), on which something the engine worked out holds
/// at every instant: what a compiled policy remembers between requests (each a pure function of the instant, so
/// remembering changes no answer). Immutable, and published with one reference write: a reader on another thread
/// sees a whole span or the one before it.</summary>
internal abstract class KnownSpan(DateTimeOffset from, DateTimeOffset until)
{
    public DateTimeOffset From { get; } = from;
    public DateTimeOffset Until { get; } = until;

    public bool Covers(DateTimeOffset t) => From <= t && t < Until;
}

/// <summary>A check's result that holds for every instant of the span.</summary>
internal class TimedCheck(DateTimeOffset from, DateTimeOffset until, Check check) : KnownSpan(from, until)
{
    public Check Check { get; } = check;
}

/// <summary>A window check that failed at <see cref="KnownSpan.From"/>, with <see cref="Opens"/> the first opening of
/// any of the rule's windows after it. No window of the rule has an opening in [From, Opens), and none contains From,
/// so none contains any instant of that span and the first opening after each of them is still <see cref="Opens"/>:
/// the same failed check, with the same message, for every request in it.</summary>
/// <param name="opensFrozen">Whether a freeze of the rule's environment and action covers <see cref="Opens"/> (then
/// the first allowed instant is later, and the timeline finds it). A rule belongs to one environment and one action
/// (the compiler makes one per <c>deploy</c> and per <c>secrets</c> item), so its freezes are fixed.</param>
internal sealed class WindowDenial(DateTimeOffset from, DateTimeOffset opens, Check check, bool opensFrozen)
    : TimedCheck(from, opens, check)
{
    public DateTimeOffset Opens => Until;
    public bool OpensFrozen { get; } = opensFrozen;
}

/// <summary>The time checks of a rule (its windows, its environment's freezes for its action) fail on all of
/// [<see cref="KnownSpan.From"/>, <see cref="Next"/>) and pass at <see cref="Next"/>: the first allowed instant after
/// any instant of that span is <see cref="Next"/>, so a deny in it needs no timeline search.</summary>
internal sealed class ClosedSpan(DateTimeOffset from, DateTimeOffset next) : KnownSpan(from, next)
{
    public DateTimeOffset Next => Until;
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

    private TimedCheck? _deployFreezeDeny;
    private TimedCheck? _secretFreezeDeny;

    /// <summary>The freeze check's last failure for <paramref name="action"/> here, with the span on which every
    /// freeze's membership, and so the failure and its message, stays the same; null until one was made.</summary>
    public TimedCheck? LastFreezeDeny(GateAction action) =>
        Volatile.Read(ref action == GateAction.Deploy ? ref _deployFreezeDeny : ref _secretFreezeDeny);

    public void RememberFreezeDeny(GateAction action, TimedCheck deny) =>
        Volatile.Write(ref action == GateAction.Deploy ? ref _deployFreezeDeny : ref _secretFreezeDeny, deny);

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
