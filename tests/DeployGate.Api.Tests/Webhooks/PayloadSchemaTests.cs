using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeployGate.Api.Tests.Webhooks;

/// <summary>The sample payloads the tests send are real <c>deployment_protection_rule</c> payloads: they validate
/// against GitHub's schema (Payloads/deployment_protection_rule.schema.json, from the REST OpenAPI description),
/// checked by <see cref="SchemaChecker"/> (the subset of JSON Schema that file uses).</summary>
public sealed class PayloadSchemaTests
{
    private static readonly JsonElement Schema =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(SamplePayloads.Dir, "deployment_protection_rule.schema.json"))).RootElement;

    public static TheoryData<string> Samples() => new()
    {
        "as-is",
        "deployment-null",
        "short-ref",
        "full-ref",
        "loopback-callback",
        "staging",
        "unknown-field",
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void SamplePayload_ValidatesAgainstGitHubsSchema(string variant)
    {
        var payload = SamplePayloads.Requested("https://api.github.com/repos/acme/web/actions/runs/23625057533/deployment_protection_rule");
        switch (variant)
        {
            case "deployment-null": payload["deployment"] = null; break;
            case "short-ref": payload["ref"] = "main"; break;
            case "full-ref": payload["ref"] = "refs/tags/v1.2.3"; break;
            case "loopback-callback": payload["deployment_callback_url"] = "http://127.0.0.1:5000/repos/acme/web/actions/runs/1/deployment_protection_rule"; break;
            case "staging": payload["environment"] = "staging"; break;
            case "unknown-field": payload["added_by_github_later"] = true; break;
        }
        var errors = SchemaChecker.Validate(Schema, JsonDocument.Parse(payload.ToJsonString()).RootElement);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void Checker_CatchesMissingRequiredFields_AndWrongTypes()
    {
        // Guards the checker itself: a checker that accepts anything would make the test above vacuous.
        var payload = SamplePayloads.Requested("https://api.github.com/repos/acme/web/actions/runs/1/deployment_protection_rule");
        ((JsonObject)payload["repository"]!).Remove("full_name");
        payload["installation"]!["id"] = "777";
        payload["action"] = "approved";
        var errors = SchemaChecker.Validate(Schema, JsonDocument.Parse(payload.ToJsonString()).RootElement);
        Assert.Contains(errors, e => e.Contains("$.repository", StringComparison.Ordinal) && e.Contains("full_name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.installation.id", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.action", StringComparison.Ordinal));
    }
}

/// <summary>A small JSON Schema checker for the subset the payload schema uses: <c>$ref</c> (to <c>#/$defs/…</c>),
/// <c>type</c> (a name or a list, <c>integer</c> = a whole number), <c>required</c>, <c>properties</c>, <c>items</c>,
/// <c>enum</c>, <c>oneOf</c>/<c>anyOf</c> (at least one branch must pass — enough for this file's uses), and
/// <c>allOf</c>. Formats, patterns and <c>additionalProperties</c> are ignored (GitHub adds fields).</summary>
internal static class SchemaChecker
{
    public static List<string> Validate(JsonElement root, JsonElement value)
    {
        var errors = new List<string>();
        Check(root, root, value, "$", errors, 0);
        return errors;
    }

    private static void Check(JsonElement root, JsonElement schema, JsonElement value, string path, List<string> errors, int depth)
    {
        if (depth > 64) return;
        if (schema.ValueKind != JsonValueKind.Object) return;
        if (schema.TryGetProperty("$ref", out var reference))
        {
            Check(root, Resolve(root, reference.GetString()!), value, path, errors, depth + 1);
            return;
        }
        if (schema.TryGetProperty("type", out var type) && !TypeMatches(type, value))
        {
            errors.Add($"{path}: expected {type.GetRawText()}, got {value.ValueKind}");
            return;
        }
        if (schema.TryGetProperty("enum", out var values) && !values.EnumerateArray().Any(v => JsonElement.DeepEquals(v, value)))
            errors.Add($"{path}: {value.GetRawText()} is not one of {values.GetRawText()}");
        foreach (var keyword in new[] { "oneOf", "anyOf" })
        {
            if (!schema.TryGetProperty(keyword, out var branches)) continue;
            if (!branches.EnumerateArray().Any(b => { var e = new List<string>(); Check(root, b, value, path, e, depth + 1); return e.Count == 0; }))
                errors.Add($"{path}: matches no branch of {keyword}");
        }
        if (schema.TryGetProperty("allOf", out var all))
        {
            foreach (var b in all.EnumerateArray()) Check(root, b, value, path, errors, depth + 1);
        }
        if (value.ValueKind == JsonValueKind.Object)
        {
            if (schema.TryGetProperty("required", out var required))
            {
                foreach (var name in required.EnumerateArray().Select(r => r.GetString()!))
                {
                    if (!value.TryGetProperty(name, out _)) errors.Add($"{path}: missing required `{name}`");
                }
            }
            if (schema.TryGetProperty("properties", out var properties))
            {
                foreach (var p in properties.EnumerateObject())
                {
                    if (value.TryGetProperty(p.Name, out var child)) Check(root, p.Value, child, $"{path}.{p.Name}", errors, depth + 1);
                }
            }
        }
        if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            var i = 0;
            foreach (var item in value.EnumerateArray()) Check(root, items, item, $"{path}[{i++}]", errors, depth + 1);
        }
    }

    private static JsonElement Resolve(JsonElement root, string reference)
    {
        if (!reference.StartsWith("#/", StringComparison.Ordinal)) throw new NotSupportedException($"only local refs: {reference}");
        var node = root;
        foreach (var part in reference[2..].Split('/')) node = node.GetProperty(part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal));
        return node;
    }

    private static bool TypeMatches(JsonElement type, JsonElement value) => type.ValueKind == JsonValueKind.Array
        ? type.EnumerateArray().Any(t => Is(t.GetString()!, value))
        : Is(type.GetString()!, value);

    private static bool Is(string type, JsonElement value) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => value.ValueKind == JsonValueKind.Null,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out var d) && decimal.Truncate(d) == d,
        _ => true,
    };
}
