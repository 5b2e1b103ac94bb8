using System.Text.RegularExpressions;

namespace DeployGate.GitHub.Webhooks;

/// <summary>Where a review goes: owner, repository and run id from <c>deployment_callback_url</c>.</summary>
public sealed record CallbackTarget(string Owner, string Repo, long RunId);

/// <summary>Validates <c>deployment_callback_url</c> before any token is sent to it (github-facts §6.7): same
/// scheme, host and port as <c>GitHub:ApiUrl</c>, path = the API base path +
/// <c>repos/{o}/{r}/actions/runs/{run_id}/deployment_protection_rule</c>, and <c>{o}/{r}</c> = the payload's
/// repository. DeployGate never calls the URL itself: it calls its own API base with the parsed parts.</summary>
public static partial class CallbackUrl
{
    [GeneratedRegex(@"^repos/([A-Za-z0-9][A-Za-z0-9-]{0,38})/([A-Za-z0-9._-]{1,100})/actions/runs/([0-9]{1,19})/deployment_protection_rule$", RegexOptions.CultureInvariant)]
    private static partial Regex ReviewPath();

    [GeneratedRegex(@"/actions/runs/([0-9]{1,19})/deployment_protection_rule/?$", RegexOptions.CultureInvariant)]
    private static partial Regex RunIdAnywhere();

    public static bool TryParse(string url, Uri apiBase, string repository, out CallbackTarget? target, out string problem)
    {
        ArgumentNullException.ThrowIfNull(apiBase);
        target = null;
        problem = "";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            problem = $"deployment_callback_url `{Clip(url)}` is not a plain absolute URL";
            return false;
        }
        if (!string.Equals(uri.Scheme, apiBase.Scheme, StringComparison.OrdinalIgnoreCase) ||
            !string.Equals(uri.IdnHost, apiBase.IdnHost, StringComparison.OrdinalIgnoreCase) || uri.Port != apiBase.Port)
        {
            problem = $"deployment_callback_url host `{uri.Scheme}://{uri.Authority}` is not the configured GitHub API `{apiBase.Scheme}://{apiBase.Authority}`";
            return false;
        }
        var basePath = apiBase.AbsolutePath.EndsWith('/') ? apiBase.AbsolutePath : apiBase.AbsolutePath + "/";
        var path = uri.AbsolutePath;
        var m = path.StartsWith(basePath, StringComparison.Ordinal) ? ReviewPath().Match(path[basePath.Length..]) : Match.Empty;
        if (!m.Success || !long.TryParse(m.Groups[3].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var runId))
        {
            problem = $"deployment_callback_url path `{Clip(path)}` is not `{basePath}repos/{{owner}}/{{repo}}/actions/runs/{{run_id}}/deployment_protection_rule`";
            return false;
        }
        var owner = m.Groups[1].Value;
        var repo = m.Groups[2].Value;
        if (!string.Equals($"{owner}/{repo}", repository, StringComparison.OrdinalIgnoreCase))
        {
            problem = $"deployment_callback_url names `{owner}/{repo}`, the payload `{repository}`";
            return false;
        }
        target = new CallbackTarget(owner, repo, runId);
        return true;
    }

    /// <summary>The run id of any URL that ends like a review URL, for the audit record of a rejected job only.</summary>
    public static string? LooseRunId(string? url) => url is not null && RunIdAnywhere().Match(url) is { Success: true } m ? m.Groups[1].Value : null;

    private static string Clip(string s) => s.Length <= 200 ? s : s[..200] + "…";
}
