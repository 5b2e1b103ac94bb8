using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using DeployGate.Engine.Policies;
using DeployGate.Engine.Scheduling;

namespace DeployGate.Engine;

/// <summary>Decides one request against a compiled policy at one instant (SPEC §3). Pure: no I/O, no clock.</summary>
public static class Evaluator
{
    /// <summary>Shortest break-glass reason accepted (SPEC §3).</summary>
    public const int MinBreakGlassReason = 10;

    private static readonly IFormatProvider Invariant = System.Globalization.CultureInfo.InvariantCulture;
    private static readonly Check FreezePass = new("freeze", CheckResult.Pass, null, "no freeze applies");
    private static readonly Check NoWindowLimit = new("window", CheckResult.NotApplicable, null, "no window limit");
    private static readonly Check RefsUnrestricted = new("ref", CheckResult.NotApplicable, null, "source refs are not restricted");
    private static readonly Check TargetsUnrestricted = new("target", CheckResult.NotApplicable, null, "targets are not restricted");
    private static readonly Check WholeJobTarget = new("target", CheckResult.NotApplicable, null,
        "a review of the whole job names no target; the job's deploy step is checked for its target when it asks");

    /// <summary>All checks, in order, none short-circuited. Never throws for any request or claims:
    /// an internal error becomes a deny carrying <c>DG2900</c>.</summary>
    public static Decision Evaluate(CompiledPolicy policy, DecisionRequest request, WorkloadClaims claims, DateTimeOffset now, string decisionId)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(claims);
        try
        {
            return Decide(policy, request, claims, now, decisionId);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Fail closed (Cedar's rule): an error never grants.
            return Error(request, claims, now, decisionId, policy.Ref, "DG2900", $"internal error during evaluation: {ex.GetType().Name}");
        }
    }

