namespace DeployGate.GitHub;

/// <summary>GitHub integration codes (SPEC §11, range 4xxx). Stable.</summary>
public static class GitHubCodes
{
    /// <summary>GitHub cannot be reached or answers 5xx / 429 / a rate limit: retry later (503 with <c>Retry-After</c>).</summary>
    public const string Unavailable = "DG4001";

    /// <summary>The GitHub App is not installed on the repository (<c>GET /repos/{o}/{r}/installation</c> → 404).</summary>
    public const string NotInstalled = "DG4002";

    /// <summary><c>.github/deploygate.yml</c> does not exist on the repository's default branch.</summary>
    public const string PolicyFileNotFound = "DG4003";

    /// <summary>GitHub refused access (401/403): the App lacks <c>Contents: read</c> (or Single file) permission,
    /// or its credentials are wrong.</summary>
    public const string AccessDenied = "DG4004";

    /// <summary>The repository does not exist or is not visible to the installation.</summary>
    public const string RepositoryNotFound = "DG4005";

    /// <summary>GitHub answered something DeployGate cannot use (unexpected status, bad JSON, file too large).</summary>
    public const string BadResponse = "DG4006";
}
