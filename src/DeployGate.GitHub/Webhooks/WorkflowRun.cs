using System.Globalization;
using System.Text.Json.Nodes;

namespace DeployGate.GitHub.Webhooks;

/// <summary><c>GET /repos/{o}/{r}/actions/runs/{run_id}</c>, the part a review reads.</summary>
public sealed record WorkflowRun(long Id, string? HeadSha, string? HeadBranch, string? Path, string? Event, string? RunAttempt, string? Actor)
{
    public static WorkflowRun From(JsonObject json, long runId)
    {
        ArgumentNullException.ThrowIfNull(json);
        static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        static string? Num(JsonNode? n) => n is JsonValue v && v.TryGetValue<long>(out var l) ? l.ToString(CultureInfo.InvariantCulture) : Str(n);
        return new WorkflowRun(
            json["id"] is JsonValue idv && idv.TryGetValue<long>(out var id) ? id : runId,
            Str(json["head_sha"]),
            Str(json["head_branch"]),
            Str(json["path"]),
            Str(json["event"]),
            Num(json["run_attempt"]),
            Str(json["actor"]?["login"]) ?? Str(json["triggering_actor"]?["login"]));
    }
}
