namespace DeployGate.Cli.Tests;

/// <summary>Runs the real command line in-process with captured output.</summary>
internal static class Cli
{
    /// <summary>The instant commands see as "now" when no --at/--from is given.</summary>
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    static Cli() => CliApp.Clock = new FixedClock(Now);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    public static string Example => Path.Combine(AppContext.BaseDirectory, "examples", "acme", "web.yml");

    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = CliApp.RunAsync(args, output, error).GetAwaiter().GetResult();
        return (exit, output.ToString(), error.ToString());
    }

    public static string TempPolicy(string yaml)
    {
        var dir = Directory.CreateTempSubdirectory("dg-cli-");
        var path = Path.Combine(dir.FullName, "deploygate.yml");
        File.WriteAllText(path, yaml);
        return path;
    }
}
