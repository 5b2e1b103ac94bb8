using System.Collections.Immutable;

namespace DeployGate.Engine;

/// <summary>A half-open interval of instants <c>[Start, End)</c> during which an action is allowed by time.</summary>
public readonly record struct OpenInterval(DateTimeOffset Start, DateTimeOffset End);

/// <summary>When an environment is open for an action: its windows minus its freezes, merged.</summary>
public static class Timeline
{
    public static ImmutableArray<OpenInterval> Open(CompiledPolicy policy, string environment, GateAction action,
        DateTimeOffset from, DateTimeOffset to) => throw new NotImplementedException();
}
