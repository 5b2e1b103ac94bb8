using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DeployGate.Engine;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api;

/// <summary>The verified claims of a grant, and its payload as signed (echoed by redeem and introspect).</summary>
internal sealed record GrantClaims(
    string Issuer, string Audience, string Repository, string RunId, string Action, string Environment,
    string? Target, string? Secret, string DecisionId, string Jti, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt,
    string PayloadJson);

/// <summary>A grant checked by <see cref="GrantAuthority.Verify"/>: its claims, or a code and reason.</summary>
internal sealed record GrantCheck(GrantClaims? Claims, string? Code, string? Message)
{
    public bool IsValid => Claims is not null;

    public static GrantCheck Fail(string code, string message) => new(null, code, message);
}

/// <summary>Issues and verifies grants (SPEC §7): ES256 JWTs signed with the <see cref="GrantKeyRing"/>'s current key,
/// <c>kid</c> in the header. <c>exp</c> = min(now + <c>Grants:Ttl</c>, the instant the time permission lapses
/// (<see cref="Timeline.OpenUntil"/>: close of the window that allowed it, start of the next freeze), and for
/// break-glass decisions now + 15 min), rounded down to whole seconds.</summary>
internal sealed class GrantAuthority(GrantKeyRing keys, GateConfiguration config, IssuerTrust trust)
{
    /// <summary><c>aud</c> when the environment names no <c>grant_audience</c>.</summary>
    public const string DefaultAudience = "deploygate";

    /// <summary>The cap on break-glass grants (SPEC §3).</summary>
    public static readonly TimeSpan BreakGlassLifetime = TimeSpan.FromMinutes(15);

    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly string[] RequiredStrings = ["sub", "run_id", "action", "environment", "decision_id", "jti"];
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    public GrantKeyRing Keys => keys;

    /// <summary><c>iss</c> of every grant: <c>DeployGate:PublicUrl</c> (in <c>--dev</c>, the bound URL).</summary>
    public string Issuer => config.Gate.PublicUrl ?? trust.Audience ?? "";