    /// <summary>A deny that records an error outside the engine (policy missing or invalid, store down):
    /// one failing <c>policy</c> check with the given code and message.</summary>
    public static Decision Error(DecisionRequest request, WorkloadClaims claims, DateTimeOffset now, string decisionId,
        PolicyRef policy, string code, string message)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(claims);
        return new Decision(decisionId, Verdict.Deny, now, request, IdentityOf(claims, [], []),
            [new Check("policy", CheckResult.Fail, code, message)], null, false, policy);
    }

    private static DecisionIdentity IdentityOf(WorkloadClaims c, ImmutableArray<string> identities, ImmutableArray<HeldRole> roles) =>
        new(c.Repository, c.Workflow, c.Ref, c.Sha, c.RunId, c.RunAttempt, c.Actor, identities, roles);

    // Scratch for one decision on this thread (Decide does not nest): the decision keeps copies, so a request allocates
    // only what it returns. Cleared at the start of each decision.
    [ThreadStatic] private static List<int>? t_matched;
    [ThreadStatic] private static List<HeldRole>? t_held;

    private static Decision Decide(CompiledPolicy policy, DecisionRequest request, WorkloadClaims claims, DateTimeOffset now, string decisionId)
    {
        var env = policy.FindEnvironment(request.Environment);
        var action = request.Action;
        var workflow = claims.Workflow;

        // Who is asking: matched identities, and the roles they hold here and now.
        // Candidates: identities indexed by the literal repository, and those with wildcard repositories,
        // merged in policy order (the order the decision lists them in).
        var matched = t_matched ??= new List<int>(4);
        matched.Clear();
        var byRepository = claims.Repository is not null && policy.IdentitiesByRepository.TryGetValue(claims.Repository, out var indexed) ? indexed : [];
        var always = policy.IdentitiesAlwaysTried;
        for (int a = 0, b = 0; a < byRepository.Length || b < always.Length;)
        {
            var i = b >= always.Length || (a < byRepository.Length && byRepository[a] < always[b]) ? byRepository[a++] : always[b++];
            if (policy.Identities[i].Matches(claims, workflow)) matched.Add(i);
        }
        var roleCount = policy.RoleNames.Length;
        var member = ArrayPool<bool>.Shared.Rent(Math.Max(roleCount, 1));
        Array.Clear(member, 0, roleCount);
        var held = t_held ??= new List<HeldRole>(4);
        held.Clear();
        foreach (var i in matched)
        {
            foreach (var r in policy.RolesOfIdentity[i])
            {
                if (member[r]) continue;
                member[r] = true;
                held.Add(policy.HeldByMembership[r]);
            }
        }
        List<DelegationDef>? delegated = null;
        if (env is not null)
        {
            foreach (var d in policy.Delegations)
            {
                if (matched.Contains(d.ToIdentity) && d.ActiveFor(env.Name, now))
                {
                    (delegated ??= []).Add(d);
                    held.Add(d.Held);
                }
            }
        }

        Check? HeldCheck(string role)
        {
            if (policy.RoleIndex.TryGetValue(role, out var r) && member[r]) return policy.MembershipPass[r];
            if (delegated is not null)
            {
                foreach (var d in delegated)
                {
                    if (d.Role == role) return d.PassCheck;
                }
            }
            return null;
        }

        var rule = env?.RuleFor(action, request.Secret);
        var checks = new Check[6];

        // 1. environment
        checks[0] = EnvironmentCheck(env, request, claims);

        // 2. role
        if (env is null) checks[1] = new("role", CheckResult.NotApplicable, null, "no environment to hold a role in");
        else if (rule is null) checks[1] = new("role", CheckResult.NotApplicable, null, "no rule applies");
        else
        {
            Check? pass = null;
            foreach (var role in rule.Roles)
            {
                pass = HeldCheck(role);
                if (pass is not null) break;
            }
            checks[1] = pass ?? RoleDenied(policy, rule, env, action, claims, matched, held);
        }

        // 3. ref
        if (rule is null) checks[2] = new("ref", CheckResult.NotApplicable, null, "no rule applies");
        else if (rule.Refs is null) checks[2] = RefsUnrestricted;
        else
        {
            var i = rule.Refs.FirstMatch(claims.Ref);
            checks[2] = i >= 0 ? rule.RefPass[i] : new("ref", CheckResult.Fail, "DG2021", claims.Ref is null
                ? "the token carries no `ref` claim"
                : $"ref `{claims.Ref}` is not approved for `{env!.Name}`; approved: {rule.Refs}");
        }

        // 4. target | secret
        checks[3] = action == GateAction.Deploy ? TargetCheck(env, rule, request) : SecretCheck(env, rule, request);

        // 5. window, 6. freeze
        var breakGlassAsked = request.BreakGlassReason is { } reason && reason.Trim().Length >= MinBreakGlassReason;
        var breakGlassHeld = false;
        if (breakGlassAsked && env is not null)
        {
            foreach (var role in env.BreakGlassRoles)
            {
                if (HeldCheck(role) is not null) { breakGlassHeld = true; break; }
            }
        }
        var breakGlassInEffect = breakGlassAsked && breakGlassHeld;
        checks[4] = WindowCheck(env, rule, action, now, out var windowDenial);
        checks[5] = FreezeCheck(env, action, now);
        if (checks[4].Result == CheckResult.Fail || checks[5].Result == CheckResult.Fail)
        {
            for (var k = 4; k <= 5; k++)
            {
                if (checks[k].Result != CheckResult.Fail) continue;
                checks[k] = breakGlassInEffect
                    ? checks[k] with { Result = CheckResult.Overridden, Message = $"{checks[k].Message}; overridden by break-glass" }
                    : breakGlassAsked
                        ? checks[k] with { Message = $"{checks[k].Message}; break-glass asked, but {BreakGlassHint(env)}" }
                        : checks[k];
            }
        }
        ArrayPool<bool>.Shared.Return(member);

        // Flagged only when break-glass changed the outcome of a check (SPEC §3: overridden → flagged).
        var breakGlass = breakGlassInEffect && (checks[4].Result == CheckResult.Overridden || checks[5].Result == CheckResult.Overridden);

        var deny = false;
        var onlyTime = true;
        for (var k = 0; k < checks.Length; k++)
        {
            if (checks[k].Result != CheckResult.Fail) continue;
            deny = true;
            if (k < 4) onlyTime = false;
        }

        DateTimeOffset? next = null;
        if (deny && onlyTime && env is not null && rule is not null)
        {
            next = NextAllowed(env, rule, action, request.Secret, now, checks[5].Result == CheckResult.Fail ? null : windowDenial);
        }

        var identities = new string[matched.Count];
        for (var k = 0; k < matched.Count; k++) identities[k] = policy.Identities[matched[k]].Name;
        return new Decision(
            decisionId,
            deny ? Verdict.Deny : Verdict.Allow,
            now,
            request,
            IdentityOf(claims, ImmutableCollectionsMarshal.AsImmutableArray(identities), ImmutableCollectionsMarshal.AsImmutableArray(held.ToArray())),
            ImmutableCollectionsMarshal.AsImmutableArray(checks),
            next,
            breakGlass,
            policy.Ref);
    }

    /// <summary>The first instant at or after <paramref name="now"/> at which the time checks pass, or null within the
    /// horizon; asked only when they alone deny. Remembered per rule (<see cref="ClosedSpan"/>).</summary>
    private static DateTimeOffset? NextAllowed(EnvironmentDef env, AccessRule rule, GateAction action, string? secret,
        DateTimeOffset now, WindowDenial? windowOnly)
    {
        if (rule.LastClosedSpan is { } closed && closed.Covers(now)) return closed.Next;
        DateTimeOffset? next;
        if (windowOnly is { OpensFrozen: false })
        {
            // Only the window failed, and no freeze covers its opening: the windows stay closed until then and the
            // time checks pass at it, so it is the first allowed instant (the timeline below gives the same answer, slower).
            next = windowOnly.Opens;
        }
        else if (!TryStepToAllowed(env, rule, action, now, out next))
        {
            // Look a little ahead first: most windows open within days, and the scan's cost grows with its span.
            foreach (var span in Horizons.Growing(Timeline.Horizon))
            {
                var open = TimelineBuilder.Open(env, action, secret, now, now + span);
                if (open.Count > 0)
                {
                    next = open[0].Start > now ? open[0].Start : now;
                    break;
                }
            }
        }
        // A window-only deny's answer is already remembered: the same window deny answers every instant until it opens.
        if (next is { } n && n > now && windowOnly is not { OpensFrozen: false }) rule.LastClosedSpan = new ClosedSpan(now, n);
        return next;
    }

    /// <summary>At most this many steps before <see cref="NextAllowed"/> builds the timeline instead (a freeze that covers
    /// opening after opening of a window would otherwise take a step for each).</summary>
    private const int MaxSteps = 16;

    /// <summary>The first allowed instant found by stepping from <paramref name="now"/>: out of the freezes that cover the
    /// instant (to the latest of their ends: each covers everything up to its own), else to the windows' first opening
    /// (none is inside a window before it), until an instant is inside a window and in no freeze. No step passes an
    /// allowed instant, so the first one reached is the timeline's first (windows minus freezes); each step asks the
    /// rules, which remember their spans, instead of building a year of intervals. False when it took
    /// <see cref="MaxSteps"/> steps without settling.</summary>
    private static bool TryStepToAllowed(EnvironmentDef env, AccessRule rule, GateAction action, DateTimeOffset now, out DateTimeOffset? next)
    {
        var end = now + Timeline.Horizon;
        var t = now;
        var freezes = env.FreezesFor(action);
        for (var step = 0; step < MaxSteps; step++)
        {
            next = null;
            if (t >= end) return true;

            DateTimeOffset? thaw = null;
            foreach (var f in freezes)
            {
                if (!f.Rule.Contains(t)) continue;
                if (f.Rule.CloseAfter(t, Timeline.Horizon) is not { } ends) return true;   // frozen past the horizon
                if (thaw is null || ends > thaw) thaw = ends;
            }
            if (thaw is { } thawed)
            {
                t = thawed;
                continue;
            }

            if (rule.Windows.Length == 0)
            {
                next = t;
                return true;
            }
            foreach (var w in rule.Windows)
            {
                if (!w.Contains(t)) continue;
                next = t;
                return true;
            }
            DateTimeOffset? opens = null;
            foreach (var w in rule.Windows)
            {
                if (w.NextOpening(t, Timeline.Horizon) is { } o && (opens is null || o < opens)) opens = o;
            }
            if (opens is not { } opening) return true;   // no window opens within the horizon
            t = opening;
        }
        next = null;
        return false;
    }

    private static string BreakGlassHint(EnvironmentDef? env) => env is null || env.BreakGlassRoles.Length == 0
        ? "this environment has no break-glass roles"
        : $"the identity holds none of its break-glass roles ({string.Join(", ", env.BreakGlassRoles.Select(r => $"`{r}`"))})";

    private static Check EnvironmentCheck(EnvironmentDef? env, DecisionRequest request, WorkloadClaims claims)
    {
        if (env is null)
            return new("environment", CheckResult.Fail, "DG2001", $"environment `{request.Environment}` is not defined in the policy");
        var problems = new List<(string Code, string Message)>(0);
        if (env.RequiredGitHubEnvironment is { } required && !string.Equals(claims.Environment, required, StringComparison.OrdinalIgnoreCase))
        {
            problems.Add(("DG2002", claims.Environment is null
                ? $"`{env.Name}` requires the job to run in GitHub environment `{required}`; the token names no environment"
                : $"`{env.Name}` requires the job to run in GitHub environment `{required}`; the token names `{claims.Environment}`"));
        }
        if (request.Action == GateAction.Deploy && env.Deploy is null)
            problems.Add(("DG2003", $"environment `{env.Name}` has no `deploy` rule"));
        if (request.Action == GateAction.ReadSecret && env.Secrets.Length == 0)
            problems.Add(("DG2003", $"environment `{env.Name}` has no `secrets` rules"));
        return problems.Count == 0
            ? env.PassCheck
            : new("environment", CheckResult.Fail, problems[0].Code, string.Join("; ", problems.Select(p => p.Message)));
    }

    /// <summary><see cref="RoleFailure"/>, or the rule's last one when it was made of the same (<see cref="RoleDenial"/>).</summary>
    private static Check RoleDenied(CompiledPolicy policy, AccessRule rule, EnvironmentDef env, GateAction action,
        WorkloadClaims claims, List<int> matched, List<HeldRole> held)
    {
        if (rule.LastRoleDenial is { } last && last.Fits(matched, held, claims)) return last.Check;
        var check = RoleFailure(policy, rule, env, action, claims, matched, held);
        rule.LastRoleDenial = RoleDenial.Of(matched, held, claims, check);
        return check;
    }

    private static Check RoleFailure(CompiledPolicy policy, AccessRule rule, EnvironmentDef env, GateAction action,
        WorkloadClaims claims, List<int> matched, List<HeldRole> held)
    {
        var what = action == GateAction.Deploy ? $"deploy to `{env.Name}`" : $"read this secret in `{env.Name}`";
        if (rule.Roles.Length == 0)
            return new("role", CheckResult.Fail, "DG2011", $"no role may {what}");
        var needed = string.Join(", ", rule.Roles.Select(r => $"`{r}`"));
        if (matched.Count == 0)
            return new("role", CheckResult.Fail, "DG2011",
                $"needs one of {needed} to {what}; the token (repository `{claims.Repository}`, workflow `{claims.Workflow}`, ref `{claims.Ref}`) matches no identity of the policy");
        var holds = held.Count == 0 ? "no role" : string.Join(", ", held.Select(h => $"`{h.Role}`").Distinct());
        var names = string.Join(", ", matched.Select(i => $"`{policy.Identities[i].Name}`"));
        return new("role", CheckResult.Fail, "DG2011", $"needs one of {needed} to {what}; identity {names} holds {holds}");
    }

    private static Check TargetCheck(EnvironmentDef? env, AccessRule? rule, DecisionRequest request)
    {
        if (rule is null) return new("target", CheckResult.NotApplicable, null, "no rule applies");
        if (rule.Targets is null) return TargetsUnrestricted;
        if (request.WholeJob && request.Target is null) return WholeJobTarget;
        if (request.Target is null)
            return new("target", CheckResult.Fail, "DG2032", $"no target given; `{env!.Name}` approves {rule.Targets}");
        var i = rule.Targets.FirstMatch(request.Target);
        return i >= 0 ? rule.TargetPass[i]
            : new("target", CheckResult.Fail, "DG2031", $"target `{request.Target}` is not approved for `{env!.Name}`; approved: {rule.Targets}");
    }

    private static Check SecretCheck(EnvironmentDef? env, AccessRule? rule, DecisionRequest request)
    {
        if (request.Secret is null) return new("secret", CheckResult.Fail, "DG2042", "no secret named; `read-secret` needs `secret`");
        if (env is null) return new("secret", CheckResult.NotApplicable, null, "no environment to read a secret from");
        if (rule is null)
            return new("secret", CheckResult.Fail, "DG2041", $"no secret rule of `{env.Name}` covers `{request.Secret}`");
        return rule.SecretPass[rule.Names!.FirstMatch(request.Secret)];
    }

    /// <summary>Passes inside any of the rule's windows; else fails naming the first opening, and
    /// <paramref name="denial"/> holds it (null when none opens within the horizon). A deny inside the span of the
    /// rule's last one is that one (<see cref="WindowDenial"/>): no search, no new message.</summary>
    private static Check WindowCheck(EnvironmentDef? env, AccessRule? rule, GateAction action, DateTimeOffset now, out WindowDenial? denial)
    {
        denial = null;
        if (env is null || rule is null) return new("window", CheckResult.NotApplicable, null, "no rule applies");
        if (rule.Windows.Length == 0) return NoWindowLimit;
        foreach (var w in rule.Windows)
        {
            if (w.Contains(now)) return w.WindowPass;
        }
        if (rule.LastWindowDenial is { } last && last.Covers(now))
        {
            denial = last;
            return last.Check;
        }
        DateTimeOffset? opens = null;
        TimeRule? soonest = null;
        foreach (var w in rule.Windows)
        {
            if (w.NextOpening(now, Timeline.Horizon) is { } t && (opens is null || t < opens))
            {
                opens = t;
                soonest = w;
            }
        }
        var message = opens is null
            ? $"outside {rule.WindowsLabel}; no window opens in the next 366 days"
            : rule.Windows.Length == 1
                ? string.Create(Invariant, $"outside {rule.WindowsLabel}; next opens {new LocalTime(opens.Value, soonest!.Offsets)}")
                : string.Create(Invariant, $"outside {rule.WindowsLabel}; next opens {new LocalTime(opens.Value, soonest!.Offsets)} (`{soonest.Name}`, {soonest.ZoneId})");
        var check = new Check("window", CheckResult.Fail, "DG2104", message);
        if (opens is { } o) rule.LastWindowDenial = denial = new WindowDenial(now, o, check, FrozenAt(env, action, o));
        return check;
    }

    /// <summary>Whether a freeze of <paramref name="action"/> in <paramref name="env"/> covers <paramref name="t"/>, from
    /// the sets themselves (a request's own instant is what the freezes' remembered spans are for).</summary>
    private static bool FrozenAt(EnvironmentDef env, GateAction action, DateTimeOffset t)
    {
        foreach (var f in env.FreezesFor(action))
        {
            if (f.Rule.Set.Contains(t, out _)) return true;
        }
        return false;
    }

    /// <summary>Passes unless a freeze covers <paramref name="now"/>; the failure names the first and when it ends.
    /// Remembered per environment and action until any freeze's membership may change (<see cref="TimedCheck"/>).</summary>
    private static Check FreezeCheck(EnvironmentDef? env, GateAction action, DateTimeOffset now)
    {
        if (env is null) return new("freeze", CheckResult.NotApplicable, null, "no environment to freeze");
        FreezeDef? first = null;
        var count = 0;
        var freezes = env.FreezesFor(action);
        foreach (var f in freezes)
        {
            if (!f.Rule.Contains(now)) continue;
            first ??= f;
            count++;
        }
        if (first is null) return FreezePass;
        if (env.LastFreezeDeny(action) is { } last && last.Covers(now)) return last.Check;

        var until = first.Rule.CloseAfter(now, Timeline.Horizon);
        var message = until is null
            ? $"frozen by `{first.Name}` for the next 366 days"
            : string.Create(Invariant, $"frozen by `{first.Name}` until {new LocalTime(until.Value, first.Rule.Offsets)}");
        if (count > 1) message += $" (and {count - 1} more freeze{(count > 2 ? "s" : "")})";
        var check = new Check("freeze", CheckResult.Fail, "DG2105", message);

        // Which freezes cover an instant, and so this failure, stays the same until the first of them may change
        // (each Contains above left the span it knows); CloseAfter of the first is constant on its own span, unless
        // it lies beyond the horizon, which moves with the instant (then nothing is remembered).
        if (until is null) return check;
        DateTimeOffset? same = null;
        foreach (var f in freezes)
        {
            if (f.Rule.KnownUntil(now) is not { } known) { same = null; break; }
            if (same is null || known < same) same = known;
        }
        if (same is { } end && end > now) env.RememberFreezeDeny(action, new TimedCheck(now, end, check));
        return check;
    }
}
