namespace DeployGate.Engine;

// TEMPORARY stub so other projects compile while the engine is written; replaced in the next commit.
public sealed partial class CompiledPolicy
{
    private readonly Dictionary<string, (EnvironmentInfo Info, int _)> _environments = new(StringComparer.OrdinalIgnoreCase);

    internal CompiledPolicy(PolicyRef reference, string zone)
    {
        Ref = reference;
        TimeZone = zone;
        EnvironmentNames = [];
    }
}
