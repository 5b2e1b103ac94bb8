using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeployGate.Benchmarks.Http;

/// <summary>What the load run sends: <see cref="Requests"/> distinct pre-built HTTP requests (token + body),
/// cycled in order. Tokens are RS256, signed with the <c>serve --dev</c> issuer key the server created,
/// each with its own <c>jti</c>/<c>run_id</c> and a fresh <c>iat</c>/<c>exp</c>.</summary>
internal sealed class Workload
{
    public const int TokenCount = 256;
    public const int RequestCount = 2000;

    public required string Name { get; init; }
    public required byte[][] Requests { get; init; }
    public required int DistinctTokens { get; init; }
    public required int DistinctBodies { get; init; }

    /// <summary>The same wire bytes for every target, so the Kestrel baseline pays the same parsing and socket costs.</summary>
    public static byte[] BuildRequest(string hostPort, string path, string token, string body)
    {
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = string.Create(CultureInfo.InvariantCulture,
            $"POST {path} HTTP/1.1\r\nHost: {hostPort}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {bodyBytes.Length}\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head), .. bodyBytes];
    }

    /// <summary>acme/web with the example policy: release and CI tokens (some from a feature branch, some on a
    /// self-hosted runner, some from an unknown workflow) asking for staging and production deploys and secrets.</summary>
    /// <param name="issuer">The tokens' <c>iss</c>; default: <c>serve --dev</c>'s own issuer on <paramref name="baseUrl"/>.</param>
    public static Workload Example(DevKey key, string baseUrl, string path, DateTimeOffset now, string? issuer = null)
    {
        var tokens = new string[TokenCount];
        for (var i = 0; i < TokenCount; i++)
        {
            var (workflow, gitRef, runner, env) = (i % 8) switch
            {
                0 or 1 or 2 => ("acme/web/.github/workflows/release.yml", "refs/heads/main", "github-hosted", "production"),
                3 => ("acme/web/.github/workflows/release.yml", $"refs/tags/v1.{i}.0", "github-hosted", "production"),
                4 or 5 => ("acme/web/.github/workflows/ci.yml", "refs/heads/main", "github-hosted", "staging"),
                6 => ("acme/web/.github/workflows/ci.yml", $"refs/heads/feature-{i}", "self-hosted", "staging"),
                _ => ("acme/web/.github/workflows/deploy.yml", $"refs/heads/feature-{i}", "github-hosted", "staging"),
            };
            tokens[i] = key.Sign(Claims(baseUrl, now, i, "acme/web", workflow, gitRef, runner, env, issuer));
        }
        var requests = new byte[RequestCount][];
        var hostPort = new Uri(baseUrl).Authority;
        for (var k = 0; k < RequestCount; k++)
        {
            var body = (k % 10) switch
            {
                0 or 1 or 2 => Deploy("staging", $"aks/staging-{k}"),
                3 => Deploy("production", "aks/prod-eu-1"),
                4 => Deploy("production", $"aks/prod-us-{k}"),
                5 => Deploy("production", $"aks/other-{k}"),
                6 or 7 => Secret("staging", $"staging/app-{k}/key"),
                8 => Secret("production", $"prod/db/password-{k}"),
                _ => k % 20 == 9 ? Secret("production", $"prod/warehouse/t{k}") : Deploy("qa", $"aks/qa-{k}"),
            };
            requests[k] = BuildRequest(hostPort, path, tokens[k % TokenCount], body);
        }
        return new Workload { Name = "example", Requests = requests, DistinctTokens = TokenCount, DistinctBodies = RequestCount };
    }

    /// <summary>The large policy (200 environments, 2,000 identities) for <paramref name="repositories"/> repositories
    /// acme/r0…: mostly each token's own environment (allow or deny by window), some a foreign one (deny).</summary>
    public static Workload Large(DevKey key, string baseUrl, string path, DateTimeOffset now, int repositories, int environments)
    {
        var tokens = new string[TokenCount];
        for (var i = 0; i < TokenCount; i++)
        {
            var r = i % repositories;
            tokens[i] = key.Sign(Claims(baseUrl, now, i, $"acme/r{r}", $"acme/r{r}/.github/workflows/d.yml", "refs/heads/main", "github-hosted", null));
        }
        var requests = new byte[RequestCount][];
        var hostPort = new Uri(baseUrl).Authority;
        for (var k = 0; k < RequestCount; k++)
        {
            var r = k % TokenCount % repositories;
            var env = k % 10 < 7 ? r % environments : (r + 1 + k) % environments;
            var body = k % 3 == 2 ? Secret($"env-{env}", $"env-{env}/db/{k}") : Deploy($"env-{env}", $"aks/env-{env}-{k}");
            requests[k] = BuildRequest(hostPort, path, tokens[k % TokenCount], body);
        }
        return new Workload { Name = "large", Requests = requests, DistinctTokens = TokenCount, DistinctBodies = RequestCount };
    }

    private static string Deploy(string environment, string target) =>
        new JsonObject { ["action"] = "deploy", ["environment"] = environment, ["target"] = target }.ToJsonString();

    private static string Secret(string environment, string secret) =>
        new JsonObject { ["action"] = "read-secret", ["environment"] = environment, ["secret"] = secret }.ToJsonString();

    internal static JsonObject Claims(string baseUrl, DateTimeOffset now, int i, string repository, string workflow,
        string gitRef, string runner, string? environment, string? issuer = null)
    {
        var t = now.ToUnixTimeSeconds();
        var claims = new JsonObject
        {
            ["iss"] = issuer ?? baseUrl + "/api/dev", ["aud"] = baseUrl,
            ["sub"] = environment is null ? $"repo:{repository}:ref:{gitRef}" : $"repo:{repository}:environment:{environment}",
            ["jti"] = Guid.NewGuid().ToString(), ["iat"] = t, ["nbf"] = t - 5, ["exp"] = t + 1800,
            ["repository"] = repository, ["repository_owner"] = "acme", ["repository_id"] = (1000 + i).ToString(CultureInfo.InvariantCulture),
            ["job_workflow_ref"] = $"{workflow}@{gitRef}", ["workflow_ref"] = $"{workflow}@{gitRef}",
            ["ref"] = gitRef, ["ref_type"] = gitRef.StartsWith("refs/tags/", StringComparison.Ordinal) ? "tag" : "branch",
            ["sha"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20)),
            ["run_id"] = (9_000_000 + i).ToString(CultureInfo.InvariantCulture), ["run_attempt"] = "1",
            ["actor"] = $"dev{i % 17}", ["event_name"] = "push", ["runner_environment"] = runner,
        };
        if (environment is not null) claims["environment"] = environment;
        return claims;
    }
}