    /// <summary>The grant for an allowed <paramref name="decision"/>.</summary>
    /// <exception cref="GrantKeyException">No usable signing key.</exception>
    public GrantInfo Issue(CompiledPolicy policy, Decision decision, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(decision);
        var request = decision.Request;
        var exp = now + config.Grants.Ttl;
        if (decision.BreakGlass)
        {
            // An overridden window or freeze means time does not permit the request; only the cap bounds it.
            if (now + BreakGlassLifetime < exp) exp = now + BreakGlassLifetime;
        }
        if (!decision.Checks.Any(c => c.Result == CheckResult.Overridden) &&
            Timeline.OpenUntil(policy, request, now, config.Grants.Ttl) is { } lapses && lapses < exp)
        {
            exp = lapses;
        }
        var expSeconds = exp.ToUnixTimeSeconds();   // rounds down: never later than the bound
        var environment = policy.TryGetEnvironment(request.Environment, out var env) ? env.Name : request.Environment;
        var audience = env?.GrantAudience ?? DefaultAudience;
        var repository = decision.Identity.Repository ?? "";
        var runId = decision.Identity.RunId ?? "";
        var jti = GrantIds.New(repository, runId);

        var payload = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(payload, Compact))
        {
            w.WriteStartObject();
            w.WriteString("iss", Issuer);
            w.WriteString("sub", repository);
            w.WriteString("aud", audience);
            w.WriteString("run_id", runId);
            w.WriteString("action", DecisionJson.ActionName(request.Action));
            w.WriteString("environment", environment);
            if (request.Target is not null) w.WriteString("target", request.Target);
            if (request.Secret is not null) w.WriteString("secret", request.Secret);
            w.WriteString("decision_id", decision.DecisionId);
            w.WriteString("jti", jti);
            w.WriteNumber("iat", now.ToUnixTimeSeconds());
            w.WriteNumber("exp", expSeconds);
            w.WriteEndObject();
        }
        var key = keys.Signing(now);
        var signingInput = key.EncodedHeader + "." + System.Buffers.Text.Base64Url.EncodeToString(payload.WrittenSpan);
        Span<byte> signature = stackalloc byte[64];
        try
        {
            // IEEE P1363 (r ‖ s), the JWS encoding of ES256 signatures (RFC 7518 §3.4): 64 bytes for P-256.
            if (!key.Key.TrySignData(Encoding.ASCII.GetBytes(signingInput), signature, HashAlgorithmName.SHA256,
                    DSASignatureFormat.IeeeP1363FixedFieldConcatenation, out var written) || written != signature.Length)
                throw new CryptographicException($"the signature is not {signature.Length} bytes");
        }
        catch (CryptographicException ex)
        {
            throw new GrantKeyException($"cannot sign with grant key `{key.Kid}`: {ex.Message}", ex);
        }
        return new GrantInfo(signingInput + "." + System.Buffers.Text.Base64Url.EncodeToString(signature), jti, DateTimeOffset.FromUnixTimeSeconds(expSeconds));
    }

    /// <summary>Checks a grant at <paramref name="now"/>: compact JWS, header <c>alg</c> ES256 only (before any key is
    /// used), <c>iss</c> exact, <c>kid</c> among the published keys, signature, required claims, <c>exp</c> not reached.
    /// <c>aud</c> is not compared here: it is a function of the environment, which redeem compares (docs/grants.md).
    /// Redemption and revocation are the store's business.</summary>
    public async ValueTask<GrantCheck> VerifyAsync(string? token, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(token)) return GrantCheck.Fail(GrantCodes.Invalid, "the grant is empty");
        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(token.Trim());
        }
        catch (Exception)
        {
            return GrantCheck.Fail(GrantCodes.Invalid, "the grant is not a JWT");
        }
        if (jwt.IsEncrypted) return GrantCheck.Fail(GrantCodes.Invalid, "the grant is not a JWS");
        if (jwt.Alg != SecurityAlgorithms.EcdsaSha256)
            return GrantCheck.Fail(GrantCodes.AlgorithmNotAllowed, $"grant algorithm `{jwt.Alg}` is not allowed; only ES256");
        var issuer = Issuer;
        if (!jwt.TryGetPayloadValue<string>("iss", out var iss) || !string.Equals(iss, issuer, StringComparison.Ordinal))
            return GrantCheck.Fail(GrantCodes.Invalid, $"grant issuer `{iss}` is not `{issuer}`");
        if (string.IsNullOrEmpty(jwt.Kid) || keys.Find(jwt.Kid, now) is not { } key)
            return GrantCheck.Fail(GrantCodes.UnknownKey, $"grant key `{jwt.Kid}` is not among this gate's published keys");

        var result = await _handler.ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            ValidIssuer = issuer,
            ValidateIssuer = true,
            ValidateAudience = false,
            IssuerSigningKey = key.SecurityKey,
            TryAllIssuerSigningKeys = false,
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            RequireSignedTokens = true,
            ValidateLifetime = false,   // judged below at the request's one clock reading
            RequireExpirationTime = false,
            LogValidationExceptions = false,
        });
        if (!result.IsValid) return GrantCheck.Fail(GrantCodes.Invalid, "grant signature does not verify");

        var missing = RequiredStrings.Where(c => !jwt.TryGetPayloadValue<string>(c, out var v) || string.IsNullOrEmpty(v)).ToList();
        if (!jwt.TryGetPayloadValue<string>("aud", out var aud) || string.IsNullOrEmpty(aud)) missing.Add("aud");
        if (!jwt.TryGetPayloadValue<long>("exp", out var exp)) missing.Add("exp");
        if (!jwt.TryGetPayloadValue<long>("iat", out var iat)) missing.Add("iat");
        if (missing.Count > 0)
            return GrantCheck.Fail(GrantCodes.Invalid, $"grant lacks required claims: {string.Join(", ", missing.Select(m => $"`{m}`"))}");
        var expiresAt = DateTimeOffset.FromUnixTimeSeconds(exp);
        if (now >= expiresAt) return GrantCheck.Fail(GrantCodes.Expired, $"grant expired at {DecisionJson.Instant(expiresAt)}");

        string S(string name) => jwt.GetPayloadValue<string>(name);
        string? Opt(string name) => jwt.TryGetPayloadValue<string>(name, out var v) ? v : null;
        var payloadJson = Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
        return new GrantCheck(new GrantClaims(iss, aud, S("sub"), S("run_id"), S("action"), S("environment"), Opt("target"), Opt("secret"),
            S("decision_id"), S("jti"), DateTimeOffset.FromUnixTimeSeconds(iat), expiresAt, payloadJson), null, null);
    }
}

/// <summary>Grant ids (<c>jti</c>) that name the run they were issued to without any stored state:
/// <c>g1.</c> + 16 random bytes + <c>.</c> + the first 12 bytes of SHA-256(<c>dg-grant-owner</c> LF repository LF
/// run_id), base64url. Revoke recomputes the tag from the caller's verified OIDC claims, so only the run a grant was
/// issued to can revoke it, and issuing a grant needs no store write.</summary>
internal static class GrantIds
{
    private const string Prefix = "g1.";

    public static string New(string repository, string runId)
    {
        Span<byte> random = stackalloc byte[16];
        RandomPool.Fill(random);
        return Prefix + System.Buffers.Text.Base64Url.EncodeToString(random) + "." + OwnerTag(repository, runId);
    }

    /// <summary>True when <paramref name="jti"/> is a grant id issued to <paramref name="repository"/>'s run
    /// <paramref name="runId"/> (constant-time comparison of the tag).</summary>
    public static bool IsOwnedBy(string jti, string repository, string runId)
    {
        ArgumentNullException.ThrowIfNull(jti);
        var parts = jti.Split('.');
        if (parts.Length != 3 || parts[0] + "." != Prefix) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(parts[2]), Encoding.ASCII.GetBytes(OwnerTag(repository, runId)));
    }

    private static string OwnerTag(string repository, string runId) =>
        Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes($"dg-grant-owner\n{repository}\n{runId}"))[..12]);
}
