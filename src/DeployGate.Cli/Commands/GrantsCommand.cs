using System.CommandLine;
using DeployGate.Api;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate grants rotate-key</c>: a new grant signing key in the key ring named by the same
/// configuration as <c>serve</c> (<c>grant-keys.json</c> in the data folder, next to the SQLite file). The previous key
/// stays published for <see cref="GrantKeyRing.Retention"/> so the grants it signed keep verifying until they expire;
/// keys retired longer ago are dropped. A running server picks the change up at its next request.</summary>
internal static class GrantsCommand
{
    public static Command Create() => new("grants", "Manage grant signing keys") { RotateKey() };

    private static Command RotateKey()
    {
        var dev = new Option<bool>("--dev") { Description = "Use the --dev data folder (./.deploygate/)" };
        var command = new Command("rotate-key", "Create a new grant signing key; keep the previous one published until its grants have expired") { dev };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parseResult =>
        {
            var config = GateServer.ReadConfiguration([.. parseResult.UnmatchedTokens], parseResult.GetValue(dev));
            var problems = config.Problems.Where(p => p.Key.StartsWith("Store:", StringComparison.Ordinal) || p.Key.StartsWith("Grants:", StringComparison.Ordinal)).ToList();
            if (problems.Count > 0)
            {
                foreach (var problem in problems) parseResult.Err().WriteLine(problem);
                return ExitCodes.Usage;
            }
            if (config.Grants.SigningKeyPath is { } pem)
            {
                parseResult.Err().WriteLine($"{GrantCodes.SigningKeyUnavailable}: Grants:SigningKeyPath: the signing key `{pem}` is managed outside DeployGate; " +
                    $"rotate it by putting the new EC P-256 key first in that PEM file and keeping the old one after it for {CommandSupport.Length(GrantKeyRing.Retention)}");
                return ExitCodes.Errors;
            }
            var path = GrantServices.DefaultKeyRingPath(config, Directory.GetCurrentDirectory());
            try
            {
                var rotation = GrantKeyRing.Rotate(path, CliApp.Clock.GetUtcNow());
                var output = parseResult.Out();
                output.WriteLine($"new signing key   {rotation.NewKid}");
                if (rotation.RetiredKid is { } retired)
                    output.WriteLine($"retired key       {retired} (published for {CommandSupport.Length(GrantKeyRing.Retention)} more, until its grants have expired)");
                foreach (var kid in rotation.DroppedKids) output.WriteLine($"dropped key       {kid} (retired more than {CommandSupport.Length(GrantKeyRing.Retention)} ago)");
                output.WriteLine($"published keys    {string.Join(", ", rotation.PublishedKids)}");
                output.WriteLine($"key ring          {path}");
                return ExitCodes.Ok;
            }
            catch (GrantKeyException ex)
            {
                parseResult.Err().WriteLine($"{ex.Code}: {ex.Message}");
                return ExitCodes.Errors;
            }
        });
        return command;
    }
}
