using Microsoft.Extensions.Configuration;

namespace DeployGate.Api.Tests.Webhooks;

/// <summary>The webhook acts as the GitHub App even with a policy folder: its secret needs the App credentials.</summary>
public sealed class WebhookConfigurationTests
{
    [Fact]
    public void WebhookSecret_WithoutAppCredentials_StopsStartup_NamingBothKeys()
    {
        var config = GateConfiguration.Read(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DeployGate:PublicUrl"] = "https://gate.example.com",
            ["DeployGate:AllowedOwners:0"] = "acme",
            ["Policy:Directory"] = Path.GetTempPath(),
            ["GitHub:WebhookSecret"] = "s3cret",
        }).Build(), dev: false);
        Assert.Equal([ServerCodes.GitHubAppIdInvalid, ServerCodes.GitHubPrivateKeyInvalid], config.Problems.Select(p => p.Code).Order());
        Assert.All(config.Problems, p => Assert.Contains("GitHub:WebhookSecret", p.Message, StringComparison.Ordinal));
    }
}
