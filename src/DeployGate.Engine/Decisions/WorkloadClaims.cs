using System.Collections.Frozen;

namespace DeployGate.Engine;

/// <summary>The verified claims of a GitHub Actions OIDC token, as the engine reads them. Identity
/// selectors match individual claims; <c>sub</c> is never parsed (SPEC §1.7).</summary>
public sealed class WorkloadClaims
{
    private static readonly FrozenDictionary<string, string> NoClaims =
        FrozenDictionary<string, string>.Empty;

    public string? Repository { get; init; }
    public string? RepositoryOwner { get; init; }
    /// <summary><c>job_workflow_ref</c>, e.g. <c>acme/web/.github/workflows/release.yml@refs/heads/main</c>.</summary>
    public string? JobWorkflowRef { get; init; }
    public string? Ref { get; init; }
    public string? Sha { get; init; }
    public string? RunId { get; init; }
    public string? RunAttempt { get; init; }
    public string? Actor { get; init; }
    /// <summary>The GitHub environment of the job (<c>environment</c> claim), if any.</summary>
    public string? Environment { get; init; }

    /// <summary>Every string claim of the token by name (including the ones above).</summary>
    public IReadOnlyDictionary<string, string> All { get; init; } = NoClaims;

    private string? _workflow;

    /// <summary><c>job_workflow_ref</c> before the <c>@</c> (computed once).</summary>
    public string? Workflow
    {
        get
        {
            if (_workflow is not null || JobWorkflowRef is null) return _workflow;
            var at = JobWorkflowRef.IndexOf('@', StringComparison.Ordinal);
            return _workflow = at < 0 ? JobWorkflowRef : JobWorkflowRef[..at];
        }
    }

    /// <summary>A claim by its token name.</summary>
    public string? Get(string name) => name switch
    {
        "repository" => Repository,
        "repository_owner" => RepositoryOwner,
        "job_workflow_ref" => JobWorkflowRef,
        "ref" => Ref,
        "sha" => Sha,
        "run_id" => RunId,
        "run_attempt" => RunAttempt,
        "actor" => Actor,
        "environment" => Environment,
        _ => All.TryGetValue(name, out var v) ? v : null,
    };

    /// <summary>Builds claims from a flat name → value map (a decoded token's string claims).</summary>
    public static WorkloadClaims FromDictionary(IReadOnlyDictionary<string, string> claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        string? Get(string n) => claims.TryGetValue(n, out var v) ? v : null;
        return new WorkloadClaims
        {
            Repository = Get("repository"),
            RepositoryOwner = Get("repository_owner"),
            JobWorkflowRef = Get("job_workflow_ref"),
            Ref = Get("ref"),
            Sha = Get("sha"),
            RunId = Get("run_id"),
            RunAttempt = Get("run_attempt"),
            Actor = Get("actor"),
            Environment = Get("environment"),
            All = claims.ToFrozenDictionary(StringComparer.Ordinal),
        };
    }
}
