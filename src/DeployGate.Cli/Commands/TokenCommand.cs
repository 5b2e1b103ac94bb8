using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using DeployGate.Api;
using DeployGate.Cli.Hosting;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate token --dev …</c>: mints one RS256 JWT with GitHub Actions OIDC claims, signed by the
/// dev issuer key at <c>./.deploygate/dev-issuer.json</c> (created if missing). Only <c>serve --dev</c> trusts it.</summary>
internal static class TokenCommand
{
    public const string DefaultAudience = "http://127.0.0.1:8080";

    public static Command Create()
    {
        var dev = new Option<bool>("--dev") { Description = "Mint a token of the local dev issuer (required)" };
        var repository = new Option<string>("--repository") { Description = "`repository` claim (owner/name)", DefaultValueFactory = _ => "acme/web" };
        var workflow = new Option<string?>("--workflow") { Description = "Workflow path; `job_workflow_ref` = <workflow>@<ref> (default <repository>/.github/workflows/deploy.yml)" };
        var gitRef = new Option<string>("--ref") { Description = "`ref` claim", DefaultValueFactory = _ => "refs/heads/main" };
        var environment = new Option<string?>("--environment") { Description = "`environment` claim (the job's GitHub environment)" };
        var actor = new Option<string?>("--actor") { Description = "`actor` claim (default: the repository owner)" };
        var runId = new Option<string?>("--run-id") { Description = "`run_id` claim (default: random)" };
        var audience = new Option<string>("--audience") { Description = "`aud` claim", DefaultValueFactory = _ => DefaultAudience };
        var issuer = new Option<string?>("--issuer") { Description = "`iss` claim (default <audience>/api/dev)" };
        var claims = new Option<string[]>("--claim") { Description = "Extra or overriding string claim k=v (repeatable)", Arity = ArgumentArity.ZeroOrMore };
        var ttl = new Option<string>("--ttl") { Description = "Lifetime, e.g. 5m, 90s, 1h", DefaultValueFactory = _ => "5m" };
        var command = new Command("token", "Mint a dev OIDC token for `serve --dev`")
        {
            dev, repository, workflow, gitRef, environment, actor, runId, audience, issuer, claims, ttl,
        };
        command.SetAction(parseResult =>
        {
            if (!parseResult.GetValue(dev))
            {
                Console.Error.WriteLine("deploygate token: only dev tokens can be minted; pass --dev (real tokens come from GitHub Actions)");
                return 2;
            }
            if (!Durations.TryParse(parseResult.GetValue(ttl), out var lifetime) || lifetime <= TimeSpan.Zero)
            {
                Console.Error.WriteLine($"deploygate token: --ttl `{parseResult.GetValue(ttl)}` is not a positive duration (e.g. 5m)");
                return 2;
            }
            var repo = parseResult.GetValue(repository)!;
            var slash = repo.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0 || slash == repo.Length - 1)
            {
                Console.Error.WriteLine($"deploygate token: --repository `{repo}` is not owner/name");
                return 2;
            }
            var owner = repo[..slash];
            var reference = parseResult.GetValue(gitRef)!;
            var aud = parseResult.GetValue(audience)!.TrimEnd('/');
            var iss = parseResult.GetValue(issuer) ?? DevIssuer.IssuerFor(aud);
            var wf = parseResult.GetValue(workflow) ?? $"{repo}/.github/workflows/deploy.yml";
            var env = parseResult.GetValue(environment);
            var now = Clock.System.GetUtcNow().ToUnixTimeSeconds();

            var payload = new JsonObject
            {
                ["iss"] = iss,
                ["aud"] = aud,
                ["sub"] = env is null ? $"repo:{repo}:ref:{reference}" : $"repo:{repo}:environment:{env}",
                ["jti"] = Guid.NewGuid().ToString(),
                ["iat"] = now,
                ["nbf"] = now - 5,
                ["exp"] = now + (long)lifetime.TotalSeconds,
                ["repository"] = repo,
                ["repository_owner"] = owner,
                ["job_workflow_ref"] = $"{wf}@{reference}",
                ["workflow_ref"] = $"{wf}@{reference}",
                ["ref"] = reference,
                ["ref_type"] = reference.StartsWith("refs/tags/", StringComparison.Ordinal) ? "tag" : "branch",
                ["sha"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20)),
                ["run_id"] = parseResult.GetValue(runId) ?? RandomNumberGenerator.GetInt32(1_000_000, int.MaxValue).ToString(CultureInfo.InvariantCulture),
                ["run_attempt"] = "1",
                ["actor"] = parseResult.GetValue(actor) ?? owner,
                ["event_name"] = "push",
                ["runner_environment"] = "github-hosted",
            };
            if (env is not null) payload["environment"] = env;
            foreach (var pair in parseResult.GetValue(claims) ?? [])
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    Console.Error.WriteLine($"deploygate token: --claim `{pair}` is not k=v");
                    return 2;
                }
                payload[pair[..eq]] = pair[(eq + 1)..];
            }

            using var devIssuer = DevIssuer.LoadOrCreate(DevIssuer.DefaultPath);
            Console.WriteLine(devIssuer.Sign(payload.ToJsonString()));
            return 0;
        });
        return command;
    }
}
