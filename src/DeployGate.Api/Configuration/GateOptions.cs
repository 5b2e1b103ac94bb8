namespace DeployGate.Api;

/// <summary><c>DeployGate:*</c> — who may call and how their tokens are checked (SPEC §10).</summary>
public sealed class GateOptions
{
    public const string Section = "DeployGate";

    /// <summary>The public base URL of this service, e.g. <c>https://gate.acme.dev</c>. Required outside
    /// <c>--dev</c>; in <c>--dev</c> it is the listening URL.</summary>
    public string? PublicUrl { get; set; }

    /// <summary>The <c>aud</c> tokens must carry. Default: <see cref="PublicUrl"/>.</summary>
    public string? Audience { get; set; }

    /// <summary>Repository owners (users or organizations) served, compared case-insensitively.
    /// Required outside <c>--dev</c>; <c>--dev</c> serves any owner.</summary>
    public string[] AllowedOwners { get; set; } = [];

    /// <summary>The OIDC issuer. Default: <c>https://token.actions.githubusercontent.com</c>.</summary>
    public string Issuer { get; set; } = DefaultIssuer;

    public const string DefaultIssuer = "https://token.actions.githubusercontent.com";

    /// <summary>How often the issuer's JWKS is refreshed in the background. Default 1 h, range 1 min..24 h.</summary>
    public TimeSpan JwksRefreshInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The least time between two refetches caused by an unknown <c>kid</c>. Default 30 s.</summary>
    public TimeSpan JwksMinRefetchInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most verified tokens remembered until their <c>exp</c>, so a replayed token skips RSA verification.
    /// Default 10,000, range 0..1,000,000; 0 turns the cache off (every request verifies its token's signature).</summary>
    public int TokenCacheSize { get; set; } = DefaultTokenCacheSize;

    public const int DefaultTokenCacheSize = 10_000;
    public const int MaxTokenCacheSize = 1_000_000;
}

/// <summary><c>Policy:*</c> — where policies come from.</summary>
public sealed class PolicyOptions
{
    public const string Section = "Policy";

    /// <summary><c>directory</c> (default) or <c>github</c>.</summary>
    public string Source { get; set; } = "directory";

    /// <summary>Folder with <c>&lt;owner&gt;/&lt;repo&gt;.yml</c>. Default <c>./policies</c>.</summary>
    public string Directory { get; set; } = "policies";

    /// <summary><c>Policy:MaxAge</c> (source <c>github</c>): how old a policy snapshot, checked against GitHub, may be
    /// when a request uses it. Past half of it, a request starts a revalidation in the background; past all of it,
    /// the request waits for one. Default 1 min, range 0..1 h; 0 revalidates on every request.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary><c>GitHub:*</c> — the GitHub App used to read policies (and, later, review deployments).</summary>
public sealed class GitHubOptions
{
    public const string Section = "GitHub";

    /// <summary>REST API base URL. Default <c>https://api.github.com</c>.</summary>
    public string ApiUrl { get; set; } = "https://api.github.com";

    /// <summary>The App id (or client id) used as the app JWT's <c>iss</c>. Required for source <c>github</c>.</summary>
    public string? AppId { get; set; }

    /// <summary>Path of the App's RSA private key (PEM). Required for source <c>github</c>.</summary>
    public string? PrivateKeyPath { get; set; }

    /// <summary>Webhook secret (SPEC §6; used by the webhook issue). The webhook is disabled without it.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary><c>GitHub:ReviewLease</c>: how long an instance owns a review job it claimed; when an instance dies
    /// mid-review, another takes the job over after this. Default 2 min; 5 s to 1 h.</summary>
    public TimeSpan ReviewLease { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary><c>Store:*</c> — the audit log (and later grants and review jobs).</summary>
public sealed class StoreOptions
{
    public const string Section = "Store";

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>SQLite: a file path or <c>Data Source=path</c>. Default <c>./.deploygate/audit.db</c>.
    /// PostgreSQL: an Npgsql connection string with <c>Host</c> (required; no default).</summary>
    public string ConnectionString { get; set; } = DefaultSqlitePath;

    public const string DefaultSqlitePath = ".deploygate/audit.db";
}

/// <summary><c>Grants:*</c> — per-task credentials (SPEC §7; issued by the grants issue).</summary>
public sealed class GrantsOptions
{
    public const string Section = "Grants";

    /// <summary>ES256 signing key file. Default: generated under <c>./.deploygate/</c> by the grants issue.</summary>
    public string? SigningKeyPath { get; set; }

    /// <summary>Grant lifetime. Default 10 min, max 1 h.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary><c>Admin:*</c> — the admin API.</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>Bearer token for <c>GET /api/v1/decisions</c>; at least 32 characters. Unset: the route answers 404.</summary>
    public string? Token { get; set; }
}
