using System.CommandLine;

namespace DeployGate.Cli.Commands;

internal static class ServeCommand
{
    // TEMPORARY placeholder: implemented by its issue.
    public static Command Create()
    {
        var command = new Command("serve", "not implemented yet");
        command.SetAction(_ => { Console.Error.WriteLine("not implemented yet"); return 2; });
        return command;
    }
}
