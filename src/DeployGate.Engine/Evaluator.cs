namespace DeployGate.Engine;

/// <summary>Decides one request against a compiled policy at one instant (SPEC §3). Pure: no I/O, no clock.</summary>
public static class Evaluator
{
    /// <summary>All checks, in order, none short-circuited. Never throws for any request or claims:
    /// an internal error becomes a deny carrying <c>DG2900</c>.</summary>
    public static Decision Evaluate(CompiledPolicy policy, DecisionRequest request, WorkloadClaims claims, DateTimeOffset now, string decisionId) =>
        throw new NotImplementedException();

    /// <summary>A deny that records an error outside the engine (policy missing or invalid, store down):
    /// one failing <c>policy</c> check with the given code and message.</summary>
    public static Decision Error(DecisionRequest request, WorkloadClaims claims, DateTimeOffset now, string decisionId,
        PolicyRef policy, string code, string message) => throw new NotImplementedException();
}
