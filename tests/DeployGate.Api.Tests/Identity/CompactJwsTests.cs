using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api.Tests.Identity;

/// <summary>The token reader the validator uses instead of IdentityModel's handler (see <see cref="CompactJws"/>):
/// what it accepts, what it refuses and with which code, with the cache off so every token is verified.</summary>
public sealed class CompactJwsTests : IDisposable
{
    private const string Issuer = "https://issuer.test";
    private const string Audience = "https://gate.test";
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);
    private readonly RSA _rsa = RSA.Create(2048);

    public void Dispose() => _rsa.Dispose();

    private Task<TokenCheck> CheckAsync(string token, SecurityKey? key = null) =>
        new OidcTokenValidator(new OneKey(key ?? new RsaSecurityKey(_rsa.ExportParameters(false))), new IssuerTrust(Issuer, Audience, ["acme"]), 0)
            .ValidateAsync("Bearer " + token, Now, default).AsTask();

    [Fact]
    public async Task AValidToken_YieldsItsStringClaims_AndNothingElse()
    {
        var claims = Claims();
        claims["run_attempt"] = "2";
        claims["runner_labels"] = new JsonArray("self-hosted", 7, "linux");   // an array claim: its first string
        claims["iat"] = Now.ToUnixTimeSeconds();                               // a number: not a string claim
        claims["nested"] = new JsonObject { ["a"] = "b" };                      // an object: skipped
        var check = await CheckAsync(Sign(claims));
        Assert.True(check.IsValid, check.Message);
        var all = check.Claims!.All;
        Assert.Equal("acme/web", check.Claims.Repository);
        Assert.Equal("2", check.Claims.RunAttempt);
        Assert.Equal("self-hosted", all["runner_labels"]);
        Assert.False(all.ContainsKey("iat"));
        Assert.False(all.ContainsKey("nested"));
        Assert.Equal(Issuer, all["iss"]);
    }

    [Fact]
    public async Task AJsonWebKeyFromAJwks_Verifies()
    {
        var p = _rsa.ExportParameters(false);
        var jwk = new JsonWebKey { Kty = "RSA", Kid = "k1", N = Base64UrlEncoder.Encode(p.Modulus), E = Base64UrlEncoder.Encode(p.Exponent) };
        Assert.True((await CheckAsync(Sign(Claims()), jwk)).IsValid);
    }

    [Theory]
    [InlineData("https://gate.test")]
    [InlineData("https://gate.test/")]
    public async Task AudienceArray_ContainingTheGate_IsAccepted(string gate)
    {
        var claims = Claims();
        claims["aud"] = new JsonArray("https://other.test", gate);
        Assert.True((await CheckAsync(Sign(claims))).IsValid);
    }

    [Fact]
    public async Task AudienceArray_WithoutTheGate_IsDG3005()
    {
        var claims = Claims();
        claims["aud"] = new JsonArray("https://other.test", "https://gate.test.evil");
        Assert.Equal(TokenCodes.WrongAudience, (await CheckAsync(Sign(claims))).Code);
    }

    [Fact]
    public async Task NoAudience_IsDG3005()
    {
        var claims = Claims();
        claims.Remove("aud");
        Assert.Equal(TokenCodes.WrongAudience, (await CheckAsync(Sign(claims))).Code);
    }

    [Fact]
    public async Task IssuerAsAnArray_IsNoIssuer_DG3004()
    {
        var claims = Claims();
        claims["iss"] = new JsonArray(Issuer);
        Assert.Equal(TokenCodes.WrongIssuer, (await CheckAsync(Sign(claims))).Code);
    }

    [Fact]
    public async Task FractionalExp_IsNotANumericExp_DG3010()
    {
        var claims = Claims();
        claims["exp"] = Now.ToUnixTimeSeconds() + 300.5;
        Assert.Equal(TokenCodes.MissingClaims, (await CheckAsync(Sign(claims))).Code);
    }

    [Fact]
    public async Task APayloadChangedAfterSigning_IsDG3002()
    {
        var token = Sign(Claims());
        var parts = token.Split('.');
        var other = Claims();
        other["ref"] = "refs/heads/evil";
        var swapped = parts[0] + "." + Base64UrlEncoder.Encode(other.ToJsonString()) + "." + parts[2];
        Assert.Equal(TokenCodes.BadSignature, (await CheckAsync(swapped)).Code);
    }

    [Fact]
    public async Task AKeyShorterThan2048Bits_NeverVerifies_DG3002()
    {
        using var weak = RSA.Create(1024);
        var check = await CheckAsync(Sign(Claims(), weak), new RsaSecurityKey(weak.ExportParameters(false)));
        Assert.Equal(TokenCodes.BadSignature, check.Code);
    }

    [Fact]
    public async Task AJwksKeyWhoseModulusIsNotBase64Url_NeverVerifies_DG3002()
    {
        var jwk = new JsonWebKey { Kty = "RSA", Kid = "k1", N = "not*base64url", E = "AQAB" };
        Assert.Equal(TokenCodes.BadSignature, (await CheckAsync(Sign(Claims()), jwk)).Code);
    }

    [Fact]
    public async Task ASymmetricKey_NeverVerifies_DG3002()
    {
        var check = await CheckAsync(Sign(Claims()), new SymmetricSecurityKey(new byte[32]));
        Assert.Equal(TokenCodes.BadSignature, check.Code);
    }

    [Fact]
    public async Task FiveSegments_IsAnEncryptedToken_DG3011()
    {
        var check = await CheckAsync("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d");
        Assert.Equal(TokenCodes.Malformed, check.Code);
        Assert.Contains("encrypted", check.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { "two segments", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0" },
        { "four segments", "a.b.c.d" },
        { "empty header", ".eyJpc3MiOiJ4In0.c2ln" },
        { "empty payload", "eyJhbGciOiJSUzI1NiJ9..c2ln" },
        { "padding", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0=.c2ln" },
        { "standard base64 alphabet", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0+.c2ln" },
        { "impossible length", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0a.c2ln" },
        { "header not JSON", B64("RS256") + "." + B64("{}") + ".c2ln" },
        { "header an array", B64("[\"RS256\"]") + "." + B64("{}") + ".c2ln" },
        { "payload an array", B64("{\"alg\":\"RS256\",\"kid\":\"k1\"}") + "." + B64("[1]") + ".c2ln" },
        { "trailing data after the payload", B64("{\"alg\":\"RS256\",\"kid\":\"k1\"}") + "." + B64("{\"iss\":\"x\"} {}") + ".c2ln" },
        { "header alg twice", B64("{\"alg\":\"none\",\"alg\":\"RS256\",\"kid\":\"k1\"}") + "." + B64("{}") + ".c2ln" },
        { "payload iss twice", B64("{\"alg\":\"RS256\",\"kid\":\"k1\"}") + "." + B64("{\"iss\":\"https://issuer.test\",\"iss\":\"x\"}") + ".c2ln" },
        { "critical extension", B64("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}") + "." + B64("{}") + ".c2ln" },
        { "lone surrogate in a claim", B64("{\"alg\":\"RS256\",\"kid\":\"k1\"}") + "." + B64("{\"iss\":\"\\ud800\"}") + ".c2ln" },
        { "lone surrogate in a claim name", B64("{\"alg\":\"RS256\",\"kid\":\"k1\"}") + "." + B64("{\"\\udc00\":\"x\"}") + ".c2ln" },
        { "lone surrogate in the header", B64("{\"alg\":\"\\ud800\",\"kid\":\"k1\"}") + "." + B64("{}") + ".c2ln" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Malformed_IsDG3011(string what, string token)
    {
        var check = await CheckAsync(token);
        Assert.True(check.Code == TokenCodes.Malformed, $"{what}: {check.Code} {check.Message}");
    }

    [Fact]
    public async Task Whitespace_InsideASegment_IsDG3011()
    {
        var token = Sign(Claims());
        var at = token.IndexOf('.', StringComparison.Ordinal) + 5;
        Assert.Equal(TokenCodes.Malformed, (await CheckAsync(token[..at] + " " + token[at..])).Code);
    }

    [Fact]
    public async Task AlgNone_WithAnEmptySignature_IsDG3003()
    {
        var token = B64("{\"alg\":\"none\",\"kid\":\"k1\"}") + "." + B64(Claims().ToJsonString()) + ".";
        Assert.Equal(TokenCodes.AlgorithmNotAllowed, (await CheckAsync(token)).Code);
    }

    [Fact]
    public async Task ATokenOverTheLengthLimit_IsDG3011_BeforeAnyDecoding()
    {
        var claims = Claims();
        claims["padding"] = new string('x', CompactJws.MaxLength);
        Assert.Equal(TokenCodes.Malformed, (await CheckAsync(Sign(claims))).Code);
    }

    [Fact]
    public async Task ConcurrentVerifications_OfOneKey_AllSucceed()
    {
        var key = new RsaSecurityKey(_rsa.ExportParameters(false));
        var validator = new OidcTokenValidator(new OneKey(key), new IssuerTrust(Issuer, Audience, ["acme"]), 0);
        var tokens = Enumerable.Range(0, 64).Select(_ => Sign(Claims())).ToArray();
        var results = await Task.WhenAll(tokens.Select(t => Task.Run(() => validator.ValidateAsync("Bearer " + t, Now, default).AsTask())));
        Assert.All(results, r => Assert.True(r.IsValid, r.Message));
    }

    private static JsonObject Claims() => new()
    {
        ["iss"] = Issuer, ["aud"] = Audience, ["jti"] = Guid.NewGuid().ToString(),
        ["nbf"] = Now.ToUnixTimeSeconds() - 5, ["exp"] = Now.ToUnixTimeSeconds() + 300,
        ["repository"] = "acme/web", ["repository_owner"] = "acme",
        ["job_workflow_ref"] = "acme/web/.github/workflows/release.yml@refs/heads/main", ["ref"] = "refs/heads/main", ["run_id"] = "1",
    };

    private string Sign(JsonObject payload, RSA? key = null)
    {
        var input = B64("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}") + "." + B64(payload.ToJsonString());
        var signature = (key ?? _rsa).SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return input + "." + Base64UrlEncoder.Encode(signature);
    }

    private static string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

    private sealed class OneKey(SecurityKey key) : ISigningKeyProvider
    {
        public ValueTask<KeyLookup> FindAsync(string kid, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new KeyLookup(kid == "k1" ? key : null, false));
    }
}
