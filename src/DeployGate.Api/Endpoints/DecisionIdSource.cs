using DeployGate.Engine;

namespace DeployGate.Api;

/// <summary>Decision ids for the edges (authorize, webhook reviews): the engine's ULID format over fresh randomness
/// (<see cref="RandomPool"/>).</summary>
internal static class DecisionIdSource
{
    public static string New(DateTimeOffset now)
    {
        Span<byte> random = stackalloc byte[10];
        RandomPool.Fill(random);
        return DecisionIds.Create(now, random);
    }
}
