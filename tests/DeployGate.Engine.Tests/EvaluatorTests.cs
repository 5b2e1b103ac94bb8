namespace DeployGate.Engine.Tests;

public sealed class EvaluatorTests
{
    private const string Policy = """
        version: 1
        identities:
          first:  { repository: acme/web }
          any:    { repository: "acme/*" }
          other:  { repository: acme/api }
          last:   { repository: [acme/web, acme/api] }
          runner: { repository: "**", claims: { runner_environment: self-hosted } }
        roles:
          r: { members: [first, any, other, last] }
        environments:
          e: { deploy: { roles: [r] } }
        """;

    [Fact]
    public void Identities_AreMatchedThroughTheRepositoryIndex_InPolicyOrder()
    {
        var d = Evaluator.Evaluate(TestSupport.Compile(Policy), new DecisionRequest(GateAction.Deploy, "e"),
            TestSupport.Claims("acme/web"), TestSupport.Now, "dec_t");
        Assert.Equal(new[] { "first", "any", "last" }, d.Identity.Identities.ToArray());
        Assert.Equal(Verdict.Allow, d.Verdict);
    }

    [Fact]
    public void Identities_WildcardOnlyMatchesStillApply()
    {
        var d = Evaluator.Evaluate(TestSupport.Compile(Policy), new DecisionRequest(GateAction.Deploy, "e"),
            TestSupport.Claims("other-org/x", extra: new Dictionary<string, string> { ["runner_environment"] = "self-hosted" }), TestSupport.Now, "dec_t");
        Assert.Equal(new[] { "runner" }, d.Identity.Identities.ToArray());
        Assert.Equal(Verdict.Deny, d.Verdict); // `runner` holds no role
        Assert.Equal("DG2011", TestSupport.CheckOf(d, "role").Code);
    }

    [Fact]
    public void Evaluate_IsDenyByDefault_WithNoMatchingIdentity()
    {
        var d = Evaluator.Evaluate(TestSupport.Compile(Policy), new DecisionRequest(GateAction.Deploy, "e"),
            TestSupport.Claims("evil/repo"), TestSupport.Now, "dec_t");
        Assert.Equal(Verdict.Deny, d.Verdict);
        Assert.Empty(d.Identity.Identities);
        Assert.Contains("matches no identity", TestSupport.CheckOf(d, "role").Message);
    }

    [Fact]
    public void ADecisionsIdentityLists_AreItsOwn_NotTheScratchTheNextDecisionReuses()
    {
        // The evaluator gathers matched identities and held roles in per-thread lists; a decision must keep copies.
        var policy = TestSupport.Example();
        var at = TestSupport.At("2026-11-23T09:00:00Z");
        var release = Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1"),
            TestSupport.Claims(environment: "production"), at, "dec_a");
        var identities = release.Identity.Identities.ToArray();
        var roles = release.Identity.Roles.Select(r => r.Role).ToArray();
        Assert.Equal(["release"], identities);
        Assert.Equal(["deployer", "incident", "prod-deployer"], roles);
        var other = Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1"),
            TestSupport.Claims("acme/api", "acme/api/.github/workflows/ci.yml", environment: "production"), at, "dec_b");
        Assert.Equal(["ci"], other.Identity.Identities.ToArray());
        Assert.Equal(identities, release.Identity.Identities.ToArray());
        Assert.Equal(roles, release.Identity.Roles.Select(r => r.Role).ToArray());
    }

    [Fact]
    public void Error_IsADenyWithOnePolicyCheck()
    {
        var d = Evaluator.Error(new DecisionRequest(GateAction.Deploy, "e"), TestSupport.Claims(), TestSupport.Now, "dec_t",
            new PolicyRef("github:acme/web/.github/deploygate.yml", null), "DG1002", "yaml syntax: …");
        Assert.Equal(Verdict.Deny, d.Verdict);
        Assert.Equal(("policy", CheckResult.Fail, "DG1002"), (d.Checks.Single().Name, d.Checks.Single().Result, d.Checks.Single().Code));
        Assert.Null(d.NextAllowedAt);
    }

    [Fact]
    public void DecisionIds_AreUlidsThatSortByTime()
    {
        var a = DecisionIds.Create(TestSupport.Now, new byte[10]);
        var b = DecisionIds.Create(TestSupport.Now.AddMilliseconds(1), new byte[10]);
        Assert.Matches("^dec_[0-9A-HJKMNP-TV-Z]{26}$", a);
        Assert.True(string.CompareOrdinal(a, b) < 0);
    }
}

public sealed class BreakGlassTests
{
    private const string Policy = """
        version: 1
        identities:
          rel: { repository: acme/web }
        roles:
          deployer: { members: [rel] }
          incident: { members: [rel] }
        windows:
          never-now: { weekly: { days: [sun], from: "00:00", until: "00:01" } }
        environments:
          open: { deploy: { roles: [deployer] }, break_glass: { roles: [incident] } }
          closed: { deploy: { roles: [deployer], windows: [never-now] }, break_glass: { roles: [incident] } }
          no-bg: { deploy: { roles: [deployer], windows: [never-now] } }
        """;

