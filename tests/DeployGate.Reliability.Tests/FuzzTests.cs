using System.Text;
using DeployGate.Engine;
using DeployGate.GitHub.Webhooks;
using Xunit.Abstractions;

namespace DeployGate.Reliability.Tests;

/// <summary>Property runs over random mutations (bit flips, truncations, duplications, insertions, deletions) of valid
/// inputs, with fixed seeds and bounded counts so every run is the same run. Properties: no exception escapes the
/// parser; an input with errors never yields a policy; every decision on a policy that does load is made without
/// an internal error (no DG2900), and so no invalid policy can ever allow.</summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);   // Monday, 11:00 Berlin
    private const int MutationsPerSeed = 2000;

    /// <summary>SPEC §2's example, in full: every section the parser knows.</summary>
    private const string SpecExample = """
        version: 1
        timezone: Europe/Berlin
        identities:
          release:
            repository: acme/web
            workflow: acme/web/.github/workflows/release.yml
            ref: [refs/heads/main, refs/tags/v*]
          ci:
            repository: acme/*
            workflow: "*/.github/workflows/ci.yml"
            claims: { runner_environment: github-hosted }
        roles:
          deployer:       { members: [ci, release] }
          prod-deployer:  { members: [] }
          incident:       { members: [release] }
        delegations:
          - role: prod-deployer
            to: release
            granted_by: alice
            reason: CHG-1234 Q4 release train
            environments: [production]
            from: 2026-11-20T00:00:00Z
            until: 2026-12-31T00:00:00Z
        windows:
          business-hours:
            weekly: { days: [mon, tue, wed, thu], from: "09:00", until: "17:00" }
          nightly:
            schedule: "0 22 * * *"
            duration: 3h
            timezone: America/New_York
        freezes:
          - name: year-end
            from: 2026-12-19T00:00
            until: 2027-01-04T00:00
          - name: friday-afternoon
            weekly: { days: [fri], from: "15:00", until: "24:00" }
            environments: [production]
            actions: [deploy]
          - name: holidays
            dates: [2026-12-24, 2026-12-25, 2026-12-26, 2027-01-01]
        environments:
          staging:
            deploy: { roles: [deployer], targets: ["aks/staging-*"] }
          production:
            github_environment: required
            wait_for_window: 72h
            grant_audience: vault.acme.internal
            deploy:
              roles: [prod-deployer]
              windows: [business-hours]
              targets: ["aks/prod-eu-1", "aks/prod-us-*"]
              refs: [refs/heads/main, refs/tags/v*]
            secrets:
              - names: ["prod/db/*"]
                roles: [prod-deployer]
                windows: [business-hours]
            break_glass:
              roles: [incident]
        """;

    private const string Simple = """
        version: 1
        timezone: Europe/Berlin
        identities:
          release:
            repository: acme/web
            workflow: acme/web/.github/workflows/release.yml
            ref: [refs/heads/main]
        roles:
          deployer: { members: [release] }
        environments:
          staging:
            deploy: { roles: [deployer], targets: ["aks/staging-*"] }
        """;

    private static readonly string[] YamlTokens =
        ["*", "&a ", "*a", ": ", "- ", "\n  ", "\n", "{", "}", "[", "]", "\"", "'", "#", "<<: ", "---\n", "!!str ", "?", "|", ">", "\t", "\0", "é", "\uFEFF", "24:00", "9999-99-99", "-1h", "0 0 * * *", "**", "version: 2\n"];

    private static readonly WorkloadClaims[] Claimants =
    [
        new() { Repository = "acme/web", RepositoryOwner = "acme", JobWorkflowRef = "acme/web/.github/workflows/release.yml@refs/heads/main",
                Ref = "refs/heads/main", Sha = "0123", RunId = "1", RunAttempt = "1", Actor = "alice", Environment = "production" },
        new() { Repository = "acme/api", RepositoryOwner = "acme", JobWorkflowRef = "acme/api/.github/workflows/ci.yml@refs/heads/feature",
                Ref = "refs/heads/feature", Sha = "4567", RunId = "2", RunAttempt = "1", Actor = "bob" },
    ];

    private static readonly DecisionRequest[] Requests =
    [
        new(GateAction.Deploy, "production", Target: "aks/prod-eu-1"),
        new(GateAction.Deploy, "staging", Target: "aks/staging-1"),
        new(GateAction.ReadSecret, "production", Secret: "prod/db/password"),
        new(GateAction.Deploy, "production", Target: "aks/prod-eu-1", BreakGlassReason: "incident INC-42 rollback"),
        new(GateAction.Deploy, "nowhere", Target: "x"),
    ];

    [Theory]
    [InlineData(nameof(SpecExample), 1)]
    [InlineData(nameof(SpecExample), 2)]
    [InlineData(nameof(Simple), 3)]
    public void PolicyLoader_MutatedPolicies_NeverThrow_NeverYieldPolicyWithErrors_DecisionsNeverError(string seedName, int seed)
    {
        var original = Encoding.UTF8.GetBytes(seedName == nameof(SpecExample) ? SpecExample : Simple);
        Assert.False(PolicyLoader.Load(original, "seed.yml", Now).HasErrors);   // the seed itself is valid
        var random = new Random(seed);
        int loaded = 0, rejected = 0, decisions = 0, allows = 0;

        for (var i = 0; i < MutationsPerSeed; i++)
        {
            var input = Mutate(original, random);
            PolicyLoadResult result;
            try
            {
                result = PolicyLoader.Load(input, "fuzz.yml", Now);
            }
            catch (Exception ex)
            {
                Assert.Fail($"seed {seed} mutation {i}: {ex.GetType().Name} escaped PolicyLoader.Load: {ex.Message}\n{Encoding.UTF8.GetString(input)}");
                return;
            }

            var hasErrors = result.Diagnostics.Any(d => d.Severity == Severity.Error);
            if (hasErrors)
            {
                Assert.True(result.Policy is null, $"seed {seed} mutation {i}: a policy with errors was compiled");
                rejected++;
                continue;
            }
            if (result.Policy is not { } policy)
            {
                rejected++;
                continue;
            }
            loaded++;
            foreach (var claims in Claimants)
            {
                foreach (var request in Requests)
                {
                    var decision = Evaluator.Evaluate(policy, request, claims, Now, $"dec_fuzz_{seed}_{i}");
                    decisions++;
                    if (decision.Verdict == Verdict.Allow) allows++;
                    Assert.DoesNotContain(decision.Checks, c => c.Code == "DG2900");
                    Assert.True(decision.Verdict == Verdict.Deny || decision.Checks.All(c => c.Result is CheckResult.Pass or CheckResult.NotApplicable or CheckResult.Overridden),
                        $"seed {seed} mutation {i}: allow with a failing check");
                }
            }
        }
        output.WriteLine($"policy fuzz `{seedName}` seed {seed}: {MutationsPerSeed} mutations, {rejected} rejected with errors, {loaded} loaded, {decisions} decisions ({allows} allows), 0 exceptions, 0 DG2900");
    }

    private const string WebhookPayload = """
        {"action":"requested","environment":"production","event":"push","sha":"0123456789abcdef0123456789abcdef01234567","ref":"refs/heads/main",
         "deployment_callback_url":"https://api.github.com/repos/acme/web/actions/runs/4242/deployment_protection_rule",
         "deployment":{"id":1,"sha":"0123456789abcdef0123456789abcdef01234567","ref":"main","environment":"production"},
         "repository":{"id":74,"full_name":"acme/web","owner":{"login":"acme"}},
         "installation":{"id":99},"sender":{"login":"alice"}}
        """;

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void WebhookParser_MutatedPayloads_NeverThrow_AndAParsedEventHasItsRequiredFields(int seed)
    {
        var original = Encoding.UTF8.GetBytes(WebhookPayload);
        Assert.NotNull(ProtectionRuleEvent.TryParse(original, out _));
        var random = new Random(seed);
        int parsed = 0, refused = 0;
        for (var i = 0; i < 1500; i++)
        {
            var input = Mutate(original, random, json: true);
            ProtectionRuleEvent? ev;
            string? problem;
            try
            {
                ev = ProtectionRuleEvent.TryParse(input, out problem);
                _ = ProtectionRuleEvent.ActionOf(input);
            }
            catch (Exception ex)
            {
                Assert.Fail($"seed {seed} mutation {i}: {ex.GetType().Name} escaped the webhook parser: {ex.Message}\n{Encoding.UTF8.GetString(input)}");
                return;
            }
            if (ev is null)
            {
                Assert.False(string.IsNullOrWhiteSpace(problem));
                refused++;
                continue;
            }
            parsed++;
            Assert.False(string.IsNullOrWhiteSpace(ev.Environment));
            Assert.False(string.IsNullOrWhiteSpace(ev.CallbackUrl));
            Assert.False(string.IsNullOrWhiteSpace(ev.Repository));
        }
        output.WriteLine($"webhook fuzz seed {seed}: 1500 mutations, {parsed} parsed, {refused} refused with a reason, 0 exceptions");
    }

    /// <summary>One to three random edits: bit flip, truncation, duplication of a slice, insertion (random bytes or
    /// a syntax token of the format), deletion of a slice.</summary>
    internal static byte[] Mutate(byte[] input, Random random, bool json = false)
    {
        var bytes = new List<byte>(input);
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            if (bytes.Count == 0) bytes.Add((byte)'x');
            var at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 2:
                    var length = Math.Min(random.Next(1, 200), bytes.Count - at);
                    bytes.InsertRange(random.Next(bytes.Count), bytes.GetRange(at, length));
                    break;
                case 3:
                    var token = json
                        ? ((string[])["{", "}", "[", "]", "\"", ",", ":", "null", "1e999", "-0", "\\u0000", "\\ud800", "true", "{\"a\":" ])[random.Next(14)]
                        : YamlTokens[random.Next(YamlTokens.Length)];
                    bytes.InsertRange(at, Encoding.UTF8.GetBytes(token));
                    break;
                case 4:
                    var noise = new byte[random.Next(1, 8)];
                    random.NextBytes(noise);
                    bytes.InsertRange(at, noise);
                    break;
                default:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 40), bytes.Count - at));
                    break;
            }
        }
        return [.. bytes];
    }
}
