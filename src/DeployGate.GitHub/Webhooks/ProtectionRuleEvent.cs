using System.Text.Json;
using static DeployGate.GitHub.Webhooks.WebhookJson;

namespace DeployGate.GitHub.Webhooks;

/// <summary>The parts of a <c>deployment_protection_rule</c> payload DeployGate reads (github-facts §1.4).
/// Parsing is lenient: unknown fields are ignored, <c>deployment</c> may be null or absent, and only what a
/// review cannot do without is required (<see cref="TryParse"/>).</summary>
public sealed record ProtectionRuleEvent(
    string Action,
    string Environment,
    string CallbackUrl,
    long InstallationId,
    string Repository,
    string? RepositoryOwner,
    string? Event,
    string? Sha,
    string? Ref,
    string? SenderLogin,
    long? DeploymentId)
{
    /// <summary>Reads a payload. Returns null with a one-line reason when the JSON is unreadable or lacks
    /// <c>action</c>, <c>environment</c>, <c>deployment_callback_url</c>, <c>installation.id</c> or
    /// <c>repository.full_name</c>.</summary>
    public static ProtectionRuleEvent? TryParse(ReadOnlySpan<byte> json, out string? problem) => WebhookJson.Read(json, out problem, Read);

    private static ProtectionRuleEvent? Read(JsonElement root, out string? problem)
    {
        problem = null;
        var action = StringProperty(root, "action");
        var environment = StringProperty(root, "environment");
        var callback = StringProperty(root, "deployment_callback_url");
        var installation = ObjectProperty(root, "installation") is { } i && i.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out var n) ? n : (long?)null;
        var repository = ObjectProperty(root, "repository");
        var fullName = repository is { } r ? StringProperty(r, "full_name") : null;
        var missing = new List<string>();
        if (action is null) missing.Add("`action`");
        if (string.IsNullOrWhiteSpace(environment)) missing.Add("`environment`");
        if (string.IsNullOrWhiteSpace(callback)) missing.Add("`deployment_callback_url`");
        if (installation is null) missing.Add("`installation.id`");
        if (string.IsNullOrWhiteSpace(fullName)) missing.Add("`repository.full_name`");
        if (missing.Count > 0)
        {
            problem = $"payload lacks {string.Join(", ", missing)}";
            return null;
        }
        var owner = repository is { } repo && ObjectProperty(repo, "owner") is { } o ? StringProperty(o, "login") : null;
        var deployment = ObjectProperty(root, "deployment");      // null for jobs with `deployment: false`
        long? deploymentId = deployment is { } d && d.TryGetProperty("id", out var did) && did.ValueKind == JsonValueKind.Number && did.TryGetInt64(out var dn) ? dn : null;
        return new ProtectionRuleEvent(action!, environment!, callback!, installation!.Value, fullName!, owner,
            StringProperty(root, "event"),
            StringProperty(root, "sha") ?? (deployment is { } d2 ? StringProperty(d2, "sha") : null),
            StringProperty(root, "ref") ?? (deployment is { } d3 ? StringProperty(d3, "ref") : null),
            ObjectProperty(root, "sender") is { } s ? StringProperty(s, "login") : null,
            deploymentId);
    }

    /// <summary>Only the <c>action</c>: for deciding whether a delivery is ours before reading more.</summary>
    public static string? ActionOf(ReadOnlySpan<byte> json) =>
        WebhookJson.Read(json, out _, (JsonElement root, out string? problem) =>
        {
            problem = null;
            return StringProperty(root, "action");
        });
}

/// <summary>Git refs as the policy compares them.</summary>
public static class GitRefs
{
    /// <summary>The payload's <c>ref</c> may be short (<c>main</c>). A ref that does not start with <c>refs/</c> is
    /// taken as a branch: <c>main</c> → <c>refs/heads/main</c>. (A short tag name is indistinguishable from a branch
    /// name in the payload; documented in docs/github-app.md.)</summary>
    public static string? Normalize(string? gitRef) =>
        string.IsNullOrWhiteSpace(gitRef) ? null
        : gitRef.StartsWith("refs/", StringComparison.Ordinal) ? gitRef
        : "refs/heads/" + gitRef;
}
