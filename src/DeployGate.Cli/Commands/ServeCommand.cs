using System.CommandLine;
using DeployGate.Api;
using DeployGate.Cli.Hosting;
using Microsoft.Extensions.Hosting;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate serve [--urls URL] [--dev]</c>: the service (also the Azure Functions custom
/// handler, which sets <c>FUNCTIONS_CUSTOMHANDLER_PORT</c>). Other <c>--Section:Key=value</c> tokens are
/// configuration, as in any ASP.NET Core app.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, `;`-separated (default http://127.0.0.1:8080; FUNCTIONS_CUSTOMHANDLER_PORT wins)" };
        var dev = new Option<bool>("--dev") { Description = "Development mode: loopback only, local dev issuer, ./policies, ./.deploygate/audit.db" };
        var command = new Command("serve", "Run the DeployGate service") { urls, dev };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var build = GateServer.Build(new GateServerOptions
            {
                Dev = parseResult.GetValue(dev),
                Urls = parseResult.GetValue(urls),
                Args = [.. parseResult.UnmatchedTokens],
                Time = Clock.System,
            });
            if (build.App is null)
            {
                Console.Error.WriteLine($"deploygate serve: invalid configuration ({build.Problems.Count} problem{(build.Problems.Count == 1 ? "" : "s")}):");
                foreach (var problem in build.Problems) Console.Error.WriteLine($"  {problem}");
                return 1;
            }
            await using var app = build.App;
            await app.StartAsync(cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
