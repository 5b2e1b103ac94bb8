using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api;

/// <summary>The local issuer of <c>serve --dev</c> and <c>token --dev</c>: one RSA key kept at
/// <c>./.deploygate/dev-issuer.json</c> (created on first use, mode 0600). Never trusted outside <c>--dev</c>.</summary>
public sealed class DevIssuer : IDisposable
{
    /// <summary>Where the key lives, relative to the working directory.</summary>
    public const string DefaultPath = ".deploygate/dev-issuer.json";

    /// <summary>The path under the public URL where the dev issuer lives: issuer = <c>{public url}/api/dev</c>.</summary>
    public const string IssuerPath = "/api/dev";

    private readonly RSA _rsa;

    private DevIssuer(RSA rsa, string keyId)
    {
        _rsa = rsa;
        KeyId = keyId;
        SigningKey = new RsaSecurityKey(rsa) { KeyId = keyId };
        var parameters = rsa.ExportParameters(includePrivateParameters: false);
        PublicKey = new JsonWebKey
        {
            Kty = "RSA", Use = "sig", Alg = SecurityAlgorithms.RsaSha256, Kid = keyId,
            N = Base64UrlEncoder.Encode(parameters.Modulus), E = Base64UrlEncoder.Encode(parameters.Exponent),
        };
    }

    public string KeyId { get; }

    /// <summary>The private signing key (RS256).</summary>
    public RsaSecurityKey SigningKey { get; }

    /// <summary>The public key as a JWK, as published in the dev JWKS.</summary>
    public JsonWebKey PublicKey { get; }

    /// <summary>The issuer URL for a public base URL: <c>{publicUrl}/api/dev</c>.</summary>
    public static string IssuerFor(string publicUrl)
    {
        ArgumentNullException.ThrowIfNull(publicUrl);
        return publicUrl.TrimEnd('/') + IssuerPath;
    }

    /// <summary>Loads the key at <paramref name="path"/>, creating it when absent. Two processes racing to
    /// create it end up with the same key (write to a temp file, then a non-overwriting move).</summary>
    public static DevIssuer LoadOrCreate(string path = DefaultPath)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            Directory.CreateDirectory(dir);
            using var fresh = RSA.Create(2048);
            var json = new JsonObject
            {
                ["kid"] = "dev-" + Convert.ToHexStringLower(SHA256.HashData(fresh.ExportSubjectPublicKeyInfo()))[..16],
                ["private_key_pem"] = fresh.ExportRSAPrivateKeyPem(),
                ["note"] = "DeployGate --dev issuer key. Never trusted outside `serve --dev`.",
            };
            var temp = Path.Combine(dir, $".dev-issuer.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            File.WriteAllText(temp, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            try
            {
                File.Move(temp, path, overwrite: false);
            }
            catch (IOException)
            {
                File.Delete(temp); // another process created it first: use theirs
            }
        }
        var doc = JsonNode.Parse(File.ReadAllText(path))!;
        var rsa = RSA.Create();
        rsa.ImportFromPem((string)doc["private_key_pem"]!);
        return new DevIssuer(rsa, (string)doc["kid"]!);
    }

    /// <summary>Signs a JWT (RS256, <c>kid</c> in the header) over the given JSON payload.</summary>
    public string Sign(string payloadJson)
    {
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        return handler.CreateToken(payloadJson, new SigningCredentials(SigningKey, SecurityAlgorithms.RsaSha256));
    }

    /// <summary>The JWKS document (public key only).</summary>
    public string JwksJson() => new JsonObject
    {
        ["keys"] = new JsonArray(new JsonObject
        {
            ["kty"] = PublicKey.Kty, ["use"] = PublicKey.Use, ["alg"] = PublicKey.Alg, ["kid"] = PublicKey.Kid,
            ["n"] = PublicKey.N, ["e"] = PublicKey.E,
        }),
    }.ToJsonString();

    /// <summary>A minimal OpenID configuration for <paramref name="issuer"/>.</summary>
    public static string OpenIdConfigurationJson(string issuer) => new JsonObject
    {
        ["issuer"] = issuer,
        ["jwks_uri"] = issuer + "/.well-known/jwks",
        ["subject_types_supported"] = new JsonArray("public"),
        ["response_types_supported"] = new JsonArray("id_token"),
        ["id_token_signing_alg_values_supported"] = new JsonArray("RS256"),
        ["scopes_supported"] = new JsonArray("openid"),
    }.ToJsonString();

    public void Dispose() => _rsa.Dispose();
}
