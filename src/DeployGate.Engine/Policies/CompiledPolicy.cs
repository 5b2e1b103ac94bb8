namespace DeployGate.Engine;

/// <summary>What a front end needs to know about one environment of a loaded policy.</summary>
public sealed record EnvironmentInfo(
    string Name,
    string? GitHubEnvironment,
    TimeSpan? WaitForWindow,
    string? GrantAudience);

/// <summary>An immutable, compiled policy snapshot: parsed, validated, globs and cron compiled, zones
/// resolved. Swapped whole on reload; safe to share across threads.</summary>
public sealed partial class CompiledPolicy
{
    /// <summary>Where the policy came from and its revision (blob sha or content hash).</summary>
    public PolicyRef Ref { get; }

    /// <summary>The policy's default IANA zone.</summary>
    public string TimeZone { get; }

    public IReadOnlyList<string> EnvironmentNames { get; }

    /// <summary>Environment names compare case-insensitively, as GitHub's do.</summary>
    public bool TryGetEnvironment(string name, out EnvironmentInfo info)
    {
        if (_environments.TryGetValue(name, out var env))
        {
            info = env.Info;
            return true;
        }
        info = null!;
        return false;
    }
}
