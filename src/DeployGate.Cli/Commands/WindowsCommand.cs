using System.CommandLine;

namespace DeployGate.Cli.Commands;

internal static class WindowsCommand
{
    // TEMPORARY placeholder: implemented by its issue.
    public static Command Create()
    {
        var command = new Command("windows", "not implemented yet");
        command.SetAction(_ => { Console.Error.WriteLine("not implemented yet"); return 2; });
        return command;
    }
}
