using System.Text.Json;

namespace DeployGate.Cli.Tests;

/// <summary><c>deploygate app-manifest --url URL</c> (SPEC §5, docs/github-app.md).</summary>
public sealed class AppManifestCommandTests
{
    [Fact]
    public void Manifest_HasTheWebhook_Permissions_AndTheOneEvent()
    {
        var (exit, output, error) = Cli.Run("app-manifest", "--url", "https://gate.acme.dev/");
        Assert.True(exit == 0, error);
        var m = JsonDocument.Parse(output).RootElement;
        Assert.Equal("DeployGate", m.GetProperty("name").GetString());
        Assert.Equal("https://gate.acme.dev", m.GetProperty("url").GetString());
        Assert.Equal("https://gate.acme.dev/api/github/webhook", m.GetProperty("hook_attributes").GetProperty("url").GetString());
        Assert.True(m.GetProperty("hook_attributes").GetProperty("active").GetBoolean());
        Assert.Equal("https://gate.acme.dev/", m.GetProperty("redirect_url").GetString());
        Assert.False(m.GetProperty("public").GetBoolean());
        var permissions = m.GetProperty("default_permissions");
        Assert.Equal(
            new Dictionary<string, string> { ["actions"] = "read", ["deployments"] = "write", ["contents"] = "read" },
            permissions.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!));
        Assert.Equal(["deployment_protection_rule", "push"], m.GetProperty("default_events").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory]
    [InlineData("http://gate.acme.dev")]
    [InlineData("gate.acme.dev")]
    [InlineData("https://gate.acme.dev/?x=1")]
    public void Url_MustBeHttps_ExceptLoopback(string url)
    {
        var (exit, _, error) = Cli.Run("app-manifest", "--url", url);
        Assert.Equal(2, exit);
        Assert.Contains("--url", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Url_IsRequired() => Assert.Equal(2, Cli.Run("app-manifest").Exit);

    [Fact]
    public void LoopbackHttp_IsAllowed_ForLocalTrials() =>
        Assert.Equal(0, Cli.Run("app-manifest", "--url", "http://127.0.0.1:8080", "--name", "DeployGate dev").Exit);
}
