using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeployGate.Api.Tests.Grants;

/// <summary>A gate with a grants policy, and helpers to get grants and call the grant routes over real HTTP.</summary>
internal sealed class GrantGate : IAsyncDisposable
{
    // Start = Monday 2026-11-23 10:00 UTC; the policy's zone is UTC so the times read directly.
    public const string Policy = """
        version: 1
        timezone: UTC
        identities:
          release:
            repository: acme/web
            workflow: acme/web/.github/workflows/release.yml
            ref: [refs/heads/main]
        roles:
          deployer: { members: [release] }
          incident: { members: [release] }
        windows:
          closing-soon:
            weekly: { days: [mon], from: "08:00", until: "10:03" }
        freezes:
          - name: lunch
            weekly: { days: [mon], from: "10:04", until: "11:00" }
            environments: [freezing]
          - name: incident-freeze
            weekly: { days: [mon], from: "09:00", until: "12:00" }
            environments: [frozen]
        environments:
          staging:
            deploy: { roles: [deployer], targets: ["aks/staging-*"] }
            secrets:
              - names: ["staging/*"]
                roles: [deployer]
          windowed:
            grant_audience: vault.acme.internal
            deploy: { roles: [deployer], windows: [closing-soon] }
          freezing:
            deploy: { roles: [deployer] }
          frozen:
            deploy: { roles: [deployer] }
            break_glass: { roles: [incident] }
        """;

    public const string StagingDeploy = """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""";

    private GrantGate(TestIssuer issuer, GateHost gate)
    {
        Issuer = issuer;
        Gate = gate;
    }

    public TestIssuer Issuer { get; }

    public GateHost Gate { get; }

    public static async Task<GrantGate> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var issuer = await TestIssuer.StartAsync();
        var gate = await GateHost.StartAsync(issuer, settings);
        gate.WritePolicy("acme/web", Policy);
        return new GrantGate(issuer, gate);
    }

    public string KeyRingPath => Path.Combine(Gate.Directory, "grant-keys.json");

    /// <summary>An OIDC token of acme/web run 4242 at the gate's current time, optionally changed.</summary>
    public string OidcToken(Action<JsonObject>? change = null)
    {
        var claims = Issuer.Claims(Gate.Clock.GetUtcNow(), GateHost.Audience);
        change?.Invoke(claims);
        return Issuer.Sign(claims);
    }

    /// <summary>Authorizes (must be allowed) and returns the decision and its grant.</summary>
    public async Task<(JsonElement Decision, string Token, string Jti, string ExpiresAt)> GrantAsync(string body = StagingDeploy)
    {
        using var response = await Gate.AuthorizeAsync(OidcToken(), body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var decision = JsonDocument.Parse(text).RootElement.Clone();
        var grant = decision.GetProperty("grant");
        return (decision, grant.GetProperty("token").GetString()!, grant.GetProperty("jti").GetString()!, grant.GetProperty("expires_at").GetString()!);
    }

    public Task<(HttpStatusCode Status, JsonElement Body, string Text)> RedeemAsync(string token, object expect) =>
        PostAsync("api/v1/grants/redeem", new { token, expect });

    public Task<(HttpStatusCode Status, JsonElement Body, string Text)> IntrospectAsync(string token) =>
        PostAsync("api/v1/grants/introspect", new { token });

    public Task<(HttpStatusCode Status, JsonElement Body, string Text)> RevokeAsync(string jti, string? oidcToken) =>
        PostAsync("api/v1/grants/revoke", new { jti }, oidcToken);

    public async Task<(HttpStatusCode Status, JsonElement Body, string Text)> PostAsync(string path, object body, string? bearer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        using var response = await Gate.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return (response.StatusCode, json, text);
    }

    public async Task<string> JwksAsync() => await Gate.Client.GetStringAsync(".well-known/jwks.json".Insert(0, "api/"));

    public async ValueTask DisposeAsync()
    {
        await Gate.DisposeAsync();
        await Issuer.DisposeAsync();
    }
}

internal static class ProblemAssert
{
    public static void Code(string expected, (HttpStatusCode Status, JsonElement Body, string Text) response, HttpStatusCode status)
    {
        Assert.True(response.Status == status, $"expected {(int)status}, got {(int)response.Status}: {response.Text}");
        Assert.Equal(expected, response.Body.GetProperty("code").GetString());
    }
}
