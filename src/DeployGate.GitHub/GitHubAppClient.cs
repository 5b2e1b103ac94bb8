using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.GitHub;

/// <summary>A small typed GitHub REST client for the App (Octokit is not available): app JWT, installation
/// tokens (cached until five minutes before <c>expires_at</c>), the repository's default branch and a file's
/// content, both with ETag/<c>If-None-Match</c> so unchanged answers are 304s. Every call sends
/// <c>User-Agent</c>, <c>Accept: application/vnd.github+json</c> and <c>X-GitHub-Api-Version</c>.</summary>
public sealed partial class GitHubAppClient : IDisposable
{
    private static readonly TimeSpan TokenMargin = TimeSpan.FromMinutes(5);
    private readonly IHttpClientFactory _clients;
    private readonly GitHubAppOptions _options;
    private readonly TimeProvider _time;
    private readonly RSA _key;
    private readonly ConcurrentDictionary<string, long> _installations = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<long, (string Token, DateTimeOffset ExpiresAt)> _tokens = new();

    public GitHubAppClient(IHttpClientFactory clients, GitHubAppOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _clients = clients;
        _options = options;
        _time = time;
        _key = RSA.Create();
        _key.ImportFromPem(options.PrivateKeyPem);
    }

    /// <summary>The App JWT: RS256, <c>iat</c> = now − 60 s (clock drift), <c>exp</c> = now + 9 min, <c>iss</c> = App id.</summary>
    public string CreateAppJwt()
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var payload = new JsonObject { ["iat"] = now - 60, ["exp"] = now + 540, ["iss"] = _options.AppId }.ToJsonString();
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        return handler.CreateToken(payload, new SigningCredentials(new RsaSecurityKey(_key), SecurityAlgorithms.RsaSha256));
    }

    /// <summary>An installation token for the repository's installation.</summary>
    public async Task<GitHubResult<string>> GetInstallationTokenAsync(string owner, string repo, CancellationToken ct)
    {
        var key = owner + "/" + repo;
        if (!_installations.TryGetValue(key, out var installationId))
        {
            using var find = Request(HttpMethod.Get, $"repos/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(repo)}/installation", CreateAppJwt());
            var found = await SendAsync(find, ct);
            if (found.Code is not null)
            {
                return GitHubResult.Fail<string>(found.Status == HttpStatusCode.NotFound ? GitHubCodes.NotInstalled : found.Code,
                    found.Status == HttpStatusCode.NotFound ? $"the GitHub App is not installed on `{key}`" : found.Message!, found.Status);
            }
            if (found.Json?["id"]?.GetValue<long>() is not { } id) return GitHubResult.Fail<string>(GitHubCodes.BadResponse, "installation has no `id`");
            installationId = id;
            _installations[key] = id;
        }

        var result = await GetInstallationTokenAsync(installationId, ct);
        if (result.Status == HttpStatusCode.NotFound) _installations.TryRemove(key, out _);
        return result;
    }

    /// <summary>An installation token for a known installation id (a webhook payload's <c>installation.id</c>),
    /// cached until five minutes before <c>expires_at</c>. No assumption about the token's length or format.</summary>
    public async Task<GitHubResult<string>> GetInstallationTokenAsync(long installationId, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (_tokens.TryGetValue(installationId, out var cached) && cached.ExpiresAt - TokenMargin > now)
            return new GitHubResult<string>(cached.Token, false, null, null, null);

        using var mint = Request(HttpMethod.Post, $"app/installations/{installationId}/access_tokens", CreateAppJwt());
        mint.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        var minted = await SendAsync(mint, ct);
        if (minted.Code is not null)
            return GitHubResult.Fail<string>(minted.Code, minted.Message!, minted.Status) with { RetryAfter = minted.RetryAfter };
        var token = minted.Json?["token"]?.GetValue<string>();
        var expires = minted.Json?["expires_at"]?.GetValue<DateTimeOffset>();
        if (token is null || expires is null) return GitHubResult.Fail<string>(GitHubCodes.BadResponse, "installation token response lacks `token`/`expires_at`");
        _tokens[installationId] = (token, expires.Value);
        return new GitHubResult<string>(token, false, null, null, null);
    }

    /// <summary>Forgets a token GitHub refused (401), so the next call mints a fresh one.</summary>
    public void ForgetToken(string owner, string repo)
    {
        if (_installations.TryRemove(owner + "/" + repo, out var id)) _tokens.TryRemove(id, out _);
    }

    public async Task<GitHubResult<GitHubRepository>> GetRepositoryAsync(string owner, string repo, string token, string? etag, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, $"repos/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(repo)}", token, etag);
        var r = await SendAsync(request, ct);
        if (r.NotModified) return new GitHubResult<GitHubRepository>(null, true, etag, null, null);
        if (r.Code is not null)
        {
            return r.Status == HttpStatusCode.NotFound
                ? GitHubResult.Fail<GitHubRepository>(GitHubCodes.RepositoryNotFound, $"repository `{owner}/{repo}` not found", r.Status)
                : GitHubResult.Fail<GitHubRepository>(r.Code, r.Message!, r.Status);
        }
        var branch = r.Json?["default_branch"]?.GetValue<string>();
        return branch is null
            ? GitHubResult.Fail<GitHubRepository>(GitHubCodes.BadResponse, "repository has no `default_branch`")
            : new GitHubResult<GitHubRepository>(new GitHubRepository(branch), false, r.ETag, null, null);
    }

    public async Task<GitHubResult<GitHubFile>> GetFileAsync(string owner, string repo, string path, string gitRef, string token, string? etag, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get,
            $"repos/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(repo)}/contents/{path}?ref={Uri.EscapeDataString(gitRef)}", token, etag);
        var r = await SendAsync(request, ct);
        if (r.NotModified) return new GitHubResult<GitHubFile>(null, true, etag, null, null);
        if (r.Code is not null)
        {
            return r.Status == HttpStatusCode.NotFound
                ? GitHubResult.Fail<GitHubFile>(GitHubCodes.PolicyFileNotFound, $"`{path}` not found on `{gitRef}` of `{owner}/{repo}`", r.Status)
                : GitHubResult.Fail<GitHubFile>(r.Code, r.Message!, r.Status);
        }
        var sha = r.Json?["sha"]?.GetValue<string>();
        var content = r.Json?["content"]?.GetValue<string>();
        var encoding = r.Json?["encoding"]?.GetValue<string>();
        if (sha is null || content is null || encoding != "base64")
            return GitHubResult.Fail<GitHubFile>(GitHubCodes.BadResponse, $"`{path}` is not a regular file or is too large for the contents API");
        try
        {
            // GitHub wraps the base64 at 60 columns.
            var bytes = Convert.FromBase64String(content.Replace("\n", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal));
            return new GitHubResult<GitHubFile>(new GitHubFile(sha, bytes), false, r.ETag, null, null);
        }
        catch (FormatException)
        {
            return GitHubResult.Fail<GitHubFile>(GitHubCodes.BadResponse, $"`{path}` content is not valid base64");
        }
    }

    /// <summary>Cheap reachability check for health: <c>GET /app</c> with the app JWT.</summary>
    public async Task<(bool Ok, string Detail)> CheckAsync(CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, "app", CreateAppJwt());
        var r = await SendAsync(request, ct);
        return r.Code is null ? (true, "ok") : (false, $"{r.Code}: {r.Message}");
    }

    private HttpRequestMessage Request(HttpMethod method, string relative, string bearer, string? etag = null)
    {
        var request = new HttpRequestMessage(method, new Uri(_options.ApiUrl, relative));
        request.Headers.UserAgent.ParseAdd("DeployGate/1.0");
        request.Headers.Accept.ParseAdd("application/vnd.github+json");
        request.Headers.Add("X-GitHub-Api-Version", GitHubAppOptions.ApiVersion);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (etag is not null) request.Headers.TryAddWithoutValidation("If-None-Match", etag);
        return request;
    }

    private sealed record Raw(JsonNode? Json, bool NotModified, string? ETag, string? Code, string? Message, HttpStatusCode? Status)
    {
        /// <summary>How long GitHub asked us to wait (<c>Retry-After</c>, or <c>x-ratelimit-reset</c> when the primary limit is spent).</summary>
        public TimeSpan? RetryAfter { get; init; }
    }

    private async Task<Raw> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        try
        {
            using var response = await _clients.CreateClient(GitHubAppOptions.HttpClientName).SendAsync(request, ct);
            var etag = response.Headers.ETag?.ToString();
            if (response.StatusCode == HttpStatusCode.NotModified) return new Raw(null, true, etag, null, null, response.StatusCode);
            if (response.StatusCode == HttpStatusCode.NoContent) return new Raw(null, false, etag, null, null, response.StatusCode);
            var status = (int)response.StatusCode;
            // Secondary rate limits are 403/429 with `retry-after`; the primary one is 403/429 with `x-ratelimit-remaining: 0`.
            var spent = response.Headers.TryGetValues("x-ratelimit-remaining", out var remaining) && remaining.FirstOrDefault() == "0";
            var retryAfter = RetryAfterOf(response, spent);
            var rateLimited = response.StatusCode == HttpStatusCode.TooManyRequests ||
                (response.StatusCode == HttpStatusCode.Forbidden && (spent || response.Headers.RetryAfter is not null));
            if (status >= 500 || rateLimited)
                return new Raw(null, false, null, GitHubCodes.Unavailable, $"GitHub answered {status} for `{request.RequestUri!.AbsolutePath}`", response.StatusCode) { RetryAfter = retryAfter };
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                return new Raw(null, false, null, GitHubCodes.AccessDenied, $"GitHub refused `{request.RequestUri!.AbsolutePath}` ({status}): check the App's permissions (Contents: read) and credentials", response.StatusCode);
            if (!response.IsSuccessStatusCode)
                return new Raw(null, false, null, GitHubCodes.BadResponse, $"GitHub answered {status} for `{request.RequestUri!.AbsolutePath}`", response.StatusCode);
            var json = await JsonNode.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
            return new Raw(json, false, etag, null, null, response.StatusCode);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return new Raw(null, false, null, GitHubCodes.Unavailable, $"GitHub is unreachable: {ex.Message}", null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return new Raw(null, false, null, GitHubCodes.BadResponse, $"GitHub answered unreadable JSON: {ex.Message}", null);
        }
    }

    private TimeSpan? RetryAfterOf(HttpResponseMessage response, bool spent)
    {
        if (response.Headers.RetryAfter is { } header)
        {
            if (header.Delta is { } delta) return delta;
            if (header.Date is { } date) return date - _time.GetUtcNow();
        }
        if (spent && response.Headers.TryGetValues("x-ratelimit-reset", out var reset) &&
            long.TryParse(reset.FirstOrDefault(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var epoch))
            return DateTimeOffset.FromUnixTimeSeconds(epoch) - _time.GetUtcNow();
        return null;
    }

    public void Dispose() => _key.Dispose();
}
