using System.Text.Json;
using DeployGate.Engine;

namespace DeployGate.Api;

/// <summary>The parsed body of <c>POST /api/v1/authorize</c>, or the first problem with it.</summary>
internal readonly record struct ParsedRequest(DecisionRequest? Request, string? Code, string? Message);

/// <summary>Strict parsing of the authorize body (SPEC §3): a JSON object with <c>action</c>,
/// <c>environment</c>, <c>target</c> (deploy) or <c>secret</c> (read-secret), optional
/// <c>break_glass: { reason }</c> of at least 10 characters. Unknown or repeated fields, wrong types,
/// comments and trailing content are rejected.</summary>
internal static class AuthorizeRequestParser
{
    public const int MaxBodyBytes = 64 * 1024;
    public const int MinBreakGlassReason = 10;

    public static ParsedRequest Parse(ReadOnlySpan<byte> body)
    {
        try
        {
            return ParseCore(body);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: GetString() on a token that is not valid UTF-8 (found by the reliability suite: it was a 500).
            return Fail(ServerCodes.BodyMalformed, "request body is not valid JSON");
        }
    }

    private static ParsedRequest ParseCore(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 4 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            return Fail(ServerCodes.BodyMalformed, "request body must be a JSON object");

        string? action = null, environment = null, target = null, secret = null, reason = null;
        bool seenAction = false, seenEnvironment = false, seenTarget = false, seenSecret = false, seenBreakGlass = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            ref bool seen = ref seenAction;
            switch (name)
            {
                case "action": seen = ref seenAction; break;
                case "environment": seen = ref seenEnvironment; break;
                case "target": seen = ref seenTarget; break;
                case "secret": seen = ref seenSecret; break;
                case "break_glass": seen = ref seenBreakGlass; break;
                default: return Fail(ServerCodes.BodyUnknownField, $"unknown field `{name}`");
            }
            if (seen) return Fail(ServerCodes.BodyUnknownField, $"field `{name}` appears twice");
            seen = true;

            if (name == "break_glass")
            {
                if (reader.TokenType == JsonTokenType.Null) continue;
                if (reader.TokenType != JsonTokenType.StartObject)
                    return Fail(ServerCodes.BodyFieldType, "`break_glass` must be an object `{ \"reason\": \"…\" }`");
                var seenReason = false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var inner = reader.GetString()!;
                    reader.Read();
                    if (inner != "reason") return Fail(ServerCodes.BodyUnknownField, $"unknown field `break_glass.{inner}`");
                    if (seenReason) return Fail(ServerCodes.BodyUnknownField, "field `break_glass.reason` appears twice");
                    seenReason = true;
                    if (reader.TokenType != JsonTokenType.String) return Fail(ServerCodes.BodyFieldType, "`break_glass.reason` must be a string");
                    reason = reader.GetString();
                }
                if (reason is null || reason.Trim().Length < MinBreakGlassReason)
                    return Fail(ServerCodes.BodyBreakGlassReason, $"`break_glass.reason` must be at least {MinBreakGlassReason} characters");
                continue;
            }
            if (reader.TokenType == JsonTokenType.Null) continue;
            if (reader.TokenType != JsonTokenType.String) return Fail(ServerCodes.BodyFieldType, $"`{name}` must be a string");
            var value = reader.GetString();
            switch (name)
            {
                case "action": action = value; break;
                case "environment": environment = value; break;
                case "target": target = value; break;
                default: secret = value; break;
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject) return Fail(ServerCodes.BodyMalformed, "request body is not valid JSON");
        if (reader.Read()) return Fail(ServerCodes.BodyMalformed, "unexpected content after the JSON object");

        if (!DecisionJson.TryParseAction(action, out var gateAction))
            return Fail(ServerCodes.BodyActionInvalid, action is null ? "`action` is required: `deploy` or `read-secret`" : $"`action` `{action}` is not `deploy` or `read-secret`");
        if (string.IsNullOrWhiteSpace(environment))
            return Fail(ServerCodes.BodyEnvironmentMissing, "`environment` is required");
        // `target` is optional for a deploy (SPEC §8's action input is optional): an environment that
        // approves targets denies a deploy without one (DG2032); one that does not, need not be told.
        if (gateAction == GateAction.Deploy && (target is "" || secret is not null))
            return Fail(ServerCodes.BodyTargetOrSecret, "`deploy` takes an optional non-empty `target` and no `secret`");
        if (gateAction == GateAction.ReadSecret && (string.IsNullOrEmpty(secret) || target is not null))
            return Fail(ServerCodes.BodyTargetOrSecret, "`read-secret` needs `secret` and no `target`");

        return new ParsedRequest(new DecisionRequest(gateAction, environment, target, secret, reason), null, null);
    }

    /// <summary>What an unparsable body is recorded as in the audit log: the fields that could be read,
    /// else <c>deploy</c> to an empty environment.</summary>
    public static DecisionRequest BestEffort(ReadOnlySpan<byte> body)
    {
        string? action = null, environment = null;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8 });
            var depth = 0;
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) depth++;
                else if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray) depth--;
                else if (depth == 1 && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString();
                    if (!reader.Read()) break;
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) { depth++; continue; }
                    if (reader.TokenType != JsonTokenType.String) continue;
                    if (name == "action") action = reader.GetString();
                    else if (name == "environment") environment = reader.GetString();
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // keep what was read (InvalidOperationException: a string that is not valid UTF-8)
        }
        var gateAction = DecisionJson.TryParseAction(action, out var a) ? a : GateAction.Deploy;
        var env = environment is { Length: > 0 and <= 200 } ? environment : "";
        return new DecisionRequest(gateAction, env);
    }

    private static ParsedRequest Fail(string code, string message) => new(null, code, message);
}