    private static Decision Decide(string env, string? reason) => Evaluator.Evaluate(TestSupport.Compile(Policy),
        new DecisionRequest(GateAction.Deploy, env, BreakGlassReason: reason), TestSupport.Claims(), TestSupport.Now, "dec_bg");

    [Fact]
    public void BreakGlass_FlagsTheDecisionOnlyWhenItOverrodeACheck()
    {
        Assert.False(Decide("open", "INC-1 nothing to override").BreakGlass);          // allowed anyway: not flagged
        var closed = Decide("closed", "INC-1 hotfix for outage");
        Assert.True(closed.BreakGlass);
        Assert.Equal(Verdict.Allow, closed.Verdict);
        Assert.Equal(CheckResult.Overridden, TestSupport.CheckOf(closed, "window").Result);
    }

    [Fact]
    public void BreakGlass_NotHeldOrTooShort_DoesNotOverride()
    {
        var notHeld = Decide("no-bg", "INC-1 hotfix for outage");
        Assert.Equal(Verdict.Deny, notHeld.Verdict);
        Assert.Contains("break-glass asked, but this environment has no break-glass roles", TestSupport.CheckOf(notHeld, "window").Message);
        var tooShort = Decide("closed", "short");
        Assert.Equal(Verdict.Deny, tooShort.Verdict);
        Assert.False(tooShort.BreakGlass);
    }
}

public sealed class GitHubEnvironmentTests
{
    [Theory]
    [InlineData("required", "g", true)]
    [InlineData("true", "G", true)]          // names compare case-insensitively, as GitHub's do
    [InlineData("true", "staging", false)]
    [InlineData("deploy-g", "deploy-g", true)]
    [InlineData("false", null, true)]
    public void GitHubEnvironment_RequiredTrueOrAName(string setting, string? claim, bool passes)
    {
        var policy = TestSupport.Compile($"version: 1\nidentities: {{ a: {{ repository: acme/web }} }}\nroles: {{ r: {{ members: [a] }} }}\nenvironments:\n  g: {{ github_environment: {setting}, deploy: {{ roles: [r] }} }}\n");
        var d = Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "g"), TestSupport.Claims(environment: claim), TestSupport.Now, "dec_t");
        Assert.Equal(passes ? CheckResult.Pass : CheckResult.Fail, TestSupport.CheckOf(d, "environment").Result);
    }
}

public sealed class DecisionJsonTests
{
    [Theory]
    [InlineData("2026-11-22T10:15:00Z", "2026-11-22T10:15:00Z")]
    [InlineData("2026-11-22T11:15:00.5+01:00", "2026-11-22T10:15:00.500Z")]
    [InlineData("2026-11-22T10:15:00.1234567Z", "2026-11-22T10:15:00.123Z")]   // milliseconds, truncated
    [InlineData("2026-11-22T10:15:00.0000001Z", "2026-11-22T10:15:00.000Z")]   // not a whole second
    [InlineData("2026-01-02T23:04:05.999-13:59", "2026-01-03T13:03:05.999Z")]
    [InlineData("0099-12-31T23:59:59Z", "0099-12-31T23:59:59Z")]
    [InlineData("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999Z")]
    public void Instant_IsUtcRfc3339WithAtMostMilliseconds(string input, string expected) =>
        Assert.Equal(expected, DecisionJson.Instant(DateTimeOffset.Parse(input, System.Globalization.CultureInfo.InvariantCulture)));

    private static Decision Allowed() => Evaluator.Evaluate(TestSupport.Example(), new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1"),
        TestSupport.Claims(environment: "production"), TestSupport.At("2026-11-23T09:00:00Z"), "dec_t");

    [Fact]
    public void OneSerialization_WithoutAGrant_IsOneArray_AsTheOtherWriterWrites()
    {
        foreach (var decision in new[] { Allowed(), Evaluator.Evaluate(TestSupport.Example(), new DecisionRequest(GateAction.Deploy, "nowhere"), TestSupport.Claims(), TestSupport.Now, "dec_n") })
        {
            var answer = DecisionJson.ToUtf8(decision, "[redacted]", out var redacted);
            Assert.Same(answer, redacted);
            Assert.Equal(DecisionJson.ToUtf8(decision), answer);
        }
    }

