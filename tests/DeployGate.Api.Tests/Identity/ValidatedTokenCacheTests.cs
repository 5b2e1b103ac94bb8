using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api.Tests.Identity;

/// <summary>The validated-token cache: a replayed token skips verification only while it is still live, its key is
/// still the issuer's and nothing it was checked against changed; failures are never cached (SPEC §1.3, §1.7).</summary>
public sealed class ValidatedTokenCacheTests : IDisposable
{
    private const string Issuer = "https://issuer.test";
    private const string Audience = "https://gate.test";
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly SwitchableKeys _keys;

    public ValidatedTokenCacheTests() => _keys = new SwitchableKeys(Key(_rsa));

    public void Dispose() => _rsa.Dispose();

    private OidcTokenValidator Validator(int size = 100) =>
        new(_keys, new IssuerTrust(Issuer, Audience, ["acme"]), size);

    [Fact]
    public async Task Replay_WithinLifetime_IsServedFromTheCache()
    {
        var validator = Validator();
        var token = Sign(Claims(exp: Now.AddMinutes(5)));
        var first = await validator.ValidateAsync("Bearer " + token, Now, default);
        var second = await validator.ValidateAsync("Bearer " + token, Now.AddMinutes(1), default);
        Assert.True(first.IsValid && second.IsValid);
        Assert.Same(first, second);
        Assert.Equal(1, validator.Cache!.Count);
    }

    [Fact]
    public async Task Lookup_IsByTheExactToken_WhateverSurroundsItInTheHeader()
    {
        var validator = Validator();
        var token = Sign(Claims(exp: Now.AddMinutes(5)));
        var first = await validator.ValidateAsync("Bearer " + token, Now, default);
        Assert.Same(first, await validator.ValidateAsync("bearer   " + token + "  ", Now, default));   // same token, same entry

        // One character of the signature changed: not the cached token, so verified again and refused.
        // (Not the last character: its low bits are padding a decoder may ignore.)
        var at = token.Length - 10;
        var changed = token[..at] + (token[at] == 'A' ? 'B' : 'A') + token[(at + 1)..];
        var tampered = await validator.ValidateAsync("Bearer " + changed, Now, default);
        Assert.Equal(TokenCodes.BadSignature, tampered.Code);
        Assert.Equal(1, validator.Cache!.Count);
    }

    [Fact]
    public async Task Replay_AfterExpiry_IsRejectedAsExpired()
    {
        var validator = Validator();
        var token = Sign(Claims(exp: Now.AddMinutes(5)));
        Assert.True((await validator.ValidateAsync("Bearer " + token, Now, default)).IsValid);
        var late = await validator.ValidateAsync("Bearer " + token, Now.AddMinutes(7), default);   // exp + 60 s skew passed
        Assert.Equal(TokenCodes.Expired, late.Code);
    }

    [Fact]
    public async Task Replay_AfterTheIssuerDroppedTheKey_IsVerifiedAgainAndRejected()
    {
        var validator = Validator();
        var token = Sign(Claims(exp: Now.AddMinutes(5)));
        Assert.True((await validator.ValidateAsync("Bearer " + token, Now, default)).IsValid);
        using var other = RSA.Create(2048);
        _keys.Current = Key(other);   // same kid, another key: the cached verification no longer holds
        var again = await validator.ValidateAsync("Bearer " + token, Now, default);
        Assert.Equal(TokenCodes.BadSignature, again.Code);
    }

    [Fact]
    public async Task Failures_AreNotCached()
    {
        var validator = Validator();
        using var other = RSA.Create(2048);
        var forged = Sign(Claims(exp: Now.AddMinutes(5)), other);
        Assert.Equal(TokenCodes.BadSignature, (await validator.ValidateAsync("Bearer " + forged, Now, default)).Code);
        Assert.Equal(TokenCodes.BadSignature, (await validator.ValidateAsync("Bearer " + forged, Now, default)).Code);
        Assert.Equal(0, validator.Cache!.Count);
    }

    [Fact]
    public async Task Capacity_IsABound()
    {
        var validator = Validator(size: 2);
        for (var i = 0; i < 5; i++)
            Assert.True((await validator.ValidateAsync("Bearer " + Sign(Claims(exp: Now.AddMinutes(5))), Now, default)).IsValid);
        Assert.Equal(2, validator.Cache!.Count);
    }

    [Fact]
    public void SizeZero_TurnsTheCacheOff() => Assert.Null(Validator(size: 0).Cache);

    private static JsonObject Claims(DateTimeOffset exp) => new()
    {
        ["iss"] = Issuer, ["aud"] = Audience, ["jti"] = Guid.NewGuid().ToString(),
        ["iat"] = Now.ToUnixTimeSeconds(), ["nbf"] = Now.ToUnixTimeSeconds() - 5, ["exp"] = exp.ToUnixTimeSeconds(),
        ["repository"] = "acme/web", ["repository_owner"] = "acme",
        ["job_workflow_ref"] = "acme/web/.github/workflows/release.yml@refs/heads/main", ["ref"] = "refs/heads/main", ["run_id"] = "1",
    };

    private string Sign(JsonObject payload, RSA? key = null)
    {
        var header = new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = "k1" };
        var input = Base64UrlEncoder.Encode(header.ToJsonString()) + "." + Base64UrlEncoder.Encode(payload.ToJsonString());
        var signature = (key ?? _rsa).SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return input + "." + Base64UrlEncoder.Encode(signature);
    }

    private static RsaSecurityKey Key(RSA rsa) => new(rsa.ExportParameters(false)) { KeyId = "k1" };

    private sealed class SwitchableKeys(SecurityKey current) : ISigningKeyProvider
    {
        public SecurityKey Current { get; set; } = current;

        public ValueTask<KeyLookup> FindAsync(string kid, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new KeyLookup(kid == "k1" ? Current : null, false));
    }
}
