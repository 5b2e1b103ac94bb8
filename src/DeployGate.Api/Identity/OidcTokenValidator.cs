using System.Security.Claims;
using DeployGate.Engine;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api;

/// <summary>The result of checking one bearer token: verified claims, or a code and reason.</summary>
internal sealed record TokenCheck(WorkloadClaims? Claims, string? Code, string? Message, bool Unavailable = false)
{
    public bool IsValid => Claims is not null;

    public static TokenCheck Fail(string code, string message) => new(null, code, message);
}

/// <summary>Verifies a GitHub Actions OIDC token on every request (SPEC §1.7): compact JWS, header
/// <c>alg</c> RS256 only, <c>iss</c> exact, signature with the issuer's key for <c>kid</c>, <c>aud</c>,
/// <c>exp</c>/<c>nbf</c> against the injected clock (60 s skew), the claims DeployGate needs, and the owner
/// allow-list. Builds <see cref="WorkloadClaims"/> from individual claims; <c>sub</c> is never parsed.</summary>
/// <remarks>A token that passed every check is remembered until its <c>exp</c> (<see cref="ValidatedTokenCache"/>,
/// <c>DeployGate:TokenCacheSize</c>, 0 = off), so a token replayed within its lifetime skips RSA verification.</remarks>
internal sealed class OidcTokenValidator(ISigningKeyProvider keys, IssuerTrust trust, int tokenCacheSize = GateOptions.DefaultTokenCacheSize)
{
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(60);
    private static readonly string[] RequiredClaims = ["repository", "repository_owner", "job_workflow_ref", "ref", "run_id"];
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly ValidatedTokenCache? _cache = tokenCacheSize > 0 ? new ValidatedTokenCache(tokenCacheSize) : null;

    /// <summary>Test hook: the cache, or null when it is off.</summary>
    internal ValidatedTokenCache? Cache => _cache;

