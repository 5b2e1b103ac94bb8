using System.Globalization;
using System.Text;
using DeployGate.Engine;

namespace DeployGate.Api.Webhooks;

/// <summary>The Markdown comment posted with a review (GitHub shows it on the run; at most 1024 characters):
/// the verdict, each failed check with its code, and the decision id to look up in the audit log.</summary>
internal static class ReviewComment
{
    public const int MaxLength = 1024;
    private const int MaxMessage = 300;

    public static string Approved(Decision decision) =>
        Build($"**DeployGate: approved** `deploy` to `{decision.Request.Environment}`", decision, [], null);

    public static string Rejected(Decision decision)
    {
        string? tail = decision.NextAllowedAt is { } next
            ? $"Next allowed at {Utc(next)}; this environment does not wait that long (`wait_for_window`)."
            : null;
        return Build($"**DeployGate: rejected** `deploy` to `{decision.Request.Environment}`", decision, Failed(decision), tail);
    }

    public static string Waiting(Decision decision, DateTimeOffset until) =>
        Build($"**DeployGate: waiting** to `deploy` to `{decision.Request.Environment}`", decision, Failed(decision),
            $"Will decide again at {Utc(until)} with the policy of that moment.");

    private static List<string> Failed(Decision decision) =>
        [.. decision.Failures.Select(c => $"- `{c.Name}` {c.Code}: {Clip(c.Message)}")];

    private static string Build(string head, Decision decision, List<string> lines, string? tail)
    {
        // Invariant: the head and the decision id always fit; check lines are dropped from the end when needed.
        var id = $"decision `{decision.DecisionId}` · policy `{decision.Policy.Source}`" +
                 (decision.Policy.Revision is { } rev ? $" @ `{Clip(rev, 12)}`" : "");
        var text = new StringBuilder(head).Append('\n').Append(Clip(id, 400));
        var budget = MaxLength - text.Length - (tail is null ? 0 : tail.Length + 1) - 40;
        var shown = 0;
        foreach (var line in lines)
        {
            if (line.Length + 1 > budget) break;
            text.Append('\n').Append(line);
            budget -= line.Length + 1;
            shown++;
        }
        if (shown < lines.Count) text.Append('\n').Append(CultureInfo.InvariantCulture, $"- … and {lines.Count - shown} more failed check(s)");
        if (tail is not null) text.Append('\n').Append(tail);
        return text.Length <= MaxLength ? text.ToString() : text.ToString(0, MaxLength - 1) + "…";
    }

    private static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Clip(string s, int max = MaxMessage) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
