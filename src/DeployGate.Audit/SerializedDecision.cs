using DeployGate.Engine;

namespace DeployGate.Audit;

/// <summary>A decision serialized once for both of its uses: <see cref="Answer"/>, the JSON an edge sends back
/// (SPEC §3), and <see cref="Stored"/>, the JSON its audit row holds, which is the same but for a grant's token,
/// replaced by <c>[redacted]</c> (its <c>jti</c> and <c>expires_at</c> stay) because the audit log is readable by
/// admins and must not hold live credentials. Without a grant the two are one array.</summary>
public sealed class SerializedDecision
{
    /// <summary>Stands in for a grant's bearer token in the stored JSON.</summary>
    public const string RedactedToken = "[redacted]";

    private readonly byte[] _answer;

    private SerializedDecision(Decision decision, byte[] answer, byte[] stored)
    {
        Decision = decision;
        _answer = answer;
        Stored = stored;
    }

    /// <summary>Serializes <paramref name="decision"/> (compact, <see cref="DecisionJson"/>).</summary>
    public static SerializedDecision Of(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var answer = DecisionJson.ToUtf8(decision, RedactedToken, out var stored);
        return new SerializedDecision(decision, answer, stored);
    }

    public Decision Decision { get; }

    /// <summary>The decision's JSON as answered, grant token included.</summary>
    public ReadOnlyMemory<byte> Answer => _answer;

    /// <summary>The JSON the audit row stores and hashes (not to be changed: the record is built from it).</summary>
    internal byte[] Stored { get; }
}
