using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api.Tests;

/// <summary>A local OIDC issuer on 127.0.0.1: serves its own openid-configuration and JWKS, counts JWKS
/// fetches, and mints tokens (well-formed or deliberately broken).</summary>
public sealed class TestIssuer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<(string Kid, RSA Key)> _published = [];
    private int _jwksFetches;

    private TestIssuer(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    public int JwksFetches => Volatile.Read(ref _jwksFetches);

    public RSA Key { get; } = RSA.Create(2048);

    public string Kid { get; } = "test-key-1";

    public static async Task<TestIssuer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        TestIssuer? issuer = null;
        app.MapGet("/.well-known/openid-configuration", (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/json";
            return ctx.Response.WriteAsync(new JsonObject { ["issuer"] = issuer!.Url, ["jwks_uri"] = issuer.Url + "/.well-known/jwks" }.ToJsonString());
        });
        app.MapGet("/.well-known/jwks", (HttpContext ctx) =>
        {
            Interlocked.Increment(ref issuer!._jwksFetches);
            var keys = new JsonArray();
            lock (issuer._published)
            {
                foreach (var (kid, key) in issuer._published)
                {
                    var p = key.ExportParameters(false);
                    keys.Add(new JsonObject { ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = kid, ["n"] = Base64UrlEncoder.Encode(p.Modulus), ["e"] = Base64UrlEncoder.Encode(p.Exponent) });
                }
            }
            ctx.Response.ContentType = "application/json";
            return ctx.Response.WriteAsync(new JsonObject { ["keys"] = keys }.ToJsonString());
        });
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        issuer = new TestIssuer(app, url);
        issuer.Publish(issuer.Kid, issuer.Key);
        return issuer;
    }

    public void Publish(string kid, RSA key)
    {
        lock (_published) _published.Add((kid, key));
    }

    /// <summary>GitHub-shaped claims for acme/web's release workflow at <paramref name="now"/>.</summary>
    public JsonObject Claims(DateTimeOffset now, string audience, string? environment = null)
    {
        var t = now.ToUnixTimeSeconds();
        var claims = new JsonObject
        {
            ["iss"] = Url, ["aud"] = audience, ["sub"] = "repo:acme/web:ref:refs/heads/main", ["jti"] = Guid.NewGuid().ToString(),
            ["iat"] = t, ["nbf"] = t - 60, ["exp"] = t + 300,
            ["repository"] = "acme/web", ["repository_owner"] = "acme", ["repository_id"] = "74",
            ["job_workflow_ref"] = "acme/web/.github/workflows/release.yml@refs/heads/main",
            ["ref"] = "refs/heads/main", ["sha"] = "0123456789abcdef0123456789abcdef01234567",
            ["run_id"] = "4242", ["run_attempt"] = "1", ["actor"] = "alice", ["runner_environment"] = "github-hosted",
        };
        if (environment is not null) claims["environment"] = environment;
        return claims;
    }

    public string Sign(JsonObject payload, string? kid = null, RSA? key = null, string alg = "RS256")
    {
        var header = new JsonObject { ["alg"] = alg, ["typ"] = "JWT" };
        if ((kid ?? Kid) is { } k) header["kid"] = k;
        var signingInput = B64(header.ToJsonString()) + "." + B64(payload.ToJsonString());
        var data = Encoding.ASCII.GetBytes(signingInput);
        var signature = alg switch
        {
            "RS256" => (key ?? Key).SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            // Key confusion: an HMAC keyed with the issuer's public key bytes.
            "HS256" => HMACSHA256.HashData(Key.ExportSubjectPublicKeyInfo(), data),
            _ => [],
        };
        return signingInput + "." + Base64UrlEncoder.Encode(signature);
    }

    private static string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Key.Dispose();
    }
}
