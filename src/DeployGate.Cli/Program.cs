using DeployGate.Cli;

#pragma warning disable RS0030 // composition root: the one place the real clock is chosen
CliApp.Clock = TimeProvider.System;
#pragma warning restore RS0030

return await CliApp.RunAsync(args);
