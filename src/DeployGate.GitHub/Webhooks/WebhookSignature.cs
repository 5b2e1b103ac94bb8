using System.Security.Cryptography;
using System.Text;

namespace DeployGate.GitHub.Webhooks;

/// <summary><c>X-Hub-Signature-256</c>: <c>sha256=</c> + lowercase hex HMAC-SHA256(secret, raw body)
/// (github-facts §1.3). Compared in constant time; a missing header or secret never verifies.</summary>
public static class WebhookSignature
{
    public const string Header = "X-Hub-Signature-256";

    public static string Compute(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(secret, body));

    public static bool IsValid(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> body, string? header)
    {
        if (secret.IsEmpty || string.IsNullOrEmpty(header)) return false;
        var expected = Encoding.ASCII.GetBytes(Compute(secret, body));
        var given = Encoding.ASCII.GetBytes(header.Trim());
        // FixedTimeEquals is constant-time for equal lengths; a length difference reveals only the length.
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }
}
