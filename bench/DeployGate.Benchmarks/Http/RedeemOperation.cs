using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DeployGate.Benchmarks.Http;

/// <summary><c>example-redeem</c>: what a pipeline and the party that acts for it send together (docs/grants.md). Each
/// operation is an authorize that the gate allows, so it signs a grant, and then, on the same connection once that answer
/// is in, the redeem of that grant for the same operation (<c>POST /api/v1/grants/redeem</c> with the authorize body as
/// <c>expect</c>, SPEC §7): two requests, timed as one. It counts as the redeem's status, so every fresh grant must redeem
/// with 200 (a 409, 403 or 401 fails the run); an authorize denied meanwhile (a window that closed) counts as its 403.</summary>
internal static class RedeemOperation
{
    public const string Route = "/api/v1/grants/redeem";

    /// <summary>The operation over <paramref name="authorizes"/> (pre-built allowed authorize requests), cycled.</summary>
    public static Operation Create(byte[][] authorizes, string hostPort)
    {
        ArgumentNullException.ThrowIfNull(authorizes);
        var expects = authorizes.Select(BodyOf).ToArray();   // action, environment, target | secret: what the redeemer will do
        return async (connection, k, ct) =>
        {
            var i = (int)(k % authorizes.Length);
            var status = await connection.ExchangeAsync(authorizes[i], ct);
            if (status != 200) return status;
            if (GrantToken(connection.Body.Span) is not { } token) return 0;   // an allow without a grant: a failure
            return await connection.ExchangeAsync(Request(hostPort, token, expects[i]), ct);
        };
    }

    /// <summary>The redeem request for <paramref name="token"/>, expecting the operation <paramref name="expect"/> (JSON).</summary>
    public static byte[] Request(string hostPort, string token, ReadOnlySpan<byte> expect)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"token\":\"{token}\",\"expect\":{Encoding.UTF8.GetString(expect)}}}");
        var head = string.Create(CultureInfo.InvariantCulture,
            $"POST {Route} HTTP/1.1\r\nHost: {hostPort}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head), .. body];
    }

    /// <summary>The <c>grant.token</c> of an authorize answer, or null when it has none.</summary>
    public static string? GrantToken(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("grant"u8))
            {
                reader.Skip();
                continue;
            }
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;   // "grant": null on a deny
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("token"u8)) return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            return null;
        }
        return null;
    }

    private static byte[] BodyOf(byte[] request)
    {
        var end = request.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0) throw new ArgumentException("not an HTTP request", nameof(request));
        return request[(end + 4)..];
    }
}
