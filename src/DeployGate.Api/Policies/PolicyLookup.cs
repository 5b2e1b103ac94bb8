using DeployGate.Engine;

namespace DeployGate.Api;

/// <summary>The policy for one repository, or why there is none. <see cref="Unavailable"/> means "try
/// again later" (503); any other failure is a plain deny.</summary>
internal sealed record PolicyLookup(CompiledPolicy? Policy, PolicyRef Ref, string? Code, string? Message, bool Unavailable = false)
{
    public static PolicyLookup Found(CompiledPolicy policy) => new(policy, policy.Ref, null, null);
}

/// <summary>Where policies come from (SPEC §1.4: the operator's folder or the repository's default branch).</summary>
internal interface IPolicySource
{
    /// <summary>The policy of <paramref name="repository"/> (<c>owner/name</c>), loaded at <paramref name="now"/> (warnings are judged then). Never throws for bad input.
    /// <paramref name="revalidate"/>: check it against its source now, even when a snapshot checked less than <c>Policy:MaxAge</c>
    /// ago would do (the review worker, whose decisions are rare and should see the newest policy).</summary>
    ValueTask<PolicyLookup> GetAsync(string repository, DateTimeOffset now, bool revalidate, CancellationToken cancellationToken);

    /// <summary>Whether the source can be read at all (for <c>/api/healthz</c>).</summary>
    ValueTask<(bool Ok, string Detail)> CheckAsync(CancellationToken cancellationToken);
}
