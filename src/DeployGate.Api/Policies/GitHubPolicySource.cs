using System.Collections.Concurrent;
using DeployGate.Engine;
using DeployGate.GitHub;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api;

/// <summary>Policies from <c>.github/deploygate.yml</c> at each repository's DEFAULT branch (SPEC §1.4: a
/// branch cannot loosen its own gate), read with a GitHub App installation token. Both the repository
/// (default branch) and the file are fetched with <c>If-None-Match</c>; a 304 reuses the compiled snapshot,
/// so an unchanged policy costs two conditional requests and no compile. Revision = the blob sha.
/// GitHub unreachable → deny with <c>DG4001</c> answered 503 (retry); not installed / no file → plain deny.</summary>
internal sealed partial class GitHubPolicySource(GitHubAppClient github, ILogger<GitHubPolicySource> logger) : IPolicySource
{
    public const string PolicyPath = ".github/deploygate.yml";

    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.OrdinalIgnoreCase);

    private sealed record Entry(string? RepoETag, string? Branch, string? FileETag, PolicyLookup? Lookup);

    public static void Register(IServiceCollection services, GateConfiguration config)
    {
        services.AddHttpClient(GitHubAppOptions.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton(sp => new GitHubAppClient(
            sp.GetRequiredService<IHttpClientFactory>(),
            new GitHubAppOptions(new Uri(config.GitHub.ApiUrl.TrimEnd('/') + "/"), config.GitHub.AppId!, File.ReadAllText(config.GitHub.PrivateKeyPath!)),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IPolicySource, GitHubPolicySource>();
    }

    public async ValueTask<PolicyLookup> GetAsync(string repository, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var reference = new PolicyRef($"github:{repository}/{PolicyPath}", null);
        if (!RepositoryNames.TrySplit(repository, out var owner, out var name))
            return new PolicyLookup(null, reference, ServerCodes.RepositoryNameInvalid, $"repository `{repository}` is not a GitHub repository name");

        var token = await github.GetInstallationTokenAsync(owner, name, cancellationToken);
        if (!token.Ok) return Failed(reference, token.Code!, token.Message!, token.Transient);

        _cache.TryGetValue(repository, out var entry);
        var repo = await github.GetRepositoryAsync(owner, name, token.Value!, entry?.RepoETag, cancellationToken);
        if (!repo.Ok)
        {
            if (repo.Status == System.Net.HttpStatusCode.Unauthorized) github.ForgetToken(owner, name);
            return Failed(reference, repo.Code!, repo.Message!, repo.Transient);
        }
        var branch = repo.NotModified && entry?.Branch is { } known ? known : repo.Value?.DefaultBranch;
        if (branch is null) return Failed(reference, GitHubCodes.BadResponse, "repository has no default branch", transient: false);
        if (entry is not null && entry.Branch != branch) entry = null;   // default branch changed: forget the old file's ETag

        var file = await github.GetFileAsync(owner, name, PolicyPath, branch, token.Value!, entry?.FileETag, cancellationToken);
        if (file.NotModified && entry?.Lookup is { } cached)
        {
            _cache[repository] = entry with { RepoETag = repo.ETag ?? entry.RepoETag };
            return cached;
        }
        if (!file.Ok)
        {
            if (file.Status == System.Net.HttpStatusCode.Unauthorized) github.ForgetToken(owner, name);
            _cache.TryRemove(repository, out _);
            return Failed(reference, file.Code!, file.Message!, file.Transient);
        }
        if (file.Value is null)
        {
            // 304 without a snapshot (cache evicted): ask again unconditionally.
            file = await github.GetFileAsync(owner, name, PolicyPath, branch, token.Value!, null, cancellationToken);
            if (!file.Ok || file.Value is null) return Failed(reference, file.Code ?? GitHubCodes.BadResponse, file.Message ?? "no content", file.Transient);
        }

        var blob = file.Value;
        reference = reference with { Revision = blob.Sha };
        PolicyLookup lookup;
        if (blob.Content.Length > PolicyLoader.MaxBytes)
        {
            lookup = new PolicyLookup(null, reference, PolicyLoader.FileTooLargeCode, $"policy file is invalid: {PolicyLoader.FileTooLargeMessage(blob.Content.Length)}");
        }
        else
        {
            try
            {
                var result = PolicyLoader.Load(blob.Content, PolicyPath, now, reference);
                var first = result.Errors.FirstOrDefault();
                lookup = result.HasErrors || result.Policy is null
                    ? new PolicyLookup(null, reference, first?.Code ?? ServerCodes.PolicyInvalid, first is null ? "policy file is invalid" : $"policy file is invalid: {first}")
                    : PolicyLookup.Found(result.Policy);
            }
            catch (Exception ex)
            {
                lookup = new PolicyLookup(null, reference, ServerCodes.PolicyInvalid, $"policy cannot be loaded: {ex.GetType().Name}");
            }
        }
        _cache[repository] = new Entry(repo.ETag ?? entry?.RepoETag, branch, file.ETag, lookup);
        Log.PolicyFetched(logger, repository, branch, blob.Sha, lookup.Code ?? "ok");
        return lookup;
    }

    private static PolicyLookup Failed(PolicyRef reference, string code, string message, bool transient) =>
        new(null, reference, code, message, Unavailable: transient);

    public async ValueTask<(bool Ok, string Detail)> CheckAsync(CancellationToken cancellationToken) =>
        await github.CheckAsync(cancellationToken);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "fetched policy of {Repository} at {Branch} blob {Sha}: {Outcome}")]
        public static partial void PolicyFetched(ILogger logger, string repository, string branch, string sha, string outcome);
    }
}
