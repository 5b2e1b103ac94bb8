using System.Globalization;
using System.Text;
using DeployGate.Engine;

namespace DeployGate.Benchmarks;

/// <summary>The decisions measured: a deploy and a secret read on the example policy, and the same on a
/// large policy (200 environments, 2,000 identities); denies at night and in a freeze; decisions at arbitrary instants,
/// also on the example policy with a holiday calendar of 400 dates.</summary>
internal sealed class Scenario
{
    public required string Name { get; init; }
    public required CompiledPolicy Policy { get; init; }
    public required DecisionRequest Request { get; init; }
    public required WorkloadClaims Claims { get; init; }
    public required DateTimeOffset At { get; init; }

    /// <summary>When set, each decision is at the next of these instants (cycled) instead of <see cref="At"/>.</summary>
    public DateTimeOffset[]? Instants { get; init; }

    private int _next;

    /// <summary>The verdict column: the one verdict at <see cref="At"/>, or "mixed" over <see cref="Instants"/>.</summary>
    public string VerdictLabel => Instants is null ? DecisionJson.VerdictName(Decide().Verdict) : "mixed";

    public Decision Decide()
    {
        if (Instants is not { } instants) return Evaluator.Evaluate(Policy, Request, Claims, At, "dec_bench");
        var at = instants[_next];
        _next = (_next + 1) % instants.Length;
        return Evaluator.Evaluate(Policy, Request, Claims, at, "dec_bench");
    }

    /// <summary>4,096 instants anywhere in the year from <see cref="Monday"/> (seeded): two decisions in a row
    /// almost never share a window's or freeze's open or closed span, so what the engine remembers between requests
    /// rarely helps
    /// (what <c>deploygate explain</c> over arbitrary instants costs). Real traffic is in the order of the clock.</summary>
    private static DateTimeOffset[] AnyTime()
    {
        var random = new Random(20261123);
        return [.. Enumerable.Range(0, 4096).Select(_ => Monday.AddSeconds(random.NextInt64(365L * 24 * 3600)))];
    }

