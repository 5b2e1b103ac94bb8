namespace DeployGate.GitHub.Webhooks;

/// <summary>Deployment protection rule codes (SPEC §11, GitHub integration range 4xxx, after
/// <see cref="GitHubCodes"/>). Stable: the same code appears in the webhook answer, the review comment,
/// the audit row and <c>docs/codes.md</c>.</summary>
public static class WebhookCodes
{
    /// <summary><c>X-Hub-Signature-256</c> is missing or is not the HMAC-SHA256 of the body under the webhook secret (401).</summary>
    public const string BadSignature = "DG4007";

    /// <summary>The webhook is disabled: <c>GitHub:WebhookSecret</c> is not configured (404).</summary>
    public const string Disabled = "DG4008";

    /// <summary>A signed <c>deployment_protection_rule</c> delivery lacks what a review needs
    /// (<c>X-GitHub-Delivery</c>, JSON body, <c>environment</c>, <c>deployment_callback_url</c>,
    /// <c>installation.id</c>, <c>repository.full_name</c>) (400).</summary>
    public const string PayloadInvalid = "DG4009";

    /// <summary><c>deployment_callback_url</c> is not a review URL of the payload's repository on the
    /// configured <c>GitHub:ApiUrl</c> host: rejected without sending a token anywhere.</summary>
    public const string CallbackUrlMismatch = "DG4010";

    /// <summary>The workflow run named by the callback URL does not exist (<c>GET …/actions/runs/{id}</c> → 404).</summary>
    public const string RunNotFound = "DG4011";

    /// <summary>GitHub (or the policy source) kept failing with retryable errors until the job's attempts ran out.</summary>
    public const string GaveUp = "DG4012";

    /// <summary>GitHub refused the review callback with a non-retryable status (e.g. 422: already decided; 404).</summary>
    public const string CallbackRefused = "DG4013";
}
