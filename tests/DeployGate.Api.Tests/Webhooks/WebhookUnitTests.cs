using System.Collections.Immutable;
using System.Text;
using DeployGate.Api.Webhooks;
using DeployGate.Engine;
using DeployGate.GitHub.Webhooks;

namespace DeployGate.Api.Tests.Webhooks;

/// <summary>The small pieces: signature, callback URL, refs, comment length.</summary>
public sealed class WebhookUnitTests
{
    [Fact]
    public void Signature_MatchesGitHubsTestVector()
    {
        // From GitHub's "validating webhook deliveries" page (github-facts §1.3).
        var secret = Encoding.UTF8.GetBytes("It's a Secret to Everybody");
        var body = Encoding.UTF8.GetBytes("Hello, World!");
        const string Expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        Assert.Equal(Expected, WebhookSignature.Compute(secret, body));
        Assert.True(WebhookSignature.IsValid(secret, body, Expected));
        Assert.False(WebhookSignature.IsValid(secret, body, Expected.ToUpperInvariant()));
        Assert.False(WebhookSignature.IsValid(secret, body, Expected[..^1]));
        Assert.False(WebhookSignature.IsValid(secret, Encoding.UTF8.GetBytes("Hello, World?"), Expected));
        Assert.False(WebhookSignature.IsValid([], body, WebhookSignature.Compute([], body)));   // no secret never verifies
        Assert.False(WebhookSignature.IsValid(secret, body, null));
    }

    [Theory]
    [InlineData("https://api.github.com/", "https://api.github.com/repos/acme/web/actions/runs/23625057533/deployment_protection_rule", 23625057533L)]
    [InlineData("https://ghes.acme.dev/api/v3/", "https://ghes.acme.dev/api/v3/repos/acme/web/actions/runs/7/deployment_protection_rule", 7L)]
    [InlineData("https://api.github.com/", "https://API.GITHUB.COM/repos/Acme/Web/actions/runs/8/deployment_protection_rule", 8L)]
    public void CallbackUrl_OnTheConfiguredApi_Parses(string api, string url, long runId)
    {
        Assert.True(CallbackUrl.TryParse(url, new Uri(api), "acme/web", out var target, out var problem), problem);
        Assert.Equal(runId, target!.RunId);
    }

    [Theory]
    [InlineData("https://api.github.com.evil.example/repos/acme/web/actions/runs/1/deployment_protection_rule")]
    [InlineData("http://api.github.com/repos/acme/web/actions/runs/1/deployment_protection_rule")]
    [InlineData("https://api.github.com:8443/repos/acme/web/actions/runs/1/deployment_protection_rule")]
    [InlineData("https://user@api.github.com/repos/acme/web/actions/runs/1/deployment_protection_rule")]
    [InlineData("https://api.github.com/repos/acme/web/actions/runs/1/deployment_protection_rule?x=1")]
    [InlineData("https://api.github.com/repos/acme/other/actions/runs/1/deployment_protection_rule")]
    [InlineData("https://api.github.com/repos/acme/web/actions/runs/1/../../../../app/installations")]
    [InlineData("https://api.github.com/repos/acme/web/actions/runs/x/deployment_protection_rule")]
    [InlineData("not a url")]
    public void CallbackUrl_AnythingElse_IsRefused(string url) =>
        Assert.False(CallbackUrl.TryParse(url, new Uri("https://api.github.com/"), "acme/web", out _, out _));

    [Fact]
    public void CallbackUrl_GhesPrefixIsRequired() =>
        Assert.False(CallbackUrl.TryParse("https://ghes.acme.dev/repos/acme/web/actions/runs/1/deployment_protection_rule",
            new Uri("https://ghes.acme.dev/api/v3/"), "acme/web", out _, out _));

    [Theory]
    [InlineData("main", "refs/heads/main")]
    [InlineData("release/1.2", "refs/heads/release/1.2")]
    [InlineData("refs/tags/v1", "refs/tags/v1")]
    [InlineData("refs/heads/main", "refs/heads/main")]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void ShortRefs_AreBranches(string? given, string? expected) => Assert.Equal(expected, GitRefs.Normalize(given));

    [Fact]
    public void Comment_NeverExceeds1024_AndKeepsTheDecisionId()
    {
        var checks = Enumerable.Range(0, 40).Select(i => new Check($"check{i}", CheckResult.Fail, $"DG20{i:00}", new string('m', 500))).ToImmutableArray();
        var decision = new Decision("dec_01JDXTESTTESTTESTTESTTESTTE", Verdict.Deny, GateHost.Start, new DecisionRequest(GateAction.Deploy, "production"),
            new DecisionIdentity("acme/web", null, null, null, "1", null, null, [], []), checks, null, false,
            new PolicyRef("github:acme/web/.github/deploygate.yml", "0123456789abcdef"));
        var comment = ReviewComment.Rejected(decision);
        Assert.True(comment.Length <= ReviewComment.MaxLength, $"{comment.Length}");
        Assert.Contains(decision.DecisionId, comment, StringComparison.Ordinal);
        Assert.Contains("DG2000", comment, StringComparison.Ordinal);
        Assert.Contains("more failed check", comment, StringComparison.Ordinal);
    }

    [Fact]
    public void Payload_Parsing_IsLenient_ButNeedsWhatAReviewNeeds()
    {
        var ok = ProtectionRuleEvent.TryParse("""{"action":"requested","environment":"prod","deployment_callback_url":"https://x/","installation":{"id":1},"repository":{"full_name":"a/b"},"deployment":null,"extra":[1]}"""u8, out var problem);
        Assert.NotNull(ok);
        Assert.Null(ok.DeploymentId);
        Assert.Null(ProtectionRuleEvent.TryParse("""{"action":"requested"}"""u8, out problem));
        Assert.Contains("`environment`", problem, StringComparison.Ordinal);
        Assert.Null(ProtectionRuleEvent.TryParse("[1]"u8, out _));
        Assert.Null(ProtectionRuleEvent.TryParse("{"u8, out _));
    }
}