    // Monday 2026-11-23 10:00 CET: inside business hours, no freeze, delegation active.
    private static readonly DateTimeOffset Monday = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);

    // Wednesday 2026-11-25 03:00 CET: outside every window, so a deny must say when it would next be allowed.
    private static readonly DateTimeOffset Night = new(2026, 11, 25, 2, 0, 0, TimeSpan.Zero);

    // Monday 2026-12-21 10:00 CET: inside business hours but in the year-end freeze (until 2027-01-04), so a deny must
    // say when the freeze ends and the first window after it opens.
    private static readonly DateTimeOffset Frozen = new(2026, 12, 21, 9, 0, 0, TimeSpan.Zero);

    public static Scenario[] All()
    {
        var exampleYaml = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "web.yml"));
        var example = Load(exampleYaml);
        var holidays = Load(WithHolidays(exampleYaml, 400));
        var large = Load(LargePolicy(environments: 200, identities: 2000));
        var release = MakeClaims("acme/web", "acme/web/.github/workflows/release.yml", "production");
        var largeClaims = MakeClaims("acme/r1337", "acme/r1337/.github/workflows/d.yml", "env-137");
        return
        [
            new() { Name = "example/deploy", Policy = example, At = Monday, Claims = release,
                    Request = new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1") },
            new() { Name = "example/read-secret", Policy = example, At = Monday, Claims = release,
                    Request = new DecisionRequest(GateAction.ReadSecret, "production", Secret: "prod/db/password") },
            new() { Name = "large/deploy", Policy = large, At = Monday, Claims = largeClaims,
                    Request = new DecisionRequest(GateAction.Deploy, "env-137", Target: "aks/env-137-eu") },
            new() { Name = "large/read-secret", Policy = large, At = Monday, Claims = largeClaims,
                    Request = new DecisionRequest(GateAction.ReadSecret, "env-137", Secret: "env-137/db/password") },
            new() { Name = "example/deploy-night", Policy = example, At = Night, Claims = release,
                    Request = new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1") },
            new() { Name = "large/deploy-night", Policy = large, At = Night, Claims = largeClaims,
                    Request = new DecisionRequest(GateAction.Deploy, "env-137", Target: "aks/env-137-eu") },
            new() { Name = "example/deploy-frozen", Policy = example, At = Frozen, Claims = release,
                    Request = new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1") },
            new() { Name = "large/deploy-frozen", Policy = large, At = Frozen, Claims = largeClaims,
                    Request = new DecisionRequest(GateAction.Deploy, "env-137", Target: "aks/env-137-eu") },
            new() { Name = "example/deploy-anytime", Policy = example, At = Monday, Instants = AnyTime(), Claims = release,
                    Request = new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1") },
            new() { Name = "large/deploy-anytime", Policy = large, At = Monday, Instants = AnyTime(), Claims = largeClaims,
                    Request = new DecisionRequest(GateAction.Deploy, "env-137", Target: "aks/env-137-eu") },
            new() { Name = "holidays/deploy-anytime", Policy = holidays, At = Monday, Instants = AnyTime(), Claims = release,
                    Request = new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1") },
        ];
    }

    /// <summary>The example policy with its holidays freeze listing <paramref name="count"/> dates spread over ten years
    /// from 2021 (a calendar kept for years, as a platform team keeps one): the cost of a long <c>dates</c> list.</summary>
    public static string WithHolidays(string exampleYaml, int count)
    {
        var dates = Enumerable.Range(0, count).Select(i => new DateOnly(2021, 1, 1).AddDays(i * 3652 / count).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        var yaml = System.Text.RegularExpressions.Regex.Replace(exampleYaml, @"dates: \[[^\]]*\]", $"dates: [{string.Join(", ", dates)}]");
        return yaml != exampleYaml ? yaml : throw new InvalidOperationException("the example policy has no `dates:` list to replace");
    }

    private static CompiledPolicy Load(string yaml)
    {
        var result = PolicyLoader.Load(yaml, "bench.yml", Monday);
        if (result.HasErrors) throw new InvalidOperationException(string.Join("\n", result.Diagnostics));
        return result.Policy!;
    }

    private static WorkloadClaims MakeClaims(string repository, string workflow, string environment) =>
        WorkloadClaims.FromDictionary(new Dictionary<string, string>
        {
            ["repository"] = repository, ["repository_owner"] = "acme", ["ref"] = "refs/heads/main",
            ["job_workflow_ref"] = $"{workflow}@refs/heads/main", ["sha"] = "0123456789abcdef0123456789abcdef01234567",
            ["run_id"] = "4242", ["run_attempt"] = "1", ["actor"] = "alice", ["environment"] = environment,
            ["runner_environment"] = "github-hosted",
        });

    /// <summary>Must stay under the 256 KiB policy limit. One identity per repository, a role per environment, every environment with windows,
    /// targets, refs, a secret rule, and freezes that apply to all of them. With <paramref name="openEvery"/> &gt; 0, every
    /// such environment (env-0, env-4, … for 4) has no windows, so the HTTP run sees allows at any hour.</summary>
    public static string LargePolicy(int environments, int identities, int openEvery = 0)
    {
        var b = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        b.AppendLine("version: 1\ntimezone: Europe/Berlin\nidentities:");
        for (var i = 0; i < identities; i++)
            b.AppendLine(ci, $"  i{i}: {{repository: acme/r{i}, workflow: acme/r{i}/.github/workflows/d.yml}}");
        b.AppendLine("roles:");
        for (var e = 0; e < environments; e++)
        {
            var members = Enumerable.Range(0, identities).Where(i => i % environments == e).Select(i => $"i{i}");
            b.AppendLine(ci, $"  deploy-{e}: {{ members: [{string.Join(", ", members)}] }}");
        }
        b.AppendLine("windows:\n  office:\n    weekly: { days: [mon, tue, wed, thu], from: \"09:00\", until: \"17:00\" }");
        b.AppendLine("  nightly:\n    schedule: \"0 22 * * *\"\n    duration: 3h\n    timezone: America/New_York");
        b.AppendLine("freezes:\n  - name: year-end\n    from: 2026-12-19T00:00\n    until: 2027-01-04T00:00");
        b.AppendLine("  - name: friday\n    weekly: { days: [fri], from: \"15:00\", until: \"24:00\" }\n    actions: [deploy]");
        b.AppendLine("  - name: holidays\n    dates: [2026-12-24, 2026-12-25, 2026-12-26, 2027-01-01]");
        b.AppendLine("environments:");
        for (var e = 0; e < environments; e++)
        {
            b.AppendLine(ci, $"  env-{e}:");
            var open = openEvery > 0 && e % openEvery == 0;
            b.AppendLine(ci, $"    deploy: {{ roles: [deploy-{e}], {(open ? "" : "windows: [office, nightly], ")}targets: [\"aks/env-{e}-*\"], refs: [refs/heads/main, refs/tags/v*] }}");
            b.AppendLine(ci, $"    secrets:\n      - {{ names: [\"env-{e}/db/*\"], roles: [deploy-{e}]{(open ? "" : ", windows: [office]")} }}");
        }
        return b.ToString();
    }
}
