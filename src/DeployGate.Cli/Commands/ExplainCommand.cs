using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using DeployGate.Engine;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate explain</c>: the exact decision the service would make at that instant.
/// Exit 0 allow, 1 deny, 2 usage error.</summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var policy = new Option<string>("--policy") { Description = "policy file", Required = true };
        var action = new Option<string>("--action") { Description = "deploy or read-secret", DefaultValueFactory = _ => "deploy" };
        action.AcceptOnlyFromAmong("deploy", "read-secret");
        var environment = new Option<string>("--environment") { Description = "target environment", Required = true };
        var target = new Option<string?>("--target") { Description = "deployment target (deploy)" };
        var secret = new Option<string?>("--secret") { Description = "secret name (read-secret)" };
        var claimsFile = new Option<string?>("--claims") { Description = "JSON file with the token's claims (a decoded OIDC token payload)" };
        var repository = new Option<string?>("--repository") { Description = "`repository` claim, e.g. acme/web" };
        var workflow = new Option<string?>("--workflow") { Description = "workflow path, e.g. acme/web/.github/workflows/release.yml (or a full job_workflow_ref)" };
        var gitRef = new Option<string?>("--ref") { Description = "`ref` claim, e.g. refs/heads/main" };
        var githubEnvironment = new Option<string?>("--github-environment") { Description = "`environment` claim: the job's GitHub environment" };
        var actor = new Option<string?>("--actor") { Description = "`actor` claim" };
        var claim = new Option<string[]>("--claim") { Description = "any other claim, as name=value (repeatable)", AllowMultipleArgumentsPerToken = false };
        var at = new Option<string?>("--at") { Description = "decide at this instant, e.g. 2026-11-23T09:00:00Z (default: now)" };
        var breakGlass = new Option<string?>("--break-glass") { Description = $"ask for break-glass with this reason (at least {Evaluator.MinBreakGlassReason} characters)" };
        var json = new Option<bool>("--json") { Description = "print the decision as JSON (the API's body)" };

        var command = new Command("explain", "Decide one request against a policy file, explaining every check.")
        {
            policy, action, environment, target, secret, claimsFile, repository, workflow, gitRef, githubEnvironment, actor, claim, at, breakGlass, json,
        };
        command.SetAction(r => CommandSupport.Guard(r, () =>
        {
            var now = r.GetValue(at) is { } atText ? CommandSupport.ParseInstant(atText, "--at") : CliApp.Clock.GetUtcNow();
            if (!DecisionJson.TryParseAction(r.GetValue(action), out var gateAction)) throw new UsageException("--action must be deploy or read-secret");
            if (r.GetValue(breakGlass) is { } reason && reason.Trim().Length < Evaluator.MinBreakGlassReason)
                throw new UsageException($"--break-glass reason must be at least {Evaluator.MinBreakGlassReason} characters");
            if (gateAction == GateAction.Deploy && r.GetValue(secret) is not null)
                throw new UsageException("--secret is for --action read-secret");
            if (gateAction == GateAction.ReadSecret && r.GetValue(target) is not null)
                throw new UsageException("--target is for --action deploy");

            var claims = r.GetValue(claimsFile) is { } file
                ? ClaimsFromFile(file)
                : ClaimsFromFlags(r.GetValue(repository), r.GetValue(workflow), r.GetValue(gitRef), r.GetValue(githubEnvironment),
                    r.GetValue(actor), r.GetValue(claim) ?? []);
            var request = new DecisionRequest(gateAction, r.GetValue(environment)!, r.GetValue(target), r.GetValue(secret), r.GetValue(breakGlass));
            var id = DecisionIds.Create(now, RandomNumberGenerator.GetBytes(10));

            var path = r.GetValue(policy)!;
            var load = CommandSupport.LoadPolicy(r, path, now);
            foreach (var d in load.Diagnostics) r.Err().WriteLine(d.ToString());
            Decision decision;
            TimeZoneInfo zone;
            if (load.Policy is { } compiled)
            {
                decision = Evaluator.Evaluate(compiled, request, claims, now, id);
                zone = CommandSupport.Zone(compiled);
            }
            else
            {
                // As the service does: an invalid policy is a deny carrying the first error's code.
                var first = load.Errors.First();
                decision = Evaluator.Error(request, claims, now, id, new PolicyRef($"file:{path}", null), first.Code,
                    first.At is { } at ? $"policy `{path}` is invalid at {at.Line}:{at.Column}: {first.Message}" : $"policy `{path}` is invalid: {first.Message}");
                zone = TimeZoneInfo.Utc;
            }

            if (r.GetValue(json)) r.Out().WriteLine(DecisionJson.ToJson(decision, indented: true));
            else WriteText(r.Out(), decision, zone);
            return decision.Verdict == Verdict.Allow ? ExitCodes.Ok : ExitCodes.Deny;
        }));
        return command;
    }

    private static WorkloadClaims ClaimsFromFlags(string? repository, string? workflow, string? gitRef, string? githubEnvironment,
        string? actor, string[] extra)
    {
        if (repository is null) throw new UsageException("give the caller's claims: --claims FILE, or at least --repository");
        var all = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["repository"] = repository,
            ["repository_owner"] = repository.Split('/')[0],
        };
        if (gitRef is not null) all["ref"] = gitRef;
        if (workflow is not null) all["job_workflow_ref"] = workflow.Contains('@', StringComparison.Ordinal) ? workflow : $"{workflow}@{gitRef ?? ""}";
        if (githubEnvironment is not null) all["environment"] = githubEnvironment;
        if (actor is not null) all["actor"] = actor;
        foreach (var pair in extra)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new UsageException($"--claim `{pair}` is not name=value");
            all[pair[..eq]] = pair[(eq + 1)..];
        }
        return WorkloadClaims.FromDictionary(all);
    }

    private static WorkloadClaims ClaimsFromFile(string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new UsageException($"--claims `{file}` must hold a JSON object");
            var all = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind is JsonValueKind.String) all[p.Name] = p.Value.GetString()!;
                else if (p.Value.ValueKind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False) all[p.Name] = p.Value.GetRawText();
            }
            return WorkloadClaims.FromDictionary(all);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new UsageException($"cannot read --claims `{file}`: {ex.Message}");
        }
    }

    private static void WriteText(TextWriter w, Decision d, TimeZoneInfo zone)
    {
        var verdict = d.Verdict == Verdict.Allow ? "ALLOW" : "DENY";
        var what = d.Request.Action == GateAction.Deploy
            ? $"deploy to {d.Request.Environment}{(d.Request.Target is null ? "" : $" (target {d.Request.Target})")}"
            : $"read-secret in {d.Request.Environment}{(d.Request.Secret is null ? "" : $" (secret {d.Request.Secret})")}";
        w.WriteLine($"{verdict}  {what}");
        w.WriteLine($"  at        {CommandSupport.LocalAndUtc(d.EvaluatedAt, zone)}");
        var who = d.Identity.Identities.IsEmpty ? "(matches no identity)" : string.Join(", ", d.Identity.Identities);
        w.WriteLine($"  identity  {who}  [{d.Identity.Repository} · {d.Identity.Workflow ?? "-"} · {d.Identity.Ref ?? "-"}]");
        var roles = d.Identity.Roles.IsEmpty ? "(none)" : string.Join(", ", d.Identity.Roles.Select(h => h.Via == "delegation"
            ? $"{h.Role} (delegated by {h.GrantedBy} until {h.Until:yyyy-MM-dd})"
            : h.Role));
        w.WriteLine($"  roles     {roles}");
        if (d.BreakGlass) w.WriteLine($"  BREAK-GLASS in effect: {d.Request.BreakGlassReason}");
        w.WriteLine();
        var table = new TextTable("check", "result", "code", "why");
        foreach (var c in d.Checks) table.Add(c.Name, DecisionJson.ResultName(c.Result), c.Code ?? "", c.Message);
        table.Write(w);
        w.WriteLine();
        if (d.NextAllowedAt is { } next) w.WriteLine($"  next allowed  {CommandSupport.LocalAndUtc(next, zone)}");
        else if (d.Verdict == Verdict.Deny) w.WriteLine("  next allowed  - (a check other than window/freeze fails)");
        w.WriteLine($"  policy        {d.Policy.Source} @ {d.Policy.Revision ?? "-"}");
        w.WriteLine($"  decision      {d.DecisionId}");
    }
}
