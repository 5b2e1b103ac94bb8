namespace DeployGate.Api;

/// <summary>Why an OIDC token was rejected (SPEC §11, range 3xxx). Stable: the same code appears in the
/// 401 problem details, the audit record, the Action log and <c>docs/codes.md</c>.</summary>
public static class TokenCodes
{
    /// <summary>No <c>Authorization: Bearer …</c> header, or an empty token.</summary>
    public const string MissingBearer = "DG3001";

    /// <summary>The signature does not verify with the issuer key named by <c>kid</c>.</summary>
    public const string BadSignature = "DG3002";

    /// <summary>The header <c>alg</c> is not <c>RS256</c> (e.g. <c>none</c>, <c>HS256</c>, <c>ES256</c>).</summary>
    public const string AlgorithmNotAllowed = "DG3003";

    /// <summary><c>iss</c> is not exactly the configured issuer.</summary>
    public const string WrongIssuer = "DG3004";

    /// <summary><c>aud</c> does not contain the configured audience.</summary>
    public const string WrongAudience = "DG3005";

    /// <summary><c>exp</c> is in the past (beyond the 60 s clock skew).</summary>
    public const string Expired = "DG3006";

    /// <summary><c>nbf</c> is in the future (beyond the 60 s clock skew).</summary>
    public const string NotYetValid = "DG3007";

    /// <summary>The token's <c>kid</c> is not in the issuer's JWKS, even after one refresh.</summary>
    public const string UnknownKey = "DG3008";

    /// <summary><c>repository_owner</c> is not in <c>DeployGate:AllowedOwners</c>.</summary>
    public const string OwnerNotAllowed = "DG3009";

    /// <summary>A required claim is missing or not a string: <c>repository</c>, <c>repository_owner</c>,
    /// <c>job_workflow_ref</c>, <c>ref</c>, <c>run_id</c>, <c>exp</c>; or <c>repository</c> is not
    /// <c>repository_owner/name</c>.</summary>
    public const string MissingClaims = "DG3010";

    /// <summary>The bearer value is not a compact JWS (three base64url parts with a JSON header).</summary>
    public const string Malformed = "DG3011";

    /// <summary>The issuer's OpenID configuration or JWKS cannot be fetched, so no token can be verified
    /// (answered 503 with <c>Retry-After</c>: the caller may retry, nothing is allowed meanwhile).</summary>
    public const string IssuerKeysUnavailable = "DG3012";
}
