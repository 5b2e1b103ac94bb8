using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DeployGate.GitHub.Webhooks;

namespace DeployGate.GitHub;

/// <summary>The two REST calls of a deployment protection rule review (github-facts §1.5, §1.6).</summary>
public sealed partial class GitHubAppClient
{
    /// <summary><c>GET /repos/{o}/{r}/actions/runs/{run_id}</c> with an installation token (Actions: read).
    /// 404 → <see cref="WebhookCodes.RunNotFound"/>.</summary>
    public async Task<GitHubResult<WorkflowRun>> GetWorkflowRunAsync(string owner, string repo, long runId, string token, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, $"repos/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(repo)}/actions/runs/{runId}", token);
        var r = await SendAsync(request, ct);
        if (r.Code is not null)
        {
            return r.Status == HttpStatusCode.NotFound
                ? GitHubResult.Fail<WorkflowRun>(WebhookCodes.RunNotFound, $"workflow run `{runId}` of `{owner}/{repo}` not found", r.Status)
                : GitHubResult.Fail<WorkflowRun>(r.Code, r.Message!, r.Status) with { RetryAfter = r.RetryAfter };
        }
        return r.Json is JsonObject o
            ? new GitHubResult<WorkflowRun>(WorkflowRun.From(o, runId), false, null, null, null)
            : GitHubResult.Fail<WorkflowRun>(GitHubCodes.BadResponse, "workflow run response is not a JSON object");
    }

    /// <summary><c>POST /repos/{o}/{r}/actions/runs/{run_id}/deployment_protection_rule</c>: approve or reject
    /// (<paramref name="state"/> <c>approved</c> | <c>rejected</c>) or, with <paramref name="state"/> null, post a
    /// status comment. Success is 204. The endpoint is not idempotent: callers retry only on
    /// <see cref="GitHubResult{T}.Transient"/> answers, which GitHub did not act on.</summary>
    public async Task<GitHubResult<string>> ReviewDeploymentAsync(string owner, string repo, long runId, string environment,
        string? state, string comment, string token, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Post,
            $"repos/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(repo)}/actions/runs/{runId}/deployment_protection_rule", token);
        var body = new JsonObject { ["environment_name"] = environment };
        if (state is not null) body["state"] = state;
        body["comment"] = comment;
        request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        var r = await SendAsync(request, ct);
        if (r.Code is not null)
        {
            return r.Code == GitHubCodes.Unavailable || r.Status == HttpStatusCode.Unauthorized
                ? GitHubResult.Fail<string>(r.Code, r.Message!, r.Status) with { RetryAfter = r.RetryAfter }
                : GitHubResult.Fail<string>(WebhookCodes.CallbackRefused, $"GitHub refused the review of run `{runId}` ({(int?)r.Status ?? 0}): {r.Message}", r.Status);
        }
        return new GitHubResult<string>(state ?? "status", false, null, null, null);
    }

    /// <summary>Forgets the cached token of an installation GitHub refused (401), so the next call mints a fresh one.</summary>
    public void ForgetInstallationToken(long installationId) => _tokens.TryRemove(installationId, out _);
}
