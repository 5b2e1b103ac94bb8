using System.CommandLine;
using DeployGate.Cli.Commands;

var root = new RootCommand("DeployGate: per-request authorization for deployments and secret access.")
{
    ServeCommand.Create(),
    ValidateCommand.Create(),
    ExplainCommand.Create(),
    WindowsCommand.Create(),
    TokenCommand.Create(),
    AuditCommand.Create(),
    AppManifestCommand.Create(),
};

return await root.Parse(args).InvokeAsync();
