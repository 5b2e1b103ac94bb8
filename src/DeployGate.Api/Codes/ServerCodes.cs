namespace DeployGate.Api;

/// <summary>Configuration and server codes (SPEC §11, range 6xxx; store codes are <c>DeployGate.Audit.StoreCodes</c>). Stable.</summary>
public static class ServerCodes
{
    // --- Configuration (start-up validation; all problems are listed at once) ---

    /// <summary><c>DeployGate:AllowedOwners</c> is missing or empty (required outside <c>--dev</c>).</summary>
    public const string AllowedOwnersMissing = "DG6001";

    /// <summary><c>DeployGate:PublicUrl</c> is missing or not an absolute http(s) URL.</summary>
    public const string PublicUrlInvalid = "DG6002";

    /// <summary><c>DeployGate:Audience</c> is set but empty or contains whitespace.</summary>
    public const string AudienceInvalid = "DG6003";

    /// <summary><c>DeployGate:Issuer</c> is not an absolute <c>https://</c> URL (http only on loopback).</summary>
    public const string IssuerInvalid = "DG6004";

    /// <summary><c>Policy:Source</c> is not <c>directory</c> or <c>github</c>.</summary>
    public const string PolicySourceInvalid = "DG6005";

    /// <summary><c>Policy:Directory</c> is missing or does not exist (source <c>directory</c>).</summary>
    public const string PolicyDirectoryInvalid = "DG6006";

    /// <summary><c>GitHub:ApiUrl</c> is not an absolute <c>https://</c> URL (http only on loopback).</summary>
    public const string GitHubApiUrlInvalid = "DG6007";

    /// <summary><c>GitHub:AppId</c> is missing or not a positive integer (source <c>github</c>).</summary>
    public const string GitHubAppIdInvalid = "DG6008";

    /// <summary><c>GitHub:PrivateKeyPath</c> is missing, unreadable or not an RSA PEM key (source <c>github</c>).</summary>
    public const string GitHubPrivateKeyInvalid = "DG6009";

    /// <summary><c>Store:Provider</c> is not <c>sqlite</c> or <c>postgres</c>.</summary>
    public const string StoreProviderInvalid = "DG6010";

    /// <summary><c>Store:ConnectionString</c> cannot be used (SQLite: its directory cannot be created; PostgreSQL:
    /// missing, unparsable or without <c>Host</c>).</summary>
    public const string StoreConnectionInvalid = "DG6011";

    /// <summary><c>Grants:Ttl</c> is not a duration in (0, 1h].</summary>
    public const string GrantTtlInvalid = "DG6012";

    /// <summary><c>Admin:Token</c> is set but shorter than 32 characters.</summary>
    public const string AdminTokenWeak = "DG6013";

    /// <summary>An entry of <c>DeployGate:AllowedOwners</c> is not a valid GitHub owner name.</summary>
    public const string AllowedOwnerInvalid = "DG6014";

    /// <summary><c>serve --dev</c> was asked to listen on a non-loopback address.</summary>
    public const string DevNotLoopback = "DG6015";

    /// <summary><c>Grants:SigningKeyPath</c> is set but the file does not exist.</summary>
    public const string GrantKeyMissing = "DG6016";

    /// <summary><c>GitHub:ReviewLease</c> is not a duration from 5 s to 1 h.</summary>
    public const string ReviewLeaseInvalid = "DG6017";

    /// <summary><c>Policy:MaxAge</c> is not a duration from 0 to 1 h.</summary>
    public const string PolicyMaxAgeInvalid = "DG6018";

    // --- Requests ---

    /// <summary>The body is not valid JSON or not a JSON object.</summary>
    public const string BodyMalformed = "DG6101";

    /// <summary>The body has a field DeployGate does not know, or a field twice.</summary>
    public const string BodyUnknownField = "DG6102";

    /// <summary><c>action</c> is missing or not <c>deploy</c> / <c>read-secret</c>.</summary>
    public const string BodyActionInvalid = "DG6103";

    /// <summary><c>environment</c> is missing or empty.</summary>
    public const string BodyEnvironmentMissing = "DG6104";

    /// <summary><c>deploy</c> needs <c>target</c> (and no <c>secret</c>); <c>read-secret</c> needs <c>secret</c> (and no <c>target</c>).</summary>
    public const string BodyTargetOrSecret = "DG6105";

    /// <summary><c>break_glass.reason</c> is missing or shorter than 10 characters.</summary>
    public const string BodyBreakGlassReason = "DG6106";

    /// <summary>The body is larger than 64 KiB (answered 413).</summary>
    public const string BodyTooLarge = "DG6107";

    /// <summary>A field has the wrong JSON type (all values are strings; <c>break_glass</c> is an object).</summary>
    public const string BodyFieldType = "DG6108";

    // --- Policy lookup ---

    /// <summary>No policy file for the token's repository (directory source: <c>owner/repo.yml</c> absent).</summary>
    public const string PolicyNotFound = "DG6201";

    /// <summary>The policy source cannot be read right now (I/O error, GitHub unreachable): deny, 503, <c>Retry-After</c>.</summary>
    public const string PolicySourceUnavailable = "DG6202";

    /// <summary>The policy file has errors (used only when the loader reports none with its own DG1xxx code).</summary>
    public const string PolicyInvalid = "DG6203";

    /// <summary>The repository name cannot name a policy file (path traversal, illegal characters).</summary>
    public const string RepositoryNameInvalid = "DG6204";

    // --- Admin API ---

    /// <summary><c>GET /api/v1/decisions</c> without the configured admin bearer token.</summary>
    public const string AdminUnauthorized = "DG6301";

    /// <summary>The admin API is disabled because <c>Admin:Token</c> is not set.</summary>
    public const string AdminDisabled = "DG6302";

    /// <summary>A query parameter of <c>GET /api/v1/decisions</c> is invalid.</summary>
    public const string QueryInvalid = "DG6303";

    // --- Server ---

    /// <summary>An unexpected internal error; the request is denied (never allowed).</summary>
    public const string Internal = "DG6901";
}
