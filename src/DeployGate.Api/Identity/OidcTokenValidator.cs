using DeployGate.Engine;

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

        if (!CompactJws.TryRead(raw, out var jwt, out var malformed)) return TokenCheck.Fail(TokenCodes.Malformed, malformed);

        // Invariant: alg is checked on the raw header before any key is touched, so `none` and HMAC
        // (key-confusion) tokens never reach signature validation.
        if (jwt.Alg != "RS256")
            return TokenCheck.Fail(TokenCodes.AlgorithmNotAllowed, $"token algorithm `{jwt.Alg}` is not allowed; only RS256");

        // Checked before key lookup so foreign tokens cannot make us refetch the JWKS.
        var issuer = trust.Issuer;
        if (!string.Equals(jwt.Issuer, issuer, StringComparison.Ordinal))
            return TokenCheck.Fail(TokenCodes.WrongIssuer, $"token issuer `{jwt.Issuer}` is not `{issuer}`");

        if (string.IsNullOrEmpty(jwt.Kid))
            return TokenCheck.Fail(TokenCodes.UnknownKey, "token header has no `kid`");
        var lookup = await keys.FindAsync(jwt.Kid, cancellationToken);
        if (lookup.Key is null)
        {
            return lookup.SourceUnavailable
                ? new TokenCheck(null, TokenCodes.IssuerKeysUnavailable, "the issuer's signing keys cannot be fetched right now", Unavailable: true)
                : TokenCheck.Fail(TokenCodes.UnknownKey, $"token key `{jwt.Kid}` is not among the issuer's keys");
        }
        if (!jwt.VerifyRs256(lookup.Key)) return TokenCheck.Fail(TokenCodes.BadSignature, "token signature does not verify");

        // Nothing below is read before the signature verified.
        var audience = trust.Audience;
        if (!HasAudience(jwt.Audiences, audience))
            return TokenCheck.Fail(TokenCodes.WrongAudience, $"token audience is not `{audience}`");
        if (jwt.Exp is not { } exp)
            return TokenCheck.Fail(TokenCodes.MissingClaims, "token has no numeric `exp` claim");
        if (now > DateTimeOffset.FromUnixTimeSeconds(exp) + Skew)
            return TokenCheck.Fail(TokenCodes.Expired, $"token expired at {DecisionJson.Instant(DateTimeOffset.FromUnixTimeSeconds(exp))}");
        if (jwt.Nbf is { } nbf && now + Skew < DateTimeOffset.FromUnixTimeSeconds(nbf))
            return TokenCheck.Fail(TokenCodes.NotYetValid, $"token is not valid before {DecisionJson.Instant(DateTimeOffset.FromUnixTimeSeconds(nbf))}");

        var claims = jwt.Claims;
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
            var validFrom = jwt.Nbf is { } notBefore ? DateTimeOffset.FromUnixTimeSeconds(notBefore) - Skew : DateTimeOffset.MinValue;
            _cache.Add(raw, new ValidatedTokenCache.Entry(check, jwt.Kid, lookup.Key, issuer, audience, validFrom,
                DateTimeOffset.FromUnixTimeSeconds(exp) + Skew), now);
        }
        return check;
    }

    /// <summary>RFC 7519 §4.1.3: <c>aud</c> (a string or an array) must contain the gate's audience; a trailing
    /// <c>/</c> on either side is ignored.</summary>
    private static bool HasAudience(List<string> audiences, string? audience)
    {
        if (string.IsNullOrEmpty(audience)) return false;
        var expected = audience.AsSpan().TrimEnd('/');
        foreach (var aud in audiences)
        {
            if (aud.AsSpan().TrimEnd('/').Equals(expected, StringComparison.Ordinal)) return true;
        }
        return false;
    }
}