/// <summary>The <c>serve --dev</c> issuer key, read from <c>./.deploygate/dev-issuer.json</c> in the server's folder.</summary>
internal sealed class DevKey : IDisposable
{
    private readonly RSA _rsa;

    private DevKey(RSA rsa, string kid) => (_rsa, Kid) = (rsa, kid);

    public string Kid { get; }

    /// <summary>A fresh 2048-bit key with a <c>kid</c> derived as <c>DevIssuer</c> derives it.</summary>
    public static DevKey Create()
    {
        var rsa = RSA.Create(2048);
        return new DevKey(rsa, "dev-" + Convert.ToHexStringLower(SHA256.HashData(rsa.ExportSubjectPublicKeyInfo()))[..16]);
    }

    /// <summary>Writes the key where <c>serve --dev</c> looks for it (<c>./.deploygate/dev-issuer.json</c>), in the
    /// format <c>DevIssuer.LoadOrCreate</c> reads, so every server of the run trusts the same key.</summary>
    public void WriteDevIssuerFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, new JsonObject { ["kid"] = Kid, ["private_key_pem"] = _rsa.ExportRSAPrivateKeyPem(), ["note"] = "bench" }.ToJsonString());
    }

    public static DevKey Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var rsa = RSA.Create();
        rsa.ImportFromPem(doc.RootElement.GetProperty("private_key_pem").GetString());
        return new DevKey(rsa, doc.RootElement.GetProperty("kid").GetString()!);
    }

    public string Sign(JsonObject payload)
    {
        var header = new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = Kid };
        var input = B64(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + B64(Encoding.UTF8.GetBytes(payload.ToJsonString()));
        var signature = _rsa.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return input + "." + B64(signature);
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose() => _rsa.Dispose();
}
