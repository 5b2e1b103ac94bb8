using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using DeployGate.Engine.Policies;
using DeployGate.Engine.Rules;
using DeployGate.Engine.Scheduling;
using NCrontab;

namespace DeployGate.Engine.Parsing;

/// <summary>Reads a policy file into a <see cref="CompiledPolicy"/>, reporting every problem it finds
/// (it keeps going after an error) with its code and position. Never throws on bad input.</summary>
internal sealed partial class PolicyCompiler
{
    /// <summary>Horizon of the "never opens" / "always frozen" warnings and of <c>next_allowed_at</c>.</summary>
    public static readonly TimeSpan Horizon = TimeSpan.FromDays(366);
    private static readonly string[] FreezeKinds = ["weekly", "schedule", "dates"];
    private static readonly TimeSpan MaxDelegation = TimeSpan.FromDays(90);
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly string _file;
    private readonly DateTimeOffset _now;
    private readonly List<Diagnostic> _diagnostics = [];
    private readonly Dictionary<string, TimeZoneInfo?> _zones = new(StringComparer.Ordinal);

    private PolicyCompiler(string file, DateTimeOffset now)
    {
        _file = file;
        _now = now;
    }

    public static PolicyLoadResult Load(ReadOnlySpan<byte> utf8, string file, DateTimeOffset now, PolicyRef? reference)
    {
        var compiler = new PolicyCompiler(file, now);
        CompiledPolicy? policy;
        try
        {
            policy = compiler.Run(utf8, reference);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Fail closed: a bug in the compiler must never produce a policy.
            compiler.Error("DG1099", new SourceSpan(1, 1), $"internal error while reading the policy: {ex.GetType().Name}");
            policy = null;
        }
        var diagnostics = compiler._diagnostics
            .OrderBy(d => d.At?.Line ?? 0).ThenBy(d => d.At?.Column ?? 0).ThenBy(d => d.Code, StringComparer.Ordinal)
            .ToImmutableArray();
        var hasErrors = diagnostics.Any(d => d.Severity == Severity.Error);
        return new PolicyLoadResult(hasErrors ? null : policy, diagnostics);
    }

    private CompiledPolicy? Run(ReadOnlySpan<byte> utf8, PolicyRef? reference)
    {
        if (utf8.Length > PolicyLoader.MaxBytes)
        {
            Error(PolicyLoader.FileTooLargeCode, new SourceSpan(1, 1), PolicyLoader.FileTooLargeMessage(utf8.Length));
            return null;
        }
        string text;
        try
        {
            text = StrictUtf8.GetString(utf8);
        }
        catch (DecoderFallbackException)
        {
            Error("DG1002", new SourceSpan(1, 1), "file is not valid UTF-8");
            return null;
        }
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];

        var root = YamlTree.Parse(text, out var failure);
        if (failure is not null)
        {
            Error(failure.Code, failure.At, failure.Message);
            return null;
        }
        if (root is null || root.IsNull)
        {
            Error("DG1006", new SourceSpan(1, 1), "missing required key `version`");
            return null;
        }
        var top = Map(root, "the policy", "version", "timezone", "identities", "roles", "delegations", "windows", "freezes", "environments");
        if (top is null) return null;

        // version
        if (!top.TryGetValue("version", out var version)) Error("DG1006", root.At, "missing required key `version`");
        else if (Str(version.Value, "version") is { } v && v != "1") Error("DG1007", version.Value.At, $"unsupported policy version `{v}`; this gate reads version 1");

        var defaultZoneId = "UTC";
        var defaultZone = TimeZoneInfo.Utc;
        if (top.TryGetValue("timezone", out var tz) && Str(tz.Value, "timezone") is { } tzId)
        {
            if (Zone(tzId, tz.Value) is { } z)
            {
                defaultZoneId = tzId;
                defaultZone = z;
            }
        }
        var ctx = new Context(defaultZoneId, defaultZone);

