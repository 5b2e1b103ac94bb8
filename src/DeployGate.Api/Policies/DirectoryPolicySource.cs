using System.Collections.Concurrent;
using System.Security.Cryptography;
using DeployGate.Engine;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api;

/// <summary>Policies from the operator's folder, <c>&lt;owner&gt;/&lt;repo&gt;.yml</c>. Compiled snapshots are
/// cached per file and reused while the file's length and modification time are unchanged (one stat per
/// request); a <see cref="FileSystemWatcher"/> drops entries on change so edits apply at once even when the
/// filesystem's mtime is coarse. A changed file is read and compiled once: the requests that find it changed while
/// that compile runs wait for it instead of compiling it again. Revision = SHA-256 of the content.</summary>
internal sealed partial class DirectoryPolicySource : IPolicySource, IDisposable
{
    private readonly string _root;
    private readonly ILogger<DirectoryPolicySource> _logger;
    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);
    private readonly FileSystemWatcher? _watcher;

    private sealed record Entry(long Length, DateTime WriteTimeUtc, PolicyLookup Lookup);

    // The compile running for a file, by path: a large policy takes tens to hundreds of milliseconds to compile, and
    // every request that found the file changed used to compile it again, so an edit under load cost a compile per
    // request in flight (seconds of both cores for 64 clients). Guarded by _loadingLock, which only the compile path takes.
    private readonly Dictionary<string, Loading> _loading = new(StringComparer.Ordinal);
    private readonly Lock _loadingLock = new();

    private sealed record Loading(long Length, DateTime WriteTimeUtc, TaskCompletionSource<PolicyLookup> Done);

    // Repository → its file's path, name and reference: a pure function of the name, remembered so a request makes
    // none of those strings (they were ~7 % of the bytes an authorize request allocated). Bounded, since tokens name
    // repositories the folder may not have; past the bound, names are worked out per request as before.
    private readonly ConcurrentDictionary<string, Names> _names = new(StringComparer.Ordinal);
    private const int MaxNames = 10_000;

    private sealed record Names(string Path, string File, PolicyRef Reference);

    public DirectoryPolicySource(string directory, ILogger<DirectoryPolicySource> logger)
    {
        _root = Path.GetFullPath(directory);
        _logger = logger;
        if (Directory.Exists(_root))
        {
            try
            {
                _watcher = new FileSystemWatcher(_root) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.DirectoryName };
                _watcher.Changed += (_, e) => Invalidate(e.FullPath);
                _watcher.Created += (_, e) => Invalidate(e.FullPath);
                _watcher.Deleted += (_, e) => Invalidate(e.FullPath);
                _watcher.Renamed += (_, e) => { Invalidate(e.FullPath); Invalidate(e.OldFullPath); };
                _watcher.Error += (_, _) => _cache.Clear();
                _watcher.EnableRaisingEvents = true;
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException)
            {
                // Watch limits exhausted: the stat check alone still catches changes.
                _watcher = null;
            }
        }
    }

    public string Root => _root;

    /// <summary>Drops what a change to <paramref name="path"/> may have made stale: a policy file's entry; every entry
    /// under an owner's folder that was created, renamed or deleted; and an owner's entries when a folder or link inside
    /// that owner's folder changed (policy files may be links through it, as in a Kubernetes ConfigMap volume, whose
    /// update swaps a <c>..data</c> link). Other files name no policy (an editor's swap file, a temporary file renamed
    /// over a policy, whose new name is reported as well); they used to drop every compiled policy, so each
    /// repository's next request compiled its policy again.</summary>
    private void Invalidate(string path)
    {
        var parts = Path.GetRelativePath(_root, path).Split(Path.DirectorySeparatorChar);
        if (parts.Length == 2 && path.EndsWith(".yml", StringComparison.Ordinal))
        {
            _cache.TryRemove(path, out _);
        }
        else if (parts.Length == 1 && RepositoryNames.IsOwner(parts[0]))
        {
            DropUnder(path);
        }
        else if (parts.Length == 2 && IsFolderOrLink(path))
        {
            DropUnder(Path.GetDirectoryName(path)!);
        }
    }

    private void DropUnder(string folder)
    {
        var prefix = folder + Path.DirectorySeparatorChar;
        foreach (var key in _cache.Keys)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal)) _cache.TryRemove(key, out _);
        }
    }

    private static bool IsFolderOrLink(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? info.LinkTarget is not null : Directory.Exists(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return true;   // cannot tell: drop, as the safe side
        }
    }

    /// <summary>Every call checks the file (<paramref name="revalidate"/> changes nothing).</summary>
    public ValueTask<PolicyLookup> GetAsync(string repository, DateTimeOffset now, bool revalidate, CancellationToken cancellationToken)
    {
        if (!_names.TryGetValue(repository, out var names))
        {
            if (!TryResolve(repository, out names))
                return ValueTask.FromResult(new PolicyLookup(null, new PolicyRef($"directory:{repository}.yml", null), ServerCodes.RepositoryNameInvalid,
                    $"repository `{repository}` cannot name a policy file"));
            if (_names.Count < MaxNames) _names.TryAdd(repository, names);
        }
        var (path, file, reference) = names;

        FileInfo info;
        try
        {
            info = new FileInfo(path);
            if (!info.Exists)
            {
                _cache.TryRemove(path, out _);
                return ValueTask.FromResult(new PolicyLookup(null, reference, ServerCodes.PolicyNotFound,
                    $"no policy for `{repository}`: `{file}` does not exist in the policy folder"));
            }
            if (_cache.TryGetValue(path, out var cached) && cached.Length == info.Length && cached.WriteTimeUtc == info.LastWriteTimeUtc)
                return ValueTask.FromResult(cached.Lookup);

            // Refused before it is read, with the loader's own code, so a huge file costs nothing.
            if (info.Length > PolicyLoader.MaxBytes)
                return ValueTask.FromResult(new PolicyLookup(null, reference, PolicyLoader.FileTooLargeCode,
                    $"policy file is invalid: {PolicyLoader.FileTooLargeMessage(info.Length)}"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ValueTask.FromResult(Unreadable(reference, ex));
        }
        return Load(repository, path, file, reference, info.Length, info.LastWriteTimeUtc, now, cancellationToken);
    }

    /// <summary>Reads and compiles the file on this request's thread, or waits for the compile another request started
    /// for the same length and modification time.</summary>
    private ValueTask<PolicyLookup> Load(string repository, string path, string file, PolicyRef reference, long length, DateTime writeTimeUtc,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        Loading mine;
        lock (_loadingLock)
        {
            if (_loading.TryGetValue(path, out var running) && running.Length == length && running.WriteTimeUtc == writeTimeUtc)
                return new ValueTask<PolicyLookup>(running.Done.Task.WaitAsync(cancellationToken));
            mine = new Loading(length, writeTimeUtc, new TaskCompletionSource<PolicyLookup>(TaskCreationOptions.RunContinuationsAsynchronously));
            _loading[path] = mine;
        }
        try
        {
            PolicyLookup lookup;
            try
            {
                var bytes = File.ReadAllBytes(path);
                lookup = Compile(bytes, file, now, reference with { Revision = Hash(bytes) });
                _cache[path] = new Entry(length, writeTimeUtc, lookup);
                Log.PolicyLoaded(_logger, repository, lookup.Ref.Revision ?? "", lookup.Code ?? "ok");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                lookup = Unreadable(reference, ex);
            }
            mine.Done.SetResult(lookup);
            return ValueTask.FromResult(lookup);
        }
        catch (Exception ex)
        {
            mine.Done.SetException(ex);   // those waiting fail as this request does: closed
            throw;
        }
        finally
        {
            lock (_loadingLock)
            {
                if (_loading.TryGetValue(path, out var running) && ReferenceEquals(running, mine)) _loading.Remove(path);
            }
        }
    }

    private static PolicyLookup Unreadable(PolicyRef reference, Exception ex) =>
        new(null, reference, ServerCodes.PolicySourceUnavailable, $"cannot read the policy file: {ex.Message}", Unavailable: true);

    /// <summary>The file a repository names, checked to lie inside the folder; false for a name that cannot name one.</summary>
    private bool TryResolve(string repository, out Names names)
    {
        names = null!;
        if (!RepositoryNames.TrySplit(repository, out var owner, out var name)) return false;
        var path = Path.Combine(_root, owner, name + ".yml");
        // Invariant: the names are validated above; this is the belt to those braces.
        if (!Path.GetFullPath(path).StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal)) return false;
        var file = $"{owner}/{name}.yml";
        names = new Names(path, file, new PolicyRef($"directory:{file}", null));
        return true;
    }

    private static PolicyLookup Compile(byte[] bytes, string file, DateTimeOffset now, PolicyRef reference)
    {
        PolicyLoadResult result;
        try
        {
            result = PolicyLoader.Load(bytes, file, now, reference);
        }
        catch (Exception ex)
        {
            // Fail closed: a loader bug is an invalid policy, never an allow (cached until the file changes).
            return new PolicyLookup(null, reference, ServerCodes.PolicyInvalid, $"policy cannot be loaded: {ex.GetType().Name}");
        }
        if (result.HasErrors || result.Policy is null)
        {
            var first = result.Errors.FirstOrDefault();
            return new PolicyLookup(null, reference, first?.Code ?? ServerCodes.PolicyInvalid,
                first is null ? "policy file is invalid" : $"policy file is invalid: {first}");
        }
        return PolicyLookup.Found(result.Policy);
    }

    internal static string Hash(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public ValueTask<(bool Ok, string Detail)> CheckAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(Directory.Exists(_root) ? (true, "ok") : (false, $"policy folder `{_root}` does not exist"));

    public void Dispose() => _watcher?.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 6200, Level = LogLevel.Information, Message = "loaded policy of {Repository} revision {Revision}: {Outcome}")]
        public static partial void PolicyLoaded(ILogger logger, string repository, string revision, string outcome);
    }
}
