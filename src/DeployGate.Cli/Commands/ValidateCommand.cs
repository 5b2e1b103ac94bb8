using System.CommandLine;

namespace DeployGate.Cli.Commands;

internal static class ValidateCommand
{
    // TEMPORARY placeholder: implemented by its issue.
    public static Command Create()
    {
        var command = new Command("validate", "not implemented yet");
        command.SetAction(_ => { Console.Error.WriteLine("not implemented yet"); return 2; });
        return command;
    }
}
