using System.Net;

namespace DeployGate.GitHub;

/// <summary>A GitHub call's outcome: a value, "not modified" (ETag), or a failure with a code.</summary>
public sealed record GitHubResult<T>(T? Value, bool NotModified, string? ETag, string? Code, string? Message, HttpStatusCode? Status = null)
    where T : class
{
    public bool Ok => Code is null;

    /// <summary>For a <see cref="Transient"/> failure: how long GitHub asked to wait, when it said (<c>Retry-After</c>,
    /// or until <c>x-ratelimit-reset</c>). Null: back off on our own schedule.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Worth retrying later (network, 5xx, 429, rate limit): callers answer 503, not a plain deny.</summary>
    public bool Transient => Code == GitHubCodes.Unavailable;
}

public static class GitHubResult
{
    public static GitHubResult<T> Fail<T>(string code, string message, HttpStatusCode? status = null) where T : class =>
        new(null, false, null, code, message, status);
}

/// <summary><c>GET /repos/{o}/{r}</c>, the part DeployGate reads.</summary>
public sealed record GitHubRepository(string DefaultBranch);

/// <summary>A file from <c>GET /repos/{o}/{r}/contents/{path}</c>: its blob sha and bytes.</summary>
public sealed record GitHubFile(string Sha, byte[] Content);
