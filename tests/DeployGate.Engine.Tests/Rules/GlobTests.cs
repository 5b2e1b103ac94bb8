using DeployGate.Engine.Rules;

namespace DeployGate.Engine.Tests.Rules;

public sealed class GlobTests
{
    [Theory]
    [InlineData("acme/web", "acme/web", true)]
    [InlineData("acme/web", "acme/Web", false)]                       // case-sensitive
    [InlineData("acme/*", "acme/web", true)]
    [InlineData("acme/*", "acme/web/x", false)]                       // * stays within a segment
    [InlineData("acme/*", "acme/", true)]
    [InlineData("*/.github/workflows/ci.yml", "acme/web/.github/workflows/ci.yml", false)]
    [InlineData("*/*/.github/workflows/ci.yml", "acme/web/.github/workflows/ci.yml", true)]
    [InlineData("**/.github/workflows/ci.yml", "acme/web/.github/workflows/ci.yml", true)]
    [InlineData("acme/**", "acme/web/.github/workflows/ci.yml", true)]
    [InlineData("acme/**/ci.yml", "acme/ci.yml", true)]                // **/ matches zero segments
    [InlineData("refs/tags/v*", "refs/tags/v1.2.3", true)]
    [InlineData("refs/tags/v*", "refs/tags/release/v1", false)]
    [InlineData("refs/tags/v?.*", "refs/tags/v1.2", true)]
    [InlineData("v?", "v/", false)]                                   // ? is not /
    [InlineData("aks/prod-us-*", "aks/prod-us-east", true)]
    [InlineData("aks/prod-us-*", "aks/prod-eu-1", false)]
    [InlineData("**", "anything/at/all", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    public void IsMatch_FollowsSpecGlobRules(string pattern, string value, bool expected) =>
        Assert.Equal(expected, new Glob(pattern).IsMatch(value));

    [Fact]
    public void IsMatch_NullNeverMatches() => Assert.False(new Glob("**").IsMatch(null));
}
