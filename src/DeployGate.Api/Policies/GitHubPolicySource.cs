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
/// GitHub unreachable → deny with <c>DG4001</c> answered 503 (retry); not installed / no file → plain deny.
/// <para>Off the request path (<c>Policy:MaxAge</c>): a snapshot checked against GitHub less than MaxAge ago is used
/// as it is; once it is older than half of MaxAge, the request that finds it starts one revalidation in the
/// background, so steady traffic never waits for GitHub. Only a repository not asked about for MaxAge (or never)
/// waits, and concurrent requests for it share one revalidation. A <c>push</c> to the default branch (the App's
/// webhook) expires the snapshot at once (<see cref="Expire"/>). What GitHub says does not exist (the installation,
/// the repository, the file) is remembered as long as a snapshot, so a repository without a policy does not cost two
/// GitHub calls per request. After a transient failure (GitHub unreachable, rate limited), no revalidation of that
/// repository starts for <see cref="RetryBackoff"/>: a usable snapshot is used meanwhile, and without one the request
/// is answered with the failure. MaxAge 0 revalidates on every request.</para></summary>
internal sealed partial class GitHubPolicySource(GitHubAppClient github, TimeSpan maxAge, ILogger<GitHubPolicySource> logger) : IPolicySource
{
    public const string PolicyPath = ".github/deploygate.yml";

    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Task<PolicyLookup>> _inFlight = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, long> _pushes = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, (DateTimeOffset Until, PolicyLookup Failure)> _failed = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _storing = new();   // a snapshot stored and a push counted, one at a time

    /// <summary>How long a transient failure stops new revalidations of the repository (the 503's <c>Retry-After</c>).</summary>
    public static readonly TimeSpan RetryBackoff = TimeSpan.FromSeconds(5);

    /// <summary>What GitHub last said for a repository; <see cref="CheckedAt"/> is when the revalidation that said it
    /// started, so a snapshot's age is never understated.</summary>
    private sealed record Entry(string? RepoETag, string? Branch, string? FileETag, PolicyLookup? Lookup, DateTimeOffset CheckedAt);

