namespace DeployGate.Cli.Hosting;

/// <summary>The composition root's choice of clock.</summary>
internal static class Clock
{
#pragma warning disable RS0030 // composition root: the one place the real clock is chosen
    public static TimeProvider System => TimeProvider.System;
#pragma warning restore RS0030
}
