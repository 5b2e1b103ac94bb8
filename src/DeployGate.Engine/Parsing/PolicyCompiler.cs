namespace DeployGate.Engine.Parsing;

internal static class PolicyCompiler
{
    // TEMPORARY stub.
    public static PolicyLoadResult Load(ReadOnlySpan<byte> utf8, string file, DateTimeOffset now, PolicyRef? reference) =>
        throw new NotImplementedException();
}
