using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeployGate.Api.Tests.Identity;

/// <summary>Every token problem is a 401 (problem+json) with its own code, audited as an error record.</summary>
public sealed class TokenRejectionTests : IAsyncLifetime
{
    private TestIssuer _issuer = null!;
    private GateHost _gate = null!;
    private const string Body = """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""";

    public async Task InitializeAsync()
    {
        _issuer = await TestIssuer.StartAsync();
        _gate = await GateHost.StartAsync(_issuer);
        _gate.WritePolicy("acme/web", TestPolicies.Web);
    }

    public async Task DisposeAsync()
    {
        await _gate.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    private JsonObject Claims() => _issuer.Claims(GateHost.Start, GateHost.Audience);

    private async Task<JsonElement> AssertRejectedAsync(string? token, string code, HttpStatusCode status = HttpStatusCode.Unauthorized)
    {
        using var response = await _gate.AuthorizeAsync(token, Body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        var decisionId = problem.GetProperty("decision_id").GetString()!;
        // Audited: an error record (deny) with the same code, and no claims of the unverified token.
        var audit = await _gate.AuditAsync();
        var record = audit.Select(r => JsonDocument.Parse(r).RootElement).Single(r => r.GetProperty("decision_id").GetString() == decisionId);
        Assert.Equal("deny", record.GetProperty("verdict").GetString());
        Assert.Equal(code, record.GetProperty("checks")[0].GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, record.GetProperty("identity").GetProperty("repository").ValueKind);
        if (token is not null) Assert.DoesNotContain(token, _gate.Logs.All, StringComparison.Ordinal);
        return problem;
    }

    [Fact]
    public Task MissingBearer_DG3001() => AssertRejectedAsync(null, TokenCodes.MissingBearer);

    [Fact]
    public Task NotAJwt_DG3011() => AssertRejectedAsync("not-a-jwt", TokenCodes.Malformed);

    [Fact]
    public async Task BadSignature_DG3002()
    {
        using var other = RSA.Create(2048);
        await AssertRejectedAsync(_issuer.Sign(Claims(), key: other), TokenCodes.BadSignature);
    }

    [Fact]
    public Task AlgNone_DG3003() => AssertRejectedAsync(_issuer.Sign(Claims(), alg: "none"), TokenCodes.AlgorithmNotAllowed);

    [Fact]
    public Task Hs256KeyConfusion_DG3003() => AssertRejectedAsync(_issuer.Sign(Claims(), alg: "HS256"), TokenCodes.AlgorithmNotAllowed);

    [Fact]
    public Task WrongIssuer_DG3004()
    {
        var claims = Claims();
        claims["iss"] = "https://token.actions.githubusercontent.com.evil.example";
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.WrongIssuer);
    }

    [Fact]
    public Task WrongAudience_DG3005()
    {
        var claims = Claims();
        claims["aud"] = "https://github.com/acme";
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.WrongAudience);
    }

    [Fact]
    public Task Expired_DG3006()
    {
        var claims = _issuer.Claims(GateHost.Start - TimeSpan.FromMinutes(10), GateHost.Audience);   // exp = start - 5 min
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.Expired);
    }

    [Fact]
    public Task NotBeforeInFuture_DG3007()
    {
        var claims = Claims();
        claims["nbf"] = GateHost.Start.AddMinutes(3).ToUnixTimeSeconds();
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.NotYetValid);
    }

    [Fact]
    public async Task UnknownKid_DG3008_AfterOneJwksRefresh()
    {
        // A valid request first, so the initial JWKS fetch is certainly done.
        using (var ok = await _gate.AuthorizeAsync(_issuer.Sign(Claims()), Body)) Assert.NotEqual(HttpStatusCode.Unauthorized, ok.StatusCode);
        var before = _issuer.JwksFetches;
        using var stranger = RSA.Create(2048);
        await AssertRejectedAsync(_issuer.Sign(Claims(), kid: "rotated-key-2", key: stranger), TokenCodes.UnknownKey);
        Assert.Equal(before + 1, _issuer.JwksFetches);
        // Rate-limited: another unknown kid right away does not refetch.
        await AssertRejectedAsync(_issuer.Sign(Claims(), kid: "rotated-key-3", key: stranger), TokenCodes.UnknownKey);
        Assert.Equal(before + 1, _issuer.JwksFetches);
    }

    [Fact]
    public async Task RotatedKey_IsPickedUpByTheRefetch()
    {
        using (var ok = await _gate.AuthorizeAsync(_issuer.Sign(Claims()), Body)) Assert.NotEqual(HttpStatusCode.Unauthorized, ok.StatusCode);
        using var rotated = RSA.Create(2048);
        _issuer.Publish("rotated-key-2", rotated);
        using var response = await _gate.AuthorizeAsync(_issuer.Sign(Claims(), kid: "rotated-key-2", key: rotated), Body);
        Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public Task OwnerNotAllowed_DG3009()
    {
        var claims = Claims();
        claims["repository"] = "evil/web";
        claims["repository_owner"] = "evil";
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.OwnerNotAllowed);
    }

    [Fact]
    public async Task OwnerAllowList_IsCaseInsensitive()
    {
        var claims = Claims();
        claims["repository"] = "ACME/web";
        claims["repository_owner"] = "ACME";
        using var response = await _gate.AuthorizeAsync(_issuer.Sign(claims), Body);
        Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("repository")]
    [InlineData("repository_owner")]
    [InlineData("job_workflow_ref")]
    [InlineData("ref")]
    [InlineData("run_id")]
    [InlineData("exp")]
    public Task MissingClaim_DG3010(string claim)
    {
        var claims = Claims();
        claims.Remove(claim);
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.MissingClaims);
    }

    [Fact]
    public Task RepositoryNotUnderOwner_DG3010()
    {
        var claims = Claims();
        claims["repository"] = "other/web";   // owner claim still `acme`
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.MissingClaims);
    }

    [Fact]
    public Task IdClaimAsNumber_IsMissing_DG3010()
    {
        var claims = Claims();
        claims["run_id"] = 4242;   // GitHub sends strings; a number is not trusted as one
        return AssertRejectedAsync(_issuer.Sign(claims), TokenCodes.MissingClaims);
    }
}
