using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using DeployGate.Api;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate app-manifest --url URL [--name NAME]</c>: prints the GitHub App manifest for this
/// deployment (docs/github-app.md): webhook at <c>URL/api/github/webhook</c>, private app, permissions
/// Actions read (the run's details), Deployments write (review the protection rule), Contents read (the policy
/// file), and the one event it handles, <c>deployment_protection_rule</c>.</summary>
internal static class AppManifestCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create()
    {
        var url = new Option<string>("--url") { Description = "Public base URL of this DeployGate (https://, or http on loopback)", Required = true };
        var name = new Option<string>("--name") { Description = "App name shown on GitHub (unique on GitHub)", DefaultValueFactory = _ => "DeployGate" };
        var command = new Command("app-manifest", "Print the GitHub App manifest (permissions, webhook, events) for this deployment") { url, name };
        command.SetAction(r => CommandSupport.Guard(r, () =>
        {
            var baseUrl = r.GetValue(url)!.Trim().TrimEnd('/');
            if (!GateConfiguration.IsSecureOrLoopback(baseUrl) || !Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) || uri.Query.Length > 0 || uri.Fragment.Length > 0)
                throw new UsageException($"--url `{baseUrl}` must be an absolute https:// URL without query (http only on a loopback address)");
            var appName = r.GetValue(name)!.Trim();
            if (appName.Length is 0 or > 34)
                throw new UsageException($"--name `{appName}` must be 1 to 34 characters (GitHub's limit for App names)");
            r.Out().WriteLine(Build(baseUrl, appName).ToJsonString(Indented));
            return ExitCodes.Ok;
        }));
        return command;
    }

    internal static JsonObject Build(string baseUrl, string name) => new()
    {
        ["name"] = name,
        ["url"] = baseUrl,
        ["hook_attributes"] = new JsonObject { ["url"] = baseUrl + GateServer.WebhookRoute, ["active"] = true },
        ["redirect_url"] = baseUrl + "/",
        ["description"] = "DeployGate: approves, rejects or holds deployments by the repository's .github/deploygate.yml (custom deployment protection rule).",
        ["public"] = false,
        ["default_permissions"] = new JsonObject
        {
            ["actions"] = "read",
            ["deployments"] = "write",
            ["contents"] = "read",
        },
        ["default_events"] = new JsonArray("deployment_protection_rule", "push"),   // push: a policy edit expires its snapshot at once
    };
}
