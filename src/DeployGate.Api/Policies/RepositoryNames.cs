using System.Text.RegularExpressions;

namespace DeployGate.Api;

/// <summary>Repository names as they may name files or URL segments: GitHub's own character sets, so no
/// path traversal (<c>..</c>, <c>/</c>, <c>\</c>, NUL, …) can get through.</summary>
internal static partial class RepositoryNames
{
    /// <summary>Splits <c>owner/name</c> when both parts are valid GitHub names.</summary>
    public static bool TrySplit(string? repository, out string owner, out string name)
    {
        owner = name = "";
        if (repository is null) return false;
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0) return false;
        var o = repository[..slash];
        var n = repository[(slash + 1)..];
        if (!Owner().IsMatch(o) || !Name().IsMatch(n) || n is "." or "..") return false;
        owner = o;
        name = n;
        return true;
    }

    /// <summary>Whether <paramref name="owner"/> is a valid GitHub owner name (so it has no dot).</summary>
    public static bool IsOwner(string owner) => Owner().IsMatch(owner);

    [GeneratedRegex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")]
    private static partial Regex Owner();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex Name();
}
