using System.Text.Json;
using static DeployGate.GitHub.Webhooks.WebhookJson;

namespace DeployGate.GitHub.Webhooks;

/// <summary>The parts of a <c>push</c> payload DeployGate reads: which repository, which ref, and the repository's
/// default branch, to tell whether the push can have changed the policy (<c>.github/deploygate.yml</c> is read
/// from the default branch only).</summary>
public sealed record PushEvent(string Repository, string Ref, string DefaultBranch)
{
    /// <summary>Whether the push went to the default branch.</summary>
    public bool ToDefaultBranch => Ref == "refs/heads/" + DefaultBranch;

    /// <summary>Reads a payload. Returns null with a one-line reason when the JSON is unreadable or lacks <c>ref</c>,
    /// <c>repository.full_name</c> or <c>repository.default_branch</c>.</summary>
    public static PushEvent? TryParse(ReadOnlySpan<byte> json, out string? problem) => WebhookJson.Read(json, out problem, Read);

    private static PushEvent? Read(JsonElement root, out string? problem)
    {
        problem = null;
        var gitRef = StringProperty(root, "ref");
        var repository = ObjectProperty(root, "repository");
        var fullName = repository is { } r ? StringProperty(r, "full_name") : null;
        var defaultBranch = repository is { } r2 ? StringProperty(r2, "default_branch") : null;
        var missing = new List<string>();
        if (string.IsNullOrWhiteSpace(gitRef)) missing.Add("`ref`");
        if (string.IsNullOrWhiteSpace(fullName)) missing.Add("`repository.full_name`");
        if (string.IsNullOrWhiteSpace(defaultBranch)) missing.Add("`repository.default_branch`");
        if (missing.Count > 0)
        {
            problem = $"push payload lacks {string.Join(", ", missing)}";
            return null;
        }
        return new PushEvent(fullName!, gitRef!, defaultBranch!);
    }
}
