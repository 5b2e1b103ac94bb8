namespace DeployGate.Api;

/// <summary>One configuration problem: its code, the key at fault, and a sentence.</summary>
public sealed record ConfigProblem(string Code, string Key, string Message)
{
    public override string ToString() => $"{Code}: {Key}: {Message}";
}