    // Tokens short and long (past the writer's 4 KiB buffer and past the 64 KiB it keeps), ones the writer escapes,
    // and decisions whose JSON before the token is past the writer's buffer already.
    [Theory]
    [InlineData(1, "[redacted]", 0)]
    [InlineData(600, "[redacted]", 0)]
    [InlineData(5_000, "x", 0)]
    [InlineData(100_000, "[redacted]", 0)]
    [InlineData(-1, "[redacted]", 0)]
    [InlineData(600, "[redacted]", 20_000)]
    [InlineData(100_000, "[redacted]", 100_000)]
    public void OneSerialization_WithAGrant_IsTheAnswer_AndTheAnswerWithTheTokenReplaced(int length, string replacement, int actorLength)
    {
        var token = length < 0 ? "a\"b\\c<d>é\u0001f.g" : new string('t', length - 1) + ".";
        var allowed = Allowed();
        if (actorLength > 0) allowed = allowed with { Identity = allowed.Identity with { Actor = new string('a', actorLength) } };
        var decision = allowed with { Grant = new GrantInfo(token, "g1.jti", TestSupport.At("2026-11-23T09:10:00Z")) };
        Assert.Equal(Verdict.Allow, decision.Verdict);

        var answer = DecisionJson.ToUtf8(decision, replacement, out var redacted);

        Assert.Equal(DecisionJson.ToUtf8(decision), answer);
        Assert.Equal(DecisionJson.ToUtf8(decision with { Grant = decision.Grant with { Token = replacement } }), redacted);
        // The thread's buffer is reused: a smaller decision after a bigger one is not cut or padded.
        var small = DecisionJson.ToUtf8(Allowed() with { Grant = new GrantInfo("t.t", "g1.jti", TestSupport.Now) }, replacement, out var smallRedacted);
        Assert.Equal(DecisionJson.ToUtf8(Allowed() with { Grant = new GrantInfo(replacement, "g1.jti", TestSupport.Now) }), smallRedacted);
        Assert.NotEqual(small, smallRedacted);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\"")]
    [InlineData("a\\b")]
    [InlineData("é")]
    [InlineData("<x>")]
    public void OneSerialization_RefusesAReplacementThatWouldNeedEscaping(string replacement) =>
        Assert.ThrowsAny<ArgumentException>(() => DecisionJson.ToUtf8(Allowed(), replacement, out _));
}

public sealed class WholeJobTests
{
    [Fact]
    public void WholeJob_TargetIsNotApplicable_ButAnOperationWithoutTargetFails()
    {
        var policy = TestSupport.Example();
        var claims = TestSupport.Claims(environment: "production");
        var job = Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "production") { WholeJob = true }, claims, TestSupport.At("2026-11-23T09:00:00Z"), "dec_t");
        Assert.Equal(Verdict.Allow, job.Verdict);
        Assert.Equal(CheckResult.NotApplicable, TestSupport.CheckOf(job, "target").Result);

        var step = Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "production"), claims, TestSupport.At("2026-11-23T09:00:00Z"), "dec_t");
        Assert.Equal("DG2032", TestSupport.CheckOf(step, "target").Code);

        // A whole-job review that does name a target is checked as usual.
        var named = Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-ap-1") { WholeJob = true }, claims, TestSupport.At("2026-11-23T09:00:00Z"), "dec_t");
        Assert.Equal("DG2031", TestSupport.CheckOf(named, "target").Code);
    }
}

/// <summary>A compiled policy is shared by every request thread, and its time sets remember recent days' intervals
/// (<c>DayCache</c>), its rules their last denies; a decision's identity lists are per-thread scratch: decisions made
/// concurrently on one instance, by callers holding different roles, must equal those of a fresh instance, one at a time.</summary>
public sealed class ConcurrentEvaluationTests
{
    [Fact]
    public void SharedPolicy_DecidesConcurrently_AsAFreshOneDoesSequentially()
    {
        var start = TestSupport.At("2026-11-20T00:00:00Z");
        var instants = Enumerable.Range(0, 4000).Select(i => start.AddMinutes(i * 37)).ToArray();   // ~100 days, every hour of the week
        WorkloadClaims[] callers =
        [
            TestSupport.Claims(environment: "production"),   // release: holds prod-deployer by delegation until 2026-12-31
            TestSupport.Claims("acme/api", "acme/api/.github/workflows/ci.yml", environment: "production"),   // ci: deployer only
        ];
        DecisionRequest[] requests =
        [
            new(GateAction.Deploy, "production", Target: "aks/prod-eu-1"),
            new(GateAction.Deploy, "staging", Target: "aks/staging-1"),
            new(GateAction.ReadSecret, "production", Secret: "production/db/password"),
        ];
        static string Key(Decision d) => string.Join("|", d.Verdict, d.NextAllowedAt, string.Join(",", d.Identity.Identities),
            string.Join(",", d.Identity.Roles.Select(r => $"{r.Role}/{r.Via}")), string.Join(";", d.Checks.Select(c => $"{c.Name}={c.Result}:{c.Message}")));
        var claimsCount = callers.Length;

        var fresh = TestSupport.Example();
        var expected = new string[instants.Length * requests.Length];
        for (var i = 0; i < instants.Length; i++)
        {
            for (var r = 0; r < requests.Length; r++)
            {
                var k = (i * requests.Length) + r;
                expected[k] = Key(Evaluator.Evaluate(fresh, requests[r], callers[k % claimsCount], instants[i], "dec_t"));
            }
        }

        var shared = TestSupport.Example();
        var actual = new string[expected.Length];
        var order = Enumerable.Range(0, expected.Length).OrderBy(k => (k * 7919) % expected.Length).ToArray();   // days interleaved
        Parallel.ForEach(order, new ParallelOptions { MaxDegreeOfParallelism = 8 }, k =>
            actual[k] = Key(Evaluator.Evaluate(shared, requests[k % requests.Length], callers[k % claimsCount], instants[k / requests.Length], "dec_t")));

        Assert.Equal(expected, actual);
    }
}