    public static void Register(IServiceCollection services, GateConfiguration config)
    {
        services.AddHttpClient(GitHubAppOptions.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton(sp => new GitHubAppClient(
            sp.GetRequiredService<IHttpClientFactory>(),
            new GitHubAppOptions(new Uri(config.GitHub.ApiUrl.TrimEnd('/') + "/"), config.GitHub.AppId!, File.ReadAllText(config.GitHub.PrivateKeyPath!)),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new GitHubPolicySource(sp.GetRequiredService<GitHubAppClient>(), config.Policy.MaxAge,
            sp.GetRequiredService<ILogger<GitHubPolicySource>>()));
        services.AddSingleton<IPolicySource>(sp => sp.GetRequiredService<GitHubPolicySource>());
    }

    public ValueTask<PolicyLookup> GetAsync(string repository, DateTimeOffset now, bool revalidate, CancellationToken cancellationToken)
    {
        if (revalidate || maxAge <= TimeSpan.Zero) return new ValueTask<PolicyLookup>(FetchAsync(repository, now, cancellationToken));
        if (_cache.TryGetValue(repository, out var entry) && entry.Lookup is { } cached)
        {
            // A request whose instant was read just before a concurrent revalidation started sees a small negative age:
            // the snapshot is as fresh for it (it used to start another revalidation and wait for it).
            var age = now - entry.CheckedAt;
            if (age.Duration() < maxAge)
            {
                if (age >= maxAge / 2 && !BackingOff(repository, now, out _)) _ = Shared(repository, now);   // refresh ahead; this request does not wait for it
                return ValueTask.FromResult(cached);
            }
        }
        if (BackingOff(repository, now, out var failure)) return ValueTask.FromResult(failure);
        return new ValueTask<PolicyLookup>(Shared(repository, now).WaitAsync(cancellationToken));
    }

    /// <summary>Whether a transient failure of <paramref name="repository"/>'s revalidation is less than
    /// <see cref="RetryBackoff"/> old at <paramref name="now"/>, and if so, that failure. Asked only when a request would
    /// otherwise call GitHub, so a fresh snapshot's request makes one dictionary lookup.</summary>
    private bool BackingOff(string repository, DateTimeOffset now, out PolicyLookup failure)
    {
        failure = null!;
        if (!_failed.TryGetValue(repository, out var failed) || now < failed.Until - RetryBackoff || now >= failed.Until) return false;
        failure = failed.Failure;
        return true;
    }

    /// <summary>After a push to <paramref name="repository"/>'s default branch: its snapshot is revalidated (with
    /// its ETags) by the next request, and a revalidation already under way does not count as fresh.</summary>
    public void Expire(string repository)
    {
        lock (_storing)
        {
            _pushes.AddOrUpdate(repository, 1, (_, n) => n + 1);
            if (_cache.TryGetValue(repository, out var entry)) _cache[repository] = entry with { CheckedAt = DateTimeOffset.MinValue };
        }
        Log.Expired(logger, repository);
    }

    /// <summary>The one revalidation of <paramref name="repository"/> under way, started now if there is none. It
    /// runs to its end whoever waits for it (the HTTP client's timeout bounds it), so a caller that gives up does not
    /// fail the others.</summary>
    private Task<PolicyLookup> Shared(string repository, DateTimeOffset now)
    {
        if (_inFlight.TryGetValue(repository, out var running)) return running;
        var mine = new TaskCompletionSource<PolicyLookup>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = _inFlight.GetOrAdd(repository, mine.Task);
        if (task != mine.Task) return task;
        _ = RunAsync();
        return task;

        async Task RunAsync()
        {
            try
            {
                var lookup = await FetchAsync(repository, now, CancellationToken.None);
                _inFlight.TryRemove(new KeyValuePair<string, Task<PolicyLookup>>(repository, mine.Task));
                mine.SetResult(lookup);
            }
            catch (Exception ex)
            {
                Log.RevalidationFailed(logger, repository, ex);
                _inFlight.TryRemove(new KeyValuePair<string, Task<PolicyLookup>>(repository, mine.Task));
                mine.SetException(ex);
            }
        }
    }

    private async Task<PolicyLookup> FetchAsync(string repository, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var reference = new PolicyRef($"github:{repository}/{PolicyPath}", null);
        if (!RepositoryNames.TrySplit(repository, out var owner, out var name))
            return new PolicyLookup(null, reference, ServerCodes.RepositoryNameInvalid, $"repository `{repository}` is not a GitHub repository name");
        var pushes = _pushes.GetValueOrDefault(repository);

        var token = await github.GetInstallationTokenAsync(owner, name, cancellationToken);
        if (!token.Ok) return Failed(repository, pushes, now, reference, token.Code!, token.Message!, token.Transient);

        _cache.TryGetValue(repository, out var entry);
        var repo = await github.GetRepositoryAsync(owner, name, token.Value!, entry?.RepoETag, cancellationToken);
        if (!repo.Ok)
        {
            if (repo.Status == System.Net.HttpStatusCode.Unauthorized) github.ForgetToken(owner, name);
            return Failed(repository, pushes, now, reference, repo.Code!, repo.Message!, repo.Transient);
        }
        var branch = repo.NotModified && entry?.Branch is { } known ? known : repo.Value?.DefaultBranch;
        if (branch is null) return Failed(repository, pushes, now, reference, GitHubCodes.BadResponse, "repository has no default branch", transient: false);
        if (entry is not null && entry.Branch != branch) entry = null;   // default branch changed: forget the old file's ETag

        var file = await github.GetFileAsync(owner, name, PolicyPath, branch, token.Value!, entry?.FileETag, cancellationToken);
        if (file.NotModified && entry?.Lookup is { } cached)
        {
            Store(repository, pushes, entry with { RepoETag = repo.ETag ?? entry.RepoETag, CheckedAt = now });
            return cached;
        }
        if (!file.Ok)
        {
            if (file.Status == System.Net.HttpStatusCode.Unauthorized) github.ForgetToken(owner, name);
            return Failed(repository, pushes, now, reference, file.Code!, file.Message!, file.Transient);
        }
        if (file.Value is null)
        {
            // 304 without a snapshot (cache evicted): ask again unconditionally.
            file = await github.GetFileAsync(owner, name, PolicyPath, branch, token.Value!, null, cancellationToken);
            if (!file.Ok || file.Value is null) return Failed(repository, pushes, now, reference, file.Code ?? GitHubCodes.BadResponse, file.Message ?? "no content", file.Transient);
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
        Store(repository, pushes, new Entry(repo.ETag ?? entry?.RepoETag, branch, file.ETag, lookup, now));
        Log.PolicyFetched(logger, repository, branch, blob.Sha, lookup.Code ?? "ok");
        return lookup;
    }

    /// <summary>Keeps what a revalidation learned, as expired when a push arrived while it ran (its answer may predate
    /// the push).</summary>
    private void Store(string repository, long pushesAtStart, Entry entry)
    {
        lock (_storing)
        {
            _cache[repository] = _pushes.GetValueOrDefault(repository) == pushesAtStart ? entry : entry with { CheckedAt = DateTimeOffset.MinValue };
        }
        _failed.TryRemove(repository, out _);
    }

    /// <summary>A failure.
    /// <list type="bullet">
    /// <item>Transient (GitHub unreachable, rate limited): the snapshot stays as it was, used until it is MaxAge old, and
    /// no revalidation starts for <see cref="RetryBackoff"/>.</item>
    /// <item>GitHub says there is no installation, repository or file: remembered like a snapshot (a deny for MaxAge, or
    /// until a push).</item>
    /// <item>Anything else (a refused token, no access, a malformed answer): the snapshot is dropped, so the next request
    /// asks again.</item>
    /// </list></summary>
    private PolicyLookup Failed(string repository, long pushes, DateTimeOffset now, PolicyRef reference, string code, string message, bool transient)
    {
        var lookup = new PolicyLookup(null, reference, code, message, Unavailable: transient);
        if (transient) _failed[repository] = (now + RetryBackoff, lookup);
        else if (code is GitHubCodes.NotInstalled or GitHubCodes.RepositoryNotFound or GitHubCodes.PolicyFileNotFound)
            Store(repository, pushes, new Entry(null, null, null, lookup, now));
        else _cache.TryRemove(repository, out _);
        return lookup;
    }

    public async ValueTask<(bool Ok, string Detail)> CheckAsync(CancellationToken cancellationToken) =>
        await github.CheckAsync(cancellationToken);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "fetched policy of {Repository} at {Branch} blob {Sha}: {Outcome}")]
        public static partial void PolicyFetched(ILogger logger, string repository, string branch, string sha, string outcome);

        [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "push to the default branch of {Repository}: its policy snapshot is revalidated on the next request")]
        public static partial void Expired(ILogger logger, string repository);

        [LoggerMessage(EventId = 4021, Level = LogLevel.Error, Message = "revalidating the policy of {Repository} failed")]
        public static partial void RevalidationFailed(ILogger logger, string repository, Exception exception);
    }
}
