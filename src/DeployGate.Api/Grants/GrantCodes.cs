namespace DeployGate.Api;

/// <summary>Grant codes (SPEC §7, §11: part of the 3xxx identity-and-tokens range, block 31xx). Stable: the same
/// code appears in problem details, logs and <c>docs/codes.md</c>. Store failures keep their DG5xxx codes.</summary>
public static class GrantCodes
{
    /// <summary>The grant is not a valid grant of this gate: not a compact JWS, wrong <c>iss</c>, bad signature,
    /// or a required claim missing (answered 401).</summary>
    public const string Invalid = "DG3101";

    /// <summary>The grant's <c>exp</c> has passed (answered 401; introspect: inactive).</summary>
    public const string Expired = "DG3102";

    /// <summary>The grant was revoked by its run (answered 401; introspect: inactive).</summary>
    public const string Revoked = "DG3103";

    /// <summary>The grant was redeemed before, by this or another instance (answered 409).</summary>
    public const string AlreadyRedeemed = "DG3104";

    /// <summary><c>expect</c> differs from the grant's action, environment, target or secret (answered 403; the
    /// grant is not consumed).</summary>
    public const string ExpectMismatch = "DG3105";

    /// <summary>Revoke: the <c>jti</c> was not issued to the calling token's repository and run (answered 403).</summary>
    public const string RevokeNotAllowed = "DG3106";

    /// <summary>The grant's <c>kid</c> is not among the gate's published keys (never issued here, or its key
    /// was dropped after rotation; answered 401).</summary>
    public const string UnknownKey = "DG3107";

    /// <summary>The grant's header <c>alg</c> is not <c>ES256</c> (answered 401).</summary>
    public const string AlgorithmNotAllowed = "DG3108";

    /// <summary>A grant request body lacks a required field (<c>token</c>, <c>expect.action</c>,
    /// <c>expect.environment</c>, <c>jti</c>) or a field is empty (answered 400).</summary>
    public const string FieldMissing = "DG3109";

    /// <summary>The grant signing key cannot be loaded, created or used: unreadable or invalid key file, not
    /// ECDSA P-256 (start-up problem; at run time an allow that cannot carry its grant is denied with 503).</summary>
    public const string SigningKeyUnavailable = "DG3110";
}
