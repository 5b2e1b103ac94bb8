using System.CommandLine;
using DeployGate.Cli.Commands;

namespace DeployGate.Cli;

/// <summary>The <c>deploygate</c> command line. Usage errors exit 2 (SPEC §5).</summary>
internal static class CliApp
{
    /// <summary>The clock commands read when no <c>--at</c>/<c>--from</c> is given; set by Program.</summary>
    public static TimeProvider Clock { get; set; } = null!;

    public static RootCommand BuildRoot() => new("DeployGate: per-request authorization for deployments and secret access.")
    {
        ServeCommand.Create(),
        ValidateCommand.Create(),
        ExplainCommand.Create(),
        WindowsCommand.Create(),
        TokenCommand.Create(),
        AuditCommand.Create(),
        GrantsCommand.Create(),
        AppManifestCommand.Create(),
    };

    public static async Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        var config = new InvocationConfiguration { Output = output ?? Console.Out, Error = error ?? Console.Error };
        var parse = BuildRoot().Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) config.Error.WriteLine($"deploygate: {e.Message}");
            config.Error.WriteLine($"see `deploygate {parse.CommandResult.Command.Name} --help`");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(config, cancellationToken);
    }
}

internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Deny = 1;
    public const int Errors = 1;
    public const int Usage = 2;
}

/// <summary>A usage problem found after parsing (a bad value): message to stderr, exit 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
