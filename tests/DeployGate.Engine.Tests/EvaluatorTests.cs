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