    /// <param name="now">The request's one clock reading; lifetime is judged at this instant.</param>
    public async ValueTask<TokenCheck> ValidateAsync(string? authorization, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(authorization) || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ||
            authorization.AsSpan(7).Trim().IsEmpty)
            return TokenCheck.Fail(TokenCodes.MissingBearer, "missing `Authorization: Bearer <OIDC token>` header");
        if (_cache is not null && _cache.TryGet(authorization.AsSpan(7).Trim(), now, out var hit))
        {
            // Invariant: a hit stands only if everything it was verified against still holds.
            var current = await keys.FindAsync(hit.Kid, cancellationToken);
            if (ReferenceEquals(current.Key, hit.Key) && string.Equals(hit.Issuer, trust.Issuer, StringComparison.Ordinal)
                && string.Equals(hit.Audience, trust.Audience, StringComparison.Ordinal))
                return hit.Check;
            _cache.Remove(authorization.AsSpan(7).Trim());
        }
        var raw = authorization[7..].Trim();   // a miss: parsing and the cache entry need the string

        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(raw);
        }
        catch (Exception)
        {
            return TokenCheck.Fail(TokenCodes.Malformed, "the bearer token is not a JWT");
        }
        if (jwt.IsEncrypted) return TokenCheck.Fail(TokenCodes.Malformed, "encrypted tokens are not accepted");

        // Invariant: alg is checked on the raw header before any key is touched, so `none` and HMAC
        // (key-confusion) tokens never reach signature validation.
        if (jwt.Alg != SecurityAlgorithms.RsaSha256)
            return TokenCheck.Fail(TokenCodes.AlgorithmNotAllowed, $"token algorithm `{jwt.Alg}` is not allowed; only RS256");

        // Checked before key lookup so foreign tokens cannot make us refetch the JWKS.
        var issuer = trust.Issuer;
        if (!jwt.TryGetPayloadValue<string>("iss", out var iss) || !string.Equals(iss, issuer, StringComparison.Ordinal))
            return TokenCheck.Fail(TokenCodes.WrongIssuer, $"token issuer `{iss}` is not `{issuer}`");

        if (string.IsNullOrEmpty(jwt.Kid))
            return TokenCheck.Fail(TokenCodes.UnknownKey, "token header has no `kid`");
        var lookup = await keys.FindAsync(jwt.Kid, cancellationToken);
        if (lookup.Key is null)
        {
            return lookup.SourceUnavailable
                ? new TokenCheck(null, TokenCodes.IssuerKeysUnavailable, "the issuer's signing keys cannot be fetched right now", Unavailable: true)
                : TokenCheck.Fail(TokenCodes.UnknownKey, $"token key `{jwt.Kid}` is not among the issuer's keys");
        }

        var audience = trust.Audience;
        var parameters = new TokenValidationParameters
        {
            ValidIssuer = issuer,
            ValidateIssuer = true,
            ValidAudience = audience,
            ValidateAudience = true,
            IgnoreTrailingSlashWhenValidatingAudience = true,
            RequireAudience = true,
            IssuerSigningKey = lookup.Key,
            TryAllIssuerSigningKeys = false,
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
            RequireSignedTokens = true,
            // Lifetime is judged below against the request's one clock reading, not the library's clock.
            ValidateLifetime = false,
            RequireExpirationTime = false,
            LogValidationExceptions = false,
        };
        var result = await _handler.ValidateTokenAsync(jwt, parameters);
        if (!result.IsValid)
        {
            return result.Exception switch
            {
                SecurityTokenInvalidIssuerException => TokenCheck.Fail(TokenCodes.WrongIssuer, $"token issuer is not `{issuer}`"),
                SecurityTokenInvalidAudienceException => TokenCheck.Fail(TokenCodes.WrongAudience, $"token audience is not `{audience}`"),
                SecurityTokenInvalidAlgorithmException => TokenCheck.Fail(TokenCodes.AlgorithmNotAllowed, "token algorithm is not allowed; only RS256"),
                SecurityTokenSignatureKeyNotFoundException => TokenCheck.Fail(TokenCodes.UnknownKey, $"token key `{jwt.Kid}` is not among the issuer's keys"),
                SecurityTokenInvalidSignatureException => TokenCheck.Fail(TokenCodes.BadSignature, "token signature does not verify"),
                _ => TokenCheck.Fail(TokenCodes.Malformed, "token cannot be validated"),
            };
        }

        if (!jwt.TryGetPayloadValue<long>("exp", out var exp))
            return TokenCheck.Fail(TokenCodes.MissingClaims, "token has no numeric `exp` claim");
        if (now > DateTimeOffset.FromUnixTimeSeconds(exp) + Skew)
            return TokenCheck.Fail(TokenCodes.Expired, $"token expired at {DecisionJson.Instant(DateTimeOffset.FromUnixTimeSeconds(exp))}");
        if (jwt.TryGetPayloadValue<long>("nbf", out var nbf) && now + Skew < DateTimeOffset.FromUnixTimeSeconds(nbf))
            return TokenCheck.Fail(TokenCodes.NotYetValid, $"token is not valid before {DecisionJson.Instant(DateTimeOffset.FromUnixTimeSeconds(nbf))}");

        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var claim in jwt.Claims)
        {
            if (claim.ValueType == ClaimValueTypes.String) claims.TryAdd(claim.Type, claim.Value);
        }
        var missing = RequiredClaims.Where(c => !claims.TryGetValue(c, out var v) || v.Length == 0).ToList();
        if (missing.Count > 0)
            return TokenCheck.Fail(TokenCodes.MissingClaims, $"token lacks required claims: {string.Join(", ", missing.Select(m => $"`{m}`"))}");
        var repository = claims["repository"];
        var owner = claims["repository_owner"];
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == repository.Length - 1 || !repository.AsSpan(0, slash).Equals(owner, StringComparison.OrdinalIgnoreCase))
            return TokenCheck.Fail(TokenCodes.MissingClaims, $"token claim `repository` (`{repository}`) is not `repository_owner/name`");
        if (trust.AllowedOwners is { } allowed && !allowed.Contains(owner))
            return TokenCheck.Fail(TokenCodes.OwnerNotAllowed, $"repository owner `{owner}` is not served by this gate");

        var check = new TokenCheck(WorkloadClaims.FromDictionary(claims), null, null);
        if (_cache is not null)
        {
            var validFrom = jwt.TryGetPayloadValue<long>("nbf", out var notBefore) ? DateTimeOffset.FromUnixTimeSeconds(notBefore) - Skew : DateTimeOffset.MinValue;
            _cache.Add(raw, new ValidatedTokenCache.Entry(check, jwt.Kid, lookup.Key, issuer, audience, validFrom,
                DateTimeOffset.FromUnixTimeSeconds(exp) + Skew), now);
        }
        return check;
    }
}
