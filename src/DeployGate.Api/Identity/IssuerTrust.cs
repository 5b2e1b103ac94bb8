namespace DeployGate.Api;

/// <summary>What a token must match: issuer, audience and owners. In <c>--dev</c> with port 0 the
/// audience is known only once Kestrel has bound, so it can be set once after start.</summary>
internal sealed class IssuerTrust
{
    private volatile string? _audience;

    public IssuerTrust(string issuer, string? audience, IReadOnlyCollection<string>? allowedOwners)
    {
        Issuer = issuer;
        _audience = audience;
        AllowedOwners = allowedOwners is null || allowedOwners.Contains("*")
            ? null
            : allowedOwners.ToHashSet(StringComparer.OrdinalIgnoreCase);
    }

    public string Issuer { get; private set; }

    public string? Audience => _audience;

    /// <summary>Null: every owner (only in <c>--dev</c> or with <c>*</c>).</summary>
    public HashSet<string>? AllowedOwners { get; }

    /// <summary>Dev mode: issuer and audience follow the bound address.</summary>
    public void BindDev(string publicUrl)
    {
        Issuer = DevIssuer.IssuerFor(publicUrl);
        _audience = publicUrl;
    }
}