        // Phase 1: names, so references can be checked in any order.
        var identityNodes = Entries(top, "identities");
        var roleNodes = Entries(top, "roles");
        var windowNodes = Entries(top, "windows");
        var environmentNodes = Entries(top, "environments");
        var envNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, keyNode, _) in environmentNodes)
        {
            if (!envNames.TryAdd(name, name))
                Error("DG1020", keyNode.At, $"environment `{name}` is defined twice (environment names compare case-insensitively, as GitHub's do)");
        }

        // Identities
        var identities = new List<IdentityDef>();
        var identityIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, keyNode, value) in identityNodes)
        {
            var identity = CompileIdentity(name, keyNode, value);
            if (identity is null) continue;
            identityIndex[name] = identities.Count;
            identities.Add(identity);
        }
        var knownIdentities = identityNodes.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);

        // Roles
        var roleNames = roleNodes.Select(r => r.Name).ToArray();
        var roleSet = roleNames.ToHashSet(StringComparer.Ordinal);
        var roleMembers = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var (name, _, value) in roleNodes)
        {
            var members = new List<int>();
            var map = Map(value, $"role `{name}`", "members");
            if (map is not null && map.TryGetValue("members", out var m))
            {
                foreach (var (member, node) in StrList(m.Value, $"roles.{name}.members"))
                {
                    if (identityIndex.TryGetValue(member, out var idx)) members.Add(idx);
                    else if (!knownIdentities.Contains(member)) Error("DG1015", node.At, $"role `{name}` lists undefined identity `{member}`");
                }
            }
            roleMembers[name] = [.. members.Distinct()];
        }
        // Each identity's roles in the order the roles are written: one pass over the memberships (asking every role
        // about every identity was a fifth of the compile of a policy with 2,000 identities and 200 roles).
        var roleLists = new List<int>?[identities.Count];
        for (var r = 0; r < roleNames.Length; r++)
        {
            foreach (var i in roleMembers[roleNames[r]]) (roleLists[i] ??= []).Add(r);
        }
        var rolesOfIdentity = new int[identities.Count][];
        for (var i = 0; i < identities.Count; i++) rolesOfIdentity[i] = roleLists[i]?.ToArray() ?? [];

        // Delegations
        var delegations = new List<DelegationDef>();
        if (top.TryGetValue("delegations", out var delegationsNode) && !delegationsNode.Value.IsNull)
        {
            foreach (var item in Seq(delegationsNode.Value, "delegations"))
            {
                var d = CompileDelegation(item, ctx, roleSet, identityIndex, knownIdentities, envNames);
                if (d is not null) delegations.Add(d);
            }
        }

        // Windows
        var windows = new Dictionary<string, TimeRule>(StringComparer.Ordinal);
        var windowKeys = new Dictionary<string, YNode>(StringComparer.Ordinal);
        foreach (var (name, keyNode, value) in windowNodes)
        {
            windowKeys[name] = keyNode;
            var rule = CompileWindow(name, value, ctx);
            if (rule is not null) windows[name] = rule;
        }
        var knownWindows = windowNodes.Select(w => w.Name).ToHashSet(StringComparer.Ordinal);

        // Freezes
        var freezes = new List<FreezeDef>();
        if (top.TryGetValue("freezes", out var freezesNode) && !freezesNode.Value.IsNull)
        {
            var freezeNames = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in Seq(freezesNode.Value, "freezes"))
            {
                var f = CompileFreeze(item, ctx, envNames, freezeNames);
                if (f is not null) freezes.Add(f);
            }
        }

        // Environments
        var environments = new List<EnvironmentDef>();
        foreach (var (name, _, value) in environmentNodes)
        {
            var env = CompileEnvironment(name, value, roleSet, windows, knownWindows, freezes);
            if (env is not null) environments.Add(env);
        }

        if (_diagnostics.Any(d => d.Severity == Severity.Error)) return null;

        var policy = new CompiledPolicy(
            reference ?? new PolicyRef($"file:{_file}", "sha256:" + Convert.ToHexStringLower(SHA256.HashData(utf8))),
            defaultZoneId,
            [.. identities],
            roleMembers.ToFrozenDictionary(StringComparer.Ordinal),
            rolesOfIdentity,
            roleNames,
            [.. delegations],
            [.. environments]);

        TimeWarnings(policy, windows, windowKeys, environmentNodes);
        return policy;
    }

    private sealed record Context(string ZoneId, TimeZoneInfo Zone);

    // ---------------------------------------------------------------- identities, delegations

    private IdentityDef? CompileIdentity(string name, YNode keyNode, YNode value)
    {
        var map = Map(value, $"identity `{name}`", "repository", "workflow", "ref", "claims");
        if (map is null) return null;
        if (!map.ContainsKey("repository"))
        {
            Error("DG1006", keyNode.At, $"identity `{name}` needs `repository` (a glob on the `repository` claim)");
            return null;
        }
        var repository = Globs(map, "repository", $"identities.{name}", expectedSegments: 2, "`owner/repo`");
        var workflow = Globs(map, "workflow", $"identities.{name}", expectedSegments: 5, "`owner/repo/.github/workflows/file.yml`");
        var @ref = Globs(map, "ref", $"identities.{name}", expectedSegments: null, null);
        var claims = new List<(string, GlobSet)>();
        if (map.TryGetValue("claims", out var claimsNode))
        {
            var claimMap = Map(claimsNode.Value, $"identities.{name}.claims");
            if (claimMap is not null)
            {
                foreach (var (claim, (_, v)) in claimMap)
                {
                    var globs = NonEmpty(StrList(v, $"identities.{name}.claims.{claim}"), v, $"identities.{name}.claims.{claim}", "omit the claim to leave it unchecked");
                    if (globs.Count > 0) claims.Add((claim, new GlobSet([.. globs.Select(g => new Glob(g.Value))])));
                }
            }
        }
        return new IdentityDef(name, repository, workflow, @ref, claims);
    }

    private GlobSet? Globs(Dictionary<string, (YNode Key, YNode Value)> map, string key, string where, int? expectedSegments, string? shape)
    {
        if (!map.TryGetValue(key, out var entry)) return null;
        var items = StrList(entry.Value, $"{where}.{key}");
        if (items.Count == 0)
        {
            Error("DG1005", entry.Value.At, $"`{where}.{key}` must name at least one pattern");
            return null;
        }
        foreach (var (pattern, node) in items)
        {
            if (expectedSegments is { } n && !pattern.Contains("**", StringComparison.Ordinal) && pattern.Split('/').Length != n)
                Warn("DG1505", node.At, $"`{where}.{key}` pattern `{pattern}` can never match: the claim has the shape {shape} ({n} segments), and `*` stays within one segment; use `**` to span segments");
        }
        return new GlobSet([.. items.Select(i => new Glob(i.Value))]);
    }

    private DelegationDef? CompileDelegation(YNode item, Context ctx, HashSet<string> roles, Dictionary<string, int> identityIndex,
        HashSet<string> knownIdentities, Dictionary<string, string> envNames)
    {
        var map = Map(item, "delegation", "role", "to", "granted_by", "reason", "environments", "from", "until");
        if (map is null) return null;
        var ok = true;
        var role = Required(map, item, "role", "delegation");
        var to = Required(map, item, "to", "delegation");
        var grantedBy = Required(map, item, "granted_by", "delegation");
        var untilText = Required(map, item, "until", "delegation"); // no standing delegation
        var reason = map.TryGetValue("reason", out var r) ? Str(r.Value, "reason") : null;
        if (role is null || to is null || grantedBy is null || untilText is null) ok = false;
        if (role is not null && !roles.Contains(role)) { Error("DG1016", map["role"].Value.At, $"delegation names undefined role `{role}`"); ok = false; }
        var toIndex = -1;
        if (to is not null && !identityIndex.TryGetValue(to, out toIndex))
        {
            if (!knownIdentities.Contains(to)) Error("DG1015", map["to"].Value.At, $"delegation to undefined identity `{to}`");
            ok = false;
        }
        FrozenSet<string>? scope = null;
        if (map.TryGetValue("environments", out var envs))
        {
            var list = new List<string>();
            foreach (var (e, node) in StrList(envs.Value, "delegation environments"))
            {
                if (envNames.TryGetValue(e, out var canonical)) list.Add(canonical);
                else { Error("DG1018", node.At, $"delegation scoped to undefined environment `{e}`"); ok = false; }
            }
            scope = list.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        }
        DateTimeOffset? from = null;
        if (map.TryGetValue("from", out var fromNode) && Str(fromNode.Value, "from") is { } fromText)
        {
            from = Instant(fromText, fromNode.Value, ctx.Zone);
            if (from is null) ok = false;
        }
        DateTimeOffset? until = untilText is null ? null : Instant(untilText, map["until"].Value, ctx.Zone);
        if (untilText is not null && until is null) ok = false;
        if (from is { } f && until is { } u && u <= f)
        {
            Error("DG1014", map["until"].Value.At, $"delegation `until` `{untilText}` must be after its `from`");
            ok = false;
        }
        if (!ok || until is null) return null;

        var untilAt = map["until"].Value.At;
        if (until <= _now)
            Warn("DG1501", untilAt, $"delegation of `{role}` to `{to}` expired at {DecisionJson.Instant(until.Value)}");
        else if (until.Value - (from ?? _now) > MaxDelegation)
            Warn("DG1502", untilAt, $"delegation of `{role}` to `{to}` lasts {(until.Value - (from ?? _now)).TotalDays:0} days; delegations should last at most 90 days");
        return new DelegationDef(role!, toIndex, grantedBy!, reason, scope, from, until.Value);
    }

    // ---------------------------------------------------------------- windows and freezes

    private TimeRule? CompileWindow(string name, YNode value, Context ctx)
    {
        var map = Map(value, $"window `{name}`", "weekly", "schedule", "duration", "timezone");
        if (map is null) return null;
        var (zoneId, zone) = ZoneOf(map, ctx);
        var kinds = (map.ContainsKey("weekly") ? 1 : 0) + (map.ContainsKey("schedule") ? 1 : 0);
        if (kinds != 1)
        {
            Error("DG1021", value.At, $"window `{name}` needs exactly one of `weekly` or `schedule` (+ `duration`)");
            return null;
        }
        // An unknown zone is reported already; keep reading with UTC so every other problem is found too.
        ITimeSet? set = map.ContainsKey("weekly")
            ? Weekly(map, zone ?? TimeZoneInfo.Utc, $"windows.{name}")
            : Schedule(map, value, zone ?? TimeZoneInfo.Utc, $"windows.{name}");
        if (!map.ContainsKey("schedule") && map.TryGetValue("duration", out var stray))
            Error("DG1004", stray.Key.At, $"`duration` belongs with `schedule` in window `{name}`");
        return set is null || zone is null ? null : new TimeRule(name, zoneId, zone, set);
    }

    private FreezeDef? CompileFreeze(YNode item, Context ctx, Dictionary<string, string> envNames, HashSet<string> names)
    {
        var map = Map(item, "freeze", "name", "from", "until", "weekly", "schedule", "duration", "dates", "environments", "actions", "timezone");
        if (map is null) return null;
        var name = Required(map, item, "name", "freeze");
        if (name is null) return null;
        if (!names.Add(name)) Error("DG1020", map["name"].Value.At, $"freeze `{name}` is defined twice");
        var (zoneId, zone) = ZoneOf(map, ctx);

        var hasAbsolute = map.ContainsKey("from") || map.ContainsKey("until");
        var kinds = (hasAbsolute ? 1 : 0) + FreezeKinds.Count(map.ContainsKey);
        if (kinds != 1)
        {
            Error("DG1022", item.At, $"freeze `{name}` needs exactly one of `from`/`until`, `weekly`, `schedule` (+ `duration`) or `dates`");
            return null;
        }
        if (!map.ContainsKey("schedule") && map.TryGetValue("duration", out var stray))
            Error("DG1004", stray.Key.At, $"`duration` belongs with `schedule` in freeze `{name}`");

        FrozenSet<string>? envs = null;
        if (map.TryGetValue("environments", out var envNode))
        {
            var list = new List<string>();
            foreach (var (e, node) in NonEmpty(StrList(envNode.Value, $"freezes.{name}.environments"), envNode.Value, $"freezes.{name}.environments", "omit the key to freeze every environment"))
            {
                if (envNames.TryGetValue(e, out var canonical)) list.Add(canonical);
                else Error("DG1018", node.At, $"freeze `{name}` names undefined environment `{e}`");
            }
            envs = list.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        }
        bool deploy = true, readSecret = true;
        if (map.TryGetValue("actions", out var actionsNode))
        {
            deploy = readSecret = false;
            foreach (var (a, node) in NonEmpty(StrList(actionsNode.Value, $"freezes.{name}.actions"), actionsNode.Value, $"freezes.{name}.actions", "omit the key to freeze every action"))
            {
                if (a == "deploy") deploy = true;
                else if (a == "read-secret") readSecret = true;
                else Error("DG1019", node.At, $"unknown action `{a}`; actions are `deploy` and `read-secret`");
            }
        }
        var validZone = zone is not null;
        zone ??= TimeZoneInfo.Utc; // reported already; keep reading so every other problem is found too

        ITimeSet? set = null;
        if (hasAbsolute)
        {
            var fromText = Required(map, item, "from", $"freeze `{name}`");
            var untilText = Required(map, item, "until", $"freeze `{name}`");
            var from = fromText is null ? null : Instant(fromText, map["from"].Value, zone);
            var until = untilText is null ? null : Instant(untilText, map["until"].Value, zone);
            if (from is { } f && until is { } u)
            {
                if (u <= f) Error("DG1014", map["until"].Value.At, $"freeze `{name}`: `until` `{untilText}` must be after `from` `{fromText}`");
                else set = new AbsoluteSet(f, u);
            }
        }
        else if (map.ContainsKey("weekly"))
        {
            set = Weekly(map, zone, $"freezes.{name}");
        }
        else if (map.ContainsKey("schedule"))
        {
            set = Schedule(map, item, zone, $"freezes.{name}");
        }
        else
        {
            var dates = new List<DateOnly>();
            foreach (var (d, node) in NonEmpty(StrList(map["dates"].Value, $"freezes.{name}.dates"), map["dates"].Value, $"freezes.{name}.dates", "a freeze needs at least one date"))
            {
                if (DateOnly.TryParseExact(d, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)) dates.Add(date);
                else Error("DG1013", node.At, $"`{d}` is not a date (YYYY-MM-DD)");
            }
            if (dates.Count > 0) set = new DatesSet(zone, dates);
        }
        return set is null || !validZone ? null : new FreezeDef(new TimeRule(name, zoneId, zone, set), envs, deploy, readSecret);
    }

    private WeeklySet? Weekly(Dictionary<string, (YNode Key, YNode Value)> owner, TimeZoneInfo zone, string where)
    {
        var node = owner["weekly"].Value;
        var map = Map(node, $"{where}.weekly", "days", "from", "until");
        if (map is null) return null;
        var hasDays = Has(map, node, "days", $"{where}.weekly");
        var fromText = Required(map, node, "from", $"{where}.weekly");
        var untilText = Required(map, node, "until", $"{where}.weekly");
        var mask = 0;
        if (hasDays)
        {
            var days = StrList(map["days"].Value, $"{where}.weekly.days");
            if (days.Count == 0) Error("DG1012", map["days"].Value.At, $"`{where}.weekly.days` lists no day");
            foreach (var (d, dn) in days)
            {
                var bit = DayBit(d);
                if (bit < 0) Error("DG1012", dn.At, $"`{d}` is not a day; use mon, tue, wed, thu, fri, sat, sun");
                else mask |= 1 << bit;
            }
        }
        var from = fromText is null ? null : TimeOfDay(fromText, map["from"].Value, allow24: false);
        var until = untilText is null ? null : TimeOfDay(untilText, map["until"].Value, allow24: true);
        if (mask == 0 || from is null || until is null) return null;
        return new WeeklySet(zone, mask, from.Value, until.Value);
    }

    private CronSet? Schedule(Dictionary<string, (YNode Key, YNode Value)> map, YNode owner, TimeZoneInfo zone, string where)
    {
        var expression = Str(map["schedule"].Value, $"{where}.schedule");
        var durationText = Required(map, owner, "duration", $"`{where}` has a `schedule` and");
        CrontabSchedule? schedule = null;
        if (expression is not null)
        {
            var fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            schedule = fields.Length == 5 ? CrontabSchedule.TryParse(expression) : null;
            if (schedule is null)
                Error("DG1009", map["schedule"].Value.At, fields.Length == 5
                    ? $"`{expression}` is not a valid cron expression (a field is out of range or malformed)"
                    : $"`{expression}` has {fields.Length} fields; a schedule is a 5-field cron expression (minute hour day-of-month month day-of-week)");
        }
        var duration = durationText is null ? null : Duration(durationText, map["duration"].Value);
        return schedule is null || duration is null ? null : new CronSet(zone, schedule, duration.Value);
    }

    // ---------------------------------------------------------------- environments

    private EnvironmentDef? CompileEnvironment(string name, YNode value, HashSet<string> roles,
        Dictionary<string, TimeRule> windows, HashSet<string> knownWindows, List<FreezeDef> freezes)
    {
        var map = Map(value, $"environment `{name}`", "github_environment", "wait_for_window", "grant_audience", "deploy", "secrets", "break_glass");
        if (map is null) return null;
        var ok = true;
        string? github = null;
        if (map.TryGetValue("github_environment", out var gh) && Str(gh.Value, "github_environment") is { } ghText)
        {
            github = ghText switch
            {
                "required" or "true" => name,
                "false" or "" => null,
                _ => ghText,
            };
        }
        TimeSpan? wait = null;
        if (map.TryGetValue("wait_for_window", out var w) && Str(w.Value, "wait_for_window") is { } waitText)
        {
            wait = Duration(waitText, w.Value);
            if (wait is null) ok = false;
        }
        string? audience = null;
        if (map.TryGetValue("grant_audience", out var aud)) audience = Str(aud.Value, "grant_audience");

        AccessRule? deploy = null;
        if (map.TryGetValue("deploy", out var deployNode))
        {
            deploy = CompileRule(deployNode.Value, $"environments.{name}.deploy", isSecret: false, roles, windows, knownWindows);
            if (deploy is null) ok = false;
        }
        var secrets = new List<AccessRule>();
        if (map.TryGetValue("secrets", out var secretsNode) && !secretsNode.Value.IsNull)
        {
            var i = 0;
            foreach (var item in Seq(secretsNode.Value, $"environments.{name}.secrets"))
            {
                var rule = CompileRule(item, $"environments.{name}.secrets[{i++}]", isSecret: true, roles, windows, knownWindows);
                if (rule is null) ok = false; else secrets.Add(rule);
            }
        }
        var breakGlass = Array.Empty<string>();
        if (map.TryGetValue("break_glass", out var bgNode))
        {
            var bg = Map(bgNode.Value, $"environments.{name}.break_glass", "roles");
            if (bg is not null && Has(bg, bgNode.Value, "roles", $"environments.{name}.break_glass"))
            {
                breakGlass = RoleRefs(bg["roles"].Value, $"environments.{name}.break_glass.roles", roles, ref ok);
            }
        }
        if (!ok) return null;
        var info = new EnvironmentInfo(name, github, wait, audience);
        return new EnvironmentDef(info, github, deploy, [.. secrets], breakGlass,
            [.. freezes.Where(f => f.AppliesTo(name, GateAction.Deploy))],
            [.. freezes.Where(f => f.AppliesTo(name, GateAction.ReadSecret))]);
    }

    private AccessRule? CompileRule(YNode node, string where, bool isSecret, HashSet<string> roles,
        Dictionary<string, TimeRule> windows, HashSet<string> knownWindows)
    {
        var map = isSecret
            ? Map(node, where, "names", "roles", "windows", "refs")
            : Map(node, where, "roles", "windows", "targets", "refs");
        if (map is null) return null;
        var ok = true;
        GlobSet? names = null;
        if (isSecret)
        {
            names = Has(map, node, "names", where) ? Globs(map, "names", where, null, null) : null;
            if (names is null) ok = false;
        }
        string[] ruleRoles = [];
        if (Has(map, node, "roles", where)) ruleRoles = RoleRefs(map["roles"].Value, $"{where}.roles", roles, ref ok);
        else ok = false;
        var ruleWindows = new List<TimeRule>();
        if (map.TryGetValue("windows", out var wn))
        {
            foreach (var (wName, wNode) in NonEmpty(StrList(wn.Value, $"{where}.windows"), wn.Value, $"{where}.windows", "omit the key for no window limit"))
            {
                if (windows.TryGetValue(wName, out var rule)) ruleWindows.Add(rule);
                else if (!knownWindows.Contains(wName)) { Error("DG1017", wNode.At, $"`{where}` names undefined window `{wName}`"); ok = false; }
                else ok = false; // the window itself had an error, already reported
            }
        }
        var targets = isSecret ? null : Globs(map, "targets", where, null, null);
        var refs = Globs(map, "refs", where, null, null);
        return ok ? new AccessRule(ruleRoles, [.. ruleWindows], targets, refs, names) : null;
    }

    private string[] RoleRefs(YNode node, string where, HashSet<string> roles, ref bool ok)
    {
        var result = new List<string>();
        foreach (var (role, rn) in StrList(node, where))
        {
            if (roles.Contains(role)) result.Add(role);
            else { Error("DG1016", rn.At, $"`{where}` names undefined role `{role}`"); ok = false; }
        }
        return [.. result.Distinct()];
    }

    // ---------------------------------------------------------------- warnings that need the compiled policy

    private void TimeWarnings(CompiledPolicy policy, Dictionary<string, TimeRule> windows, Dictionary<string, YNode> windowKeys,
        List<(string Name, YNode Key, YNode Value)> environmentNodes)
    {
        var end = _now + Horizon;
        var neverOpen = new HashSet<TimeRule>(ReferenceEqualityComparer.Instance);
        foreach (var (name, rule) in windows)
        {
            if (rule.IntervalsIn(_now, end).Count > 0) continue;
            neverOpen.Add(rule);
            Warn("DG1503", windowKeys[name].At, $"window `{name}` never opens in the next 366 days");
        }
        // Environments written from one template share their windows and freezes, and so their year: work it out once
        // for each combination of those objects.
        var ids = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
        string Id(object o) => (ids.TryGetValue(o, out var id) ? id : ids[o] = ids.Count).ToString(CultureInfo.InvariantCulture);
        var alwaysFrozen = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var (name, key, _) in environmentNodes)
        {
            var env = policy.FindEnvironment(name);
            if (env?.Deploy is null) continue;
            if (env.Deploy.Windows.Length > 0 && env.Deploy.Windows.All(neverOpen.Contains)) continue; // DG1503 says it
            var combination = string.Join(',', env.Deploy.Windows.Select(Id)) + "|" + string.Join(',', env.FreezesFor(GateAction.Deploy).Select(Id));
            if (!alwaysFrozen.TryGetValue(combination, out var frozen))
            {
                frozen = TimelineBuilder.Open(env, GateAction.Deploy, null, _now, end).Count == 0;
                alwaysFrozen[combination] = frozen;
            }
            if (frozen)
                Warn("DG1504", key.At, $"environment `{name}` is frozen for `deploy` whenever its windows are open, for all of the next 366 days");
        }
    }

    // ---------------------------------------------------------------- scalar readers

    private TimeZoneInfo? Zone(string id, YNode node)
    {
        if (_zones.TryGetValue(id, out var cached))
        {
            if (cached is null) Error("DG1008", node.At, $"unknown time zone `{id}`; use an IANA name such as `Europe/Berlin`");
            return cached;
        }
        TimeZoneInfo? zone = null;
        if (ZoneName().IsMatch(id))
        {
            try
            {
                zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            }
            catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                zone = null;
            }
        }
        _zones[id] = zone;
        if (zone is null) Error("DG1008", node.At, $"unknown time zone `{id}`; use an IANA name such as `Europe/Berlin`");
        return zone;
    }

    private (string Id, TimeZoneInfo? Zone) ZoneOf(Dictionary<string, (YNode Key, YNode Value)> map, Context ctx)
    {
        if (map.TryGetValue("timezone", out var tz) && Str(tz.Value, "timezone") is { } id) return (id, Zone(id, tz.Value));
        return (ctx.ZoneId, ctx.Zone);
    }

    private TimeSpan? Duration(string text, YNode node)
    {
        var m = DurationPattern().Match(text);
        if (!m.Success)
        {
            Error("DG1010", node.At, $"`{text}` is not a duration; use a number with a unit: s, m, h or d (e.g. `3h`, `90m`, `1h30m`)");
            return null;
        }
        var total = TimeSpan.Zero;
        foreach (Capture c in m.Groups["part"].Captures)
        {
            var unit = c.Value[^1];
            if (!long.TryParse(c.Value.AsSpan(0, c.Value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 100_000_000)
            {
                Error("DG1010", node.At, $"duration `{text}` is too large");
                return null;
            }
            total += unit switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
        }
        if (total <= TimeSpan.Zero)
        {
            Error("DG1010", node.At, $"duration `{text}` must be greater than zero");
            return null;
        }
        if (total > TimeSpan.FromDays(3660))
        {
            Error("DG1010", node.At, $"duration `{text}` is longer than ten years");
            return null;
        }
        return total;
    }

    private TimeSpan? TimeOfDay(string text, YNode node, bool allow24)
    {
        var m = TimePattern().Match(text);
        if (m.Success)
        {
            var h = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var min = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            if (h == 24 && min == 0 && allow24) return TimeSpan.FromHours(24);
            if (h < 24 && min < 60) return new TimeSpan(h, min, 0);
        }
        Error("DG1011", node.At, allow24
            ? $"`{text}` is not a time of day; use \"HH:MM\" from \"00:00\" to \"24:00\""
            : $"`{text}` is not a time of day; use \"HH:MM\" from \"00:00\" to \"23:59\"");
        return null;
    }

    private DateTimeOffset? Instant(string text, YNode node, TimeZoneInfo zone)
    {
        string[] withOffset = ["yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"];
        string[] local = ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", "yyyy-MM-dd"];
        if ((text.EndsWith('Z') || OffsetSuffix().IsMatch(text)) &&
            DateTimeOffset.TryParseExact(text, withOffset, CultureInfo.InvariantCulture, DateTimeStyles.None, out var exact))
        {
            return exact;
        }
        if (DateTime.TryParseExact(text, local, CultureInfo.InvariantCulture, DateTimeStyles.None, out var wall))
        {
            return WallClock.ToInstant(wall, zone);
        }
        Error("DG1013", node.At, $"`{text}` is not a date-time; use `2026-12-19T00:00` (local in the zone), `2026-12-19T00:00:00Z` or `…+01:00`");
        return null;
    }

    private static int DayBit(string day) => day switch
    {
        "sun" => 0, "mon" => 1, "tue" => 2, "wed" => 3, "thu" => 4, "fri" => 5, "sat" => 6,
        _ => -1,
    };

    [GeneratedRegex(@"^(?<part>\d+[smhd])+$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPattern();

    [GeneratedRegex(@"^(\d{2}):(\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex TimePattern();

    [GeneratedRegex(@"[+-]\d{2}:\d{2}$", RegexOptions.CultureInvariant)]
    private static partial Regex OffsetSuffix();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,3}$", RegexOptions.CultureInvariant)]
    private static partial Regex ZoneName();
}
