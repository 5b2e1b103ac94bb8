using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api.Tests.Grants;

/// <summary>Grants end to end over real HTTP (SPEC §7): issued on allow, verifiable with a standard JWT library,
/// bounded by TTL / window / freeze / break-glass, single-use, revocable by their run only.</summary>
public sealed class GrantTests : IAsyncLifetime
{
    private GrantGate _g = null!;

    public async Task InitializeAsync() => _g = await GrantGate.StartAsync();

    public async Task DisposeAsync() => await _g.DisposeAsync();

    private static object StagingExpect(string target = "aks/staging-1", string environment = "staging", string action = "deploy") =>
        new { action, environment, target };

    internal static async Task<TokenValidationResult> ValidateWithJwksAsync(string jwks, string token, TimeProvider clock, string audience = "deploygate") =>
        await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = GateHost.Audience,
            ValidAudience = audience,
            IssuerSigningKeys = new JsonWebKeySet(jwks).GetSigningKeys(),
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            RequireSignedTokens = true,
            ValidateLifetime = true,
            // The gate runs on a fake clock, so the lifetime is judged against it rather than the machine's.
            LifetimeValidator = (_, expires, _, _) => expires is { } e && clock.GetUtcNow().UtcDateTime < e,
        });

    [Fact]
    public async Task Allow_CarriesAGrant_ThatVerifiesAgainstThePublishedJwks()
    {
        var (decision, token, jti, expiresAt) = await _g.GrantAsync();
        var jwks = await _g.JwksAsync();

        var result = await ValidateWithJwksAsync(jwks, token, _g.Gate.Clock);

        Assert.True(result.IsValid, result.Exception?.ToString());
        var jwt = (JsonWebToken)result.SecurityToken;
        Assert.Equal("ES256", jwt.Alg);
        Assert.Equal(JsonDocument.Parse(jwks).RootElement.GetProperty("keys")[0].GetProperty("kid").GetString(), jwt.Kid);
        Assert.Equal("acme/web", jwt.Subject);
        Assert.Equal("4242", jwt.GetPayloadValue<string>("run_id"));
        Assert.Equal("deploy", jwt.GetPayloadValue<string>("action"));
        Assert.Equal("staging", jwt.GetPayloadValue<string>("environment"));
        Assert.Equal("aks/staging-1", jwt.GetPayloadValue<string>("target"));
        Assert.False(jwt.TryGetPayloadValue<string>("secret", out _));
        Assert.Equal(decision.GetProperty("decision_id").GetString(), jwt.GetPayloadValue<string>("decision_id"));
        Assert.Equal(jti, jwt.Id);
        Assert.Equal(GateHost.Start.ToUnixTimeSeconds(), jwt.GetPayloadValue<long>("iat"));
        Assert.Equal("2026-11-23T10:10:00Z", expiresAt);                     // default TTL 10 min
        Assert.Equal(DateTimeOffset.Parse(expiresAt, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.FromUnixTimeSeconds(jwt.GetPayloadValue<long>("exp")));
    }

    [Fact]
    public async Task Jwks_PublishesPublicKeysOnly_InJwkShape()
    {
        var keys = JsonDocument.Parse(await _g.JwksAsync()).RootElement.GetProperty("keys");

        var key = Assert.Single(keys.EnumerateArray());
        Assert.Equal(["kty", "crv", "x", "y", "kid", "alg", "use"], key.EnumerateObject().Select(p => p.Name));
        Assert.Equal("EC", key.GetProperty("kty").GetString());
        Assert.Equal("P-256", key.GetProperty("crv").GetString());
        Assert.Equal("ES256", key.GetProperty("alg").GetString());
        Assert.Equal("sig", key.GetProperty("use").GetString());
        // kid is the RFC 7638 thumbprint, as the library computes it.
        var jwk = new JsonWebKey(key.GetRawText());
        Assert.Equal(Base64UrlEncoder.Encode(jwk.ComputeJwkThumbprint()), key.GetProperty("kid").GetString());
    }

    [Fact]
    public async Task SigningKeyRing_IsCreatedInTheDataFolder_Mode0600()
    {
        Assert.True(File.Exists(_g.KeyRingPath));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_g.KeyRingPath));
        Assert.DoesNotContain("\"d\"", await _g.JwksAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditRecord_HasTheGrantsJti_ButNotItsToken()
    {
        var (decision, token, jti, _) = await _g.GrantAsync();

        var stored = JsonDocument.Parse((await _g.Gate.AuditAsync()).Single()).RootElement;

        Assert.Equal(decision.GetProperty("decision_id").GetString(), stored.GetProperty("decision_id").GetString());
        Assert.Equal(jti, stored.GetProperty("grant").GetProperty("jti").GetString());
        Assert.Equal("[redacted]", stored.GetProperty("grant").GetProperty("token").GetString());
        Assert.DoesNotContain(token, string.Join("\n", await _g.Gate.AuditAsync()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deny_CarriesNoGrant()
    {
        using var response = await _g.Gate.AuthorizeAsync(_g.OidcToken(), """{"action":"deploy","environment":"staging","target":"aks/prod-1"}""");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("grant").ValueKind);
    }

    [Fact]
    public async Task Redeem_ReturnsTheClaims_Once()
    {
        var (decision, token, jti, _) = await _g.GrantAsync();

        var first = await _g.RedeemAsync(token, StagingExpect());
        var second = await _g.RedeemAsync(token, StagingExpect());

        Assert.True(first.Status == HttpStatusCode.OK, first.Text);
        Assert.Equal(jti, first.Body.GetProperty("jti").GetString());
        Assert.Equal(decision.GetProperty("decision_id").GetString(), first.Body.GetProperty("decision_id").GetString());
        Assert.Equal("deploygate", first.Body.GetProperty("aud").GetString());
        Assert.Equal("aks/staging-1", first.Body.GetProperty("target").GetString());
        ProblemAssert.Code("DG3104", second, HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task FiftyConcurrentRedeems_GiveExactlyOne200_And49Conflicts()
    {
        var (_, token, _, _) = await _g.GrantAsync();
        using var start = new ManualResetEventSlim();

        var calls = Enumerable.Range(0, 50).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return (await _g.RedeemAsync(token, StagingExpect())).Status;
        })).ToList();
        start.Set();
        var statuses = await Task.WhenAll(calls);

        Assert.Single(statuses, s => s == HttpStatusCode.OK);
        Assert.Equal(49, statuses.Count(s => s == HttpStatusCode.Conflict));
    }

    [Theory]
    [InlineData("deploy", "staging", "aks/staging-2", null)]        // another target
    [InlineData("deploy", "production", "aks/staging-1", null)]     // another environment
    [InlineData("read-secret", "staging", null, "staging/db")]     // another action
    [InlineData("deploy", "staging", null, null)]                   // no target: not the grant's operation either
    public async Task Redeem_ForAnotherOperation_Is403_AndDoesNotConsumeTheGrant(string action, string environment, string? target, string? secret)
    {
        var (_, token, _, _) = await _g.GrantAsync();

        var wrong = await _g.RedeemAsync(token, new { action, environment, target, secret });
        var right = await _g.RedeemAsync(token, StagingExpect(environment: "STAGING"));   // environments compare case-insensitively

        ProblemAssert.Code("DG3105", wrong, HttpStatusCode.Forbidden);
        Assert.True(right.Status == HttpStatusCode.OK, right.Text);
    }

    [Fact]
    public async Task SecretGrant_IsBoundToItsSecret()
    {
        var (_, token, _, _) = await _g.GrantAsync("""{"action":"read-secret","environment":"staging","secret":"staging/db"}""");

        ProblemAssert.Code("DG3105", await _g.RedeemAsync(token, new { action = "read-secret", environment = "staging", secret = "staging/api" }), HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, (await _g.RedeemAsync(token, new { action = "read-secret", environment = "staging", secret = "staging/db" })).Status);
    }

    [Fact]
    public async Task Introspect_Active_WithClaims_UntilRedeemed()
    {
        var (_, token, jti, _) = await _g.GrantAsync();

        var before = await _g.IntrospectAsync(token);
        await _g.RedeemAsync(token, StagingExpect());
        var after = await _g.IntrospectAsync(token);

        Assert.Equal(HttpStatusCode.OK, before.Status);
        Assert.True(before.Body.GetProperty("active").GetBoolean());
        Assert.Equal(jti, before.Body.GetProperty("jti").GetString());
        Assert.Equal("acme/web", before.Body.GetProperty("sub").GetString());
        Assert.Equal("""{"active":false}""", after.Text);
    }

    [Fact]
    public async Task Expired_IntrospectsInactive_AndRedeemIs401()
    {
        var (_, token, _, _) = await _g.GrantAsync();
        _g.Gate.Clock.Advance(TimeSpan.FromMinutes(10));    // exp is 10:10:00; at 10:10:00 it has expired

        Assert.Equal("""{"active":false}""", (await _g.IntrospectAsync(token)).Text);
        ProblemAssert.Code("DG3102", await _g.RedeemAsync(token, StagingExpect()), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Revoked_IntrospectsInactive_AndRedeemIs401_RevokeIsIdempotent()
    {
        var (_, token, jti, _) = await _g.GrantAsync();

        var first = await _g.RevokeAsync(jti, _g.OidcToken());
        var again = await _g.RevokeAsync(jti, _g.OidcToken());

        Assert.Equal(HttpStatusCode.NoContent, first.Status);
        Assert.Equal(HttpStatusCode.NoContent, again.Status);
        Assert.Equal("""{"active":false}""", (await _g.IntrospectAsync(token)).Text);
        ProblemAssert.Code("DG3103", await _g.RedeemAsync(token, StagingExpect()), HttpStatusCode.Unauthorized);
        Assert.Contains($"grant {jti} revoked by acme/web run 4242", _g.Gate.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_AfterRedeem_Is204()
    {
        var (_, token, jti, _) = await _g.GrantAsync();
        await _g.RedeemAsync(token, StagingExpect());

        Assert.Equal(HttpStatusCode.NoContent, (await _g.RevokeAsync(jti, _g.OidcToken())).Status);
    }

    [Fact]
    public async Task Revoke_ByAnotherRepositoryOrRun_IsRefused_AndTheGrantStaysUsable()
    {
        var (_, token, jti, _) = await _g.GrantAsync();

        var otherRepo = await _g.RevokeAsync(jti, _g.OidcToken(c => { c["repository"] = "acme/api"; }));
        var otherRun = await _g.RevokeAsync(jti, _g.OidcToken(c => { c["run_id"] = "4243"; }));
        var noToken = await _g.RevokeAsync(jti, null);
        var forged = await _g.RevokeAsync(jti, _g.Issuer.Sign(_g.Issuer.Claims(GateHost.Start, GateHost.Audience), key: RSA.Create(2048)));
        var unknown = await _g.RevokeAsync("g1.not-a-real-grant.AAAAAAAAAAAAAAAA", _g.OidcToken());

        ProblemAssert.Code("DG3106", otherRepo, HttpStatusCode.Forbidden);
        ProblemAssert.Code("DG3106", otherRun, HttpStatusCode.Forbidden);
        ProblemAssert.Code("DG3001", noToken, HttpStatusCode.Unauthorized);
        ProblemAssert.Code("DG3002", forged, HttpStatusCode.Unauthorized);
        ProblemAssert.Code("DG3106", unknown, HttpStatusCode.Forbidden);
        Assert.True((await _g.IntrospectAsync(token)).Body.GetProperty("active").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await _g.RedeemAsync(token, StagingExpect())).Status);
    }

    [Fact]
    public async Task ForeignOrTamperedGrants_Are401_AndInactive()
    {
        var (_, token, _, _) = await _g.GrantAsync();
        var parts = token.Split('.');
        string Json(string b64) => Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(b64));
        string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

        var otherTarget = parts[0] + "." + B64(Json(parts[1]).Replace("aks/staging-1", "aks/staging-9", StringComparison.Ordinal)) + "." + parts[2];
        var noneAlg = B64("""{"alg":"none","typ":"JWT"}""") + "." + parts[1] + ".";
        var hsAlg = B64("""{"alg":"HS256","typ":"JWT"}""") + "." + parts[1] + "." + parts[2];
        using var foreignKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var foreign = new JsonWebTokenHandler().CreateToken(Json(parts[1]),
            new SigningCredentials(new ECDsaSecurityKey(foreignKey) { KeyId = "someone-else" }, SecurityAlgorithms.EcdsaSha256));
        var sameKidForeignKey = new JsonWebTokenHandler().CreateToken(Json(parts[1]),
            new SigningCredentials(new ECDsaSecurityKey(foreignKey) { KeyId = new JsonWebToken(token).Kid }, SecurityAlgorithms.EcdsaSha256));

        ProblemAssert.Code("DG3101", await _g.RedeemAsync(otherTarget, StagingExpect("aks/staging-9")), HttpStatusCode.Unauthorized);
        ProblemAssert.Code("DG3108", await _g.RedeemAsync(noneAlg, StagingExpect()), HttpStatusCode.Unauthorized);
        ProblemAssert.Code("DG3108", await _g.RedeemAsync(hsAlg, StagingExpect()), HttpStatusCode.Unauthorized);
        ProblemAssert.Code("DG3107", await _g.RedeemAsync(foreign, StagingExpect()), HttpStatusCode.Unauthorized);
        ProblemAssert.Code("DG3101", await _g.RedeemAsync(sameKidForeignKey, StagingExpect()), HttpStatusCode.Unauthorized);
        ProblemAssert.Code("DG3101", await _g.RedeemAsync("not a jwt", StagingExpect()), HttpStatusCode.Unauthorized);
        foreach (var bad in new[] { otherTarget, noneAlg, hsAlg, foreign, sameKidForeignKey, "not a jwt" })
            Assert.Equal("""{"active":false}""", (await _g.IntrospectAsync(bad)).Text);
        Assert.Equal(HttpStatusCode.OK, (await _g.RedeemAsync(token, StagingExpect())).Status);   // the real one was not consumed
    }

    [Fact]
    public async Task MalformedBodies_Are400_WithCodes()
    {
        var (_, token, _, _) = await _g.GrantAsync();

        ProblemAssert.Code("DG3109", await _g.PostAsync("api/v1/grants/redeem", new { token }), HttpStatusCode.BadRequest);
        ProblemAssert.Code("DG3109", await _g.PostAsync("api/v1/grants/redeem", new { token, expect = new { action = "deploy" } }), HttpStatusCode.BadRequest);
        ProblemAssert.Code("DG6102", await _g.PostAsync("api/v1/grants/redeem", new { token, expect = StagingExpect(), extra = 1 }), HttpStatusCode.BadRequest);
        ProblemAssert.Code("DG6108", await _g.PostAsync("api/v1/grants/introspect", new { token = 42 }), HttpStatusCode.BadRequest);
        ProblemAssert.Code("DG3109", await _g.PostAsync("api/v1/grants/revoke", new { }, _g.OidcToken()), HttpStatusCode.BadRequest);
        ProblemAssert.Code("DG6101", await _g.PostAsync("api/v1/grants/introspect", new[] { 1 }), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Logs_NameTheJti_NeverTheToken()
    {
        var (_, token, jti, _) = await _g.GrantAsync();
        await _g.RedeemAsync(token, StagingExpect("aks/staging-2"));
        await _g.RedeemAsync(token, StagingExpect());
        await _g.RedeemAsync(token, StagingExpect());
        await _g.RevokeAsync(jti, _g.OidcToken());

        var logs = _g.Gate.Logs.All;
        Assert.Contains($"grant {jti} redeemed", logs, StringComparison.Ordinal);
        Assert.Contains($"grant {jti} redeem refused DG3105", logs, StringComparison.Ordinal);
        Assert.Contains($"grant {jti} redeem refused DG3104", logs, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Split('.')[2], logs, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Split('.')[1], logs, StringComparison.Ordinal);
    }
}
