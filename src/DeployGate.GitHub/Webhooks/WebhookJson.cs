using System.Text.Json;

namespace DeployGate.GitHub.Webhooks;

/// <summary>Reading webhook payloads: one JSON object, read leniently (unknown fields ignored), with a one-line reason
/// when it cannot be read.</summary>
public static class WebhookJson
{
    public delegate T? Reader<out T>(JsonElement root, out string? problem);

    /// <summary>Parses <paramref name="json"/> and hands its root object to <paramref name="read"/>. Null with a reason
    /// when the JSON is unreadable or not an object, or when <paramref name="read"/> says why.</summary>
    public static T? Read<T>(ReadOnlySpan<byte> json, out string? problem, Reader<T> read) where T : class
    {
        ArgumentNullException.ThrowIfNull(read);
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                problem = "payload is not a JSON object";
                return null;
            }
            return read(doc.RootElement, out problem);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 or holds a lone surrogate escape (found by the
            // reliability fuzz run).
            problem = $"payload is not valid JSON: {ex.Message.Split('\n')[0]}";
            return null;
        }
    }

    public static string? StringProperty(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static JsonElement? ObjectProperty(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;
}
