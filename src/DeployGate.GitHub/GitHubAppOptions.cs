namespace DeployGate.GitHub;

/// <summary>How to reach GitHub as the App.</summary>
public sealed record GitHubAppOptions(Uri ApiUrl, string AppId, string PrivateKeyPem)
{
    /// <summary>The named <see cref="System.Net.Http.IHttpClientFactory"/> client.</summary>
    public const string HttpClientName = "github";

    /// <summary>REST API version sent on every call (<c>X-GitHub-Api-Version</c>).</summary>
    public const string ApiVersion = "2022-11-28";
}
