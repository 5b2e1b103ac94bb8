using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api.Tests.Grants;

/// <summary>A grant's <c>exp</c> (SPEC §7: min(TTL, window close, next freeze); break-glass 15 min) and its signing
/// keys (generated ring, rotation with retention, operator PEM). The clock is a manual fake: now = Mon 10:00 UTC.</summary>
public sealed class GrantLifetimeAndKeyTests
{
    private static readonly Dictionary<string, string?> HourTtl = new() { ["Grants:Ttl"] = "1h" };

    [Theory]
    [InlineData("""{"action":"deploy","environment":"staging","target":"aks/staging-1"}""", "2026-11-23T11:00:00Z", "deploygate")]              // TTL 1 h
    [InlineData("""{"action":"deploy","environment":"windowed","target":"aks/x"}""", "2026-11-23T10:03:00Z", "vault.acme.internal")]         // window closes 10:03
    [InlineData("""{"action":"deploy","environment":"freezing","target":"aks/x"}""", "2026-11-23T10:04:00Z", "deploygate")]                  // freeze starts 10:04
    [InlineData("""{"action":"deploy","environment":"frozen","target":"aks/x","break_glass":{"reason":"INC-42 rollback of bad release"}}""",
        "2026-11-23T10:15:00Z", "deploygate")]                                                                                                 // break-glass: 15 min
    public async Task Exp_IsTheEarliestOfTtlWindowCloseFreezeStartAndBreakGlassCap(string body, string expectedExp, string audience)
    {
        await using var g = await GrantGate.StartAsync(HourTtl);

        var (decision, token, _, expiresAt) = await g.GrantAsync(body);

        Assert.Equal(expectedExp, expiresAt);
        var jwt = new JsonWebToken(token);
        Assert.Equal(DateTimeOffset.Parse(expectedExp, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeSeconds(), jwt.GetPayloadValue<long>("exp"));
        Assert.Equal(audience, Assert.Single(jwt.Audiences));
        Assert.True((await GrantTests.ValidateWithJwksAsync(await g.JwksAsync(), token, g.Gate.Clock, audience)).IsValid);
        Assert.Equal(body.Contains("break_glass", StringComparison.Ordinal), decision.GetProperty("break_glass").GetBoolean());
    }

    [Fact]
    public async Task WindowGrant_IsDeadAtTheWindowsClose()
    {
        await using var g = await GrantGate.StartAsync();
        var (_, token, _, _) = await g.GrantAsync("""{"action":"deploy","environment":"windowed","target":"aks/x"}""");

        g.Gate.Clock.Advance(TimeSpan.FromMinutes(3));

        Assert.Equal("""{"active":false}""", (await g.IntrospectAsync(token)).Text);
        ProblemAssert.Code("DG3102", await g.RedeemAsync(token, new { action = "deploy", environment = "windowed", target = "aks/x" }), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Rotation_OldGrantsKeepVerifying_UntilTheOldKeysRetentionEnds()
    {
        await using var g = await GrantGate.StartAsync(HourTtl);
        var (_, oldGrant, _, _) = await g.GrantAsync();
        var oldKid = new JsonWebToken(oldGrant).Kid;

        var rotation = GrantKeyRing.Rotate(g.KeyRingPath, g.Gate.Clock.GetUtcNow());
        var (_, newGrant, _, _) = await g.GrantAsync();
        var jwksAfterRotation = await g.JwksAsync();

        Assert.Equal(oldKid, rotation.RetiredKid);
        Assert.Equal(rotation.NewKid, new JsonWebToken(newGrant).Kid);
        Assert.Equal([oldKid, rotation.NewKid], Kids(jwksAfterRotation));
        Assert.True((await GrantTests.ValidateWithJwksAsync(jwksAfterRotation, oldGrant, g.Gate.Clock)).IsValid);
        Assert.True((await GrantTests.ValidateWithJwksAsync(jwksAfterRotation, newGrant, g.Gate.Clock)).IsValid);
        Assert.True((await g.IntrospectAsync(oldGrant)).Body.GetProperty("active").GetBoolean());

        g.Gate.Clock.Advance(GrantKeyRing.Retention - TimeSpan.FromSeconds(1));
        Assert.Equal([oldKid, rotation.NewKid], Kids(await g.JwksAsync()));

        g.Gate.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([rotation.NewKid], Kids(await g.JwksAsync()));
        Assert.Equal(HttpStatusCode.OK, (await g.Gate.AuthorizeAsync(g.OidcToken(), GrantGate.StagingDeploy)).StatusCode);

        // The next rotation drops the expired key from the file as well.
        var second = GrantKeyRing.Rotate(g.KeyRingPath, g.Gate.Clock.GetUtcNow());
        Assert.Equal([oldKid], second.DroppedKids);
        Assert.Equal([rotation.NewKid, second.NewKid], second.PublishedKids);
    }

    [Fact]
    public async Task OperatorPem_SignsWithItsFirstKey_AndPublishesAll()
    {
        var dir = Directory.CreateTempSubdirectory("dg-pem-");
        using var current = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var previous = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pem = Path.Combine(dir.FullName, "grants.pem");
        File.WriteAllText(pem, current.ExportPkcs8PrivateKeyPem() + "\n" + previous.ExportECPrivateKeyPem());
        string Thumbprint(ECDsa key) => Base64UrlEncoder.Encode(JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(key)).ComputeJwkThumbprint());

        await using var g = await GrantGate.StartAsync(new Dictionary<string, string?> { ["Grants:SigningKeyPath"] = pem });
        var (_, token, _, _) = await g.GrantAsync();

        Assert.Equal(Thumbprint(current), new JsonWebToken(token).Kid);
        Assert.Equal([Thumbprint(current), Thumbprint(previous)], Kids(await g.JwksAsync()));
        Assert.False(File.Exists(g.KeyRingPath));
        dir.Delete(recursive: true);
    }

    [Fact]
    public async Task UnusablePem_StopsStartUp_WithDG3110()
    {
        var dir = Directory.CreateTempSubdirectory("dg-pem-");
        using var rsa = RSA.Create(2048);
        var pem = Path.Combine(dir.FullName, "rsa.pem");
        File.WriteAllText(pem, rsa.ExportRSAPrivateKeyPem());
        await using var issuer = await TestIssuer.StartAsync();

        var build = GateServer.Build(new GateServerOptions
        {
            Urls = "http://127.0.0.1:0",
            Time = new ManualClock(GateHost.Start),
            WorkingDirectory = dir.FullName,
            Settings = new Dictionary<string, string?>
            {
                ["DeployGate:PublicUrl"] = GateHost.Audience, ["DeployGate:Issuer"] = issuer.Url, ["DeployGate:AllowedOwners"] = "acme",
                ["Policy:Directory"] = dir.FullName, ["Store:ConnectionString"] = Path.Combine(dir.FullName, "audit.db"),
                ["Grants:SigningKeyPath"] = pem,
            },
        });

        Assert.Null(build.App);
        var problem = Assert.Single(build.Problems);
        Assert.Equal(("DG3110", "Grants:SigningKeyPath"), (problem.Code, problem.Key));
        dir.Delete(recursive: true);
    }

    private static string[] Kids(string jwks) =>
        [.. JsonDocument.Parse(jwks).RootElement.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()!)];
}
