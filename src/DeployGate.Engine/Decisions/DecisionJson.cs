using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DeployGate.Engine;

/// <summary>The decision's one wire shape (SPEC §3): the API body, <c>explain --json</c> and the audit row.
/// Written by hand so the field order and names are fixed and the hot path makes no reflection.</summary>
public static class DecisionJson
{
    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonWriterOptions Indented = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true };

    public static string ActionName(GateAction action) => action == GateAction.Deploy ? "deploy" : "read-secret";

    public static bool TryParseAction(string? text, out GateAction action)
    {
        switch (text)
        {
            case "deploy": action = GateAction.Deploy; return true;
            case "read-secret": action = GateAction.ReadSecret; return true;
            default: action = default; return false;
        }
    }

    public static string VerdictName(Verdict verdict) => verdict == Verdict.Allow ? "allow" : "deny";

    public static string ResultName(CheckResult result) => result switch
    {
        CheckResult.Pass => "pass",
        CheckResult.Fail => "fail",
        CheckResult.Overridden => "overridden",
        _ => "not_applicable",
    };

    /// <summary>RFC 3339 UTC, e.g. <c>2026-11-22T10:15:00Z</c>; sub-second instants get milliseconds
    /// (<c>…:00.123Z</c>, truncated), which every common parser reads (Python before 3.11 does not read 7 digits).</summary>
    public static string Instant(DateTimeOffset t)
    {
        var utc = t.ToUniversalTime();
        return utc.Ticks % TimeSpan.TicksPerMillisecond == 0 && utc.Millisecond == 0
            ? utc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : utc.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
    }

    public static byte[] ToUtf8(Decision decision, bool indented = false)
    {
        if (!indented) return WriteCompact(decision).ToArray();
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, Indented))
        {
            Write(writer, decision);
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The compact JSON of <paramref name="decision"/> (the answer), and from the same serialization the
    /// JSON with the grant's token replaced by <paramref name="tokenReplacement"/> (what an audit row stores):
    /// byte for byte what <see cref="ToUtf8(Decision, bool)"/> writes for the decision with that token. Without a
    /// grant both are one array. The answer is written once instead of twice per request.</summary>
    /// <exception cref="ArgumentException"><paramref name="tokenReplacement"/> is empty or holds other than ASCII
    /// letters, digits and <c>[]._-</c> (it is copied in as it is, so it must need no escaping).</exception>
    public static byte[] ToUtf8(Decision decision, string tokenReplacement, out byte[] redacted)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentException.ThrowIfNullOrEmpty(tokenReplacement);
        foreach (var c in tokenReplacement)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('[' or ']' or '.' or '_' or '-'))
                throw new ArgumentException($"`{tokenReplacement}` holds `{c}`; only ASCII letters, digits and []._- are copied in unescaped", nameof(tokenReplacement));
        }
        var json = WriteCompact(decision, out var token);
        var answer = json.ToArray();
        if (decision.Grant is null)
        {
            redacted = answer;
            return answer;
        }
        // token = the string literal, quotes included: answer[..start] "replacement" answer[end..].
        redacted = new byte[answer.Length - (token.End - token.Start) + tokenReplacement.Length + 2];
        json[..token.Start].CopyTo(redacted);
        var at = token.Start;
        redacted[at++] = (byte)'"';
        at += System.Text.Encoding.ASCII.GetBytes(tokenReplacement, redacted.AsSpan(at));
        redacted[at++] = (byte)'"';
        json[token.End..].CopyTo(redacted.AsSpan(at));
        return answer;
    }

    public static string ToJson(Decision decision, bool indented = false) => indented
        ? System.Text.Encoding.UTF8.GetString(ToUtf8(decision, indented))
        : System.Text.Encoding.UTF8.GetString(WriteCompact(decision));

    // One writer and buffer per thread for the compact form: every authorize request writes its decision, and
    // fresh ones cost ~4.7 KB each (a growing buffer, a writer, the copy out).
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;
    private const int KeptBufferBytes = 64 * 1024;   // a rare huge decision does not pin its buffer to the thread

    /// <summary>The compact JSON in this thread's buffer: valid until the thread's next call, so copy it out first.</summary>
    private static ReadOnlySpan<byte> WriteCompact(Decision decision) => WriteCompact(decision, out _);

    /// <summary>As <see cref="WriteCompact(Decision)"/>; <paramref name="token"/> is where the grant token's string
    /// literal (quotes included) lies in it, (0, 0) without a grant.</summary>
    private static ReadOnlySpan<byte> WriteCompact(Decision decision, out (int Start, int End) token)
    {
        var buffer = t_buffer;
        if (buffer is null || buffer.Capacity > KeptBufferBytes)
        {
            t_buffer = buffer = new ArrayBufferWriter<byte>(4096);
            t_writer = null;
        }
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, Compact);
        writer.Reset(buffer);
        Write(writer, decision, out token);
        writer.Flush();
        return buffer.WrittenSpan;
    }

    public static void Write(Utf8JsonWriter w, Decision d) => Write(w, d, out _);

    private static void Write(Utf8JsonWriter w, Decision d, out (int Start, int End) token)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(d);
        token = default;
        w.WriteStartObject();
        w.WriteString("decision_id", d.DecisionId);
        w.WriteString("verdict", VerdictName(d.Verdict));
        w.WriteString("evaluated_at", Instant(d.EvaluatedAt));

        w.WriteStartObject("request");
        w.WriteString("action", ActionName(d.Request.Action));
        w.WriteString("environment", d.Request.Environment);
        if (d.Request.Target is not null) w.WriteString("target", d.Request.Target);
        if (d.Request.Secret is not null) w.WriteString("secret", d.Request.Secret);
        if (d.Request.BreakGlassReason is not null)
        {
            w.WriteStartObject("break_glass");
            w.WriteString("reason", d.Request.BreakGlassReason);
            w.WriteEndObject();
        }
        w.WriteEndObject();

        var id = d.Identity;
        w.WriteStartObject("identity");
        w.WriteString("repository", id.Repository);
        w.WriteString("workflow", id.Workflow);
        w.WriteString("ref", id.Ref);
        w.WriteString("sha", id.Sha);
        w.WriteString("run_id", id.RunId);
        w.WriteString("run_attempt", id.RunAttempt);
        w.WriteString("actor", id.Actor);
        w.WriteStartArray("identities");
        foreach (var name in id.Identities) w.WriteStringValue(name);
        w.WriteEndArray();
        w.WriteStartArray("roles");
        foreach (var role in id.Roles)
        {
            w.WriteStartObject();
            w.WriteString("role", role.Role);
            w.WriteString("via", role.Via);
            if (role.GrantedBy is not null) w.WriteString("granted_by", role.GrantedBy);
            if (role.Until is { } until) w.WriteString("until", Instant(until));
            if (role.Reason is not null) w.WriteString("reason", role.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartArray("checks");
        foreach (var check in d.Checks)
        {
            w.WriteStartObject();
            w.WriteString("check", check.Name);
            w.WriteString("result", ResultName(check.Result));
            if (check.Code is null) w.WriteNull("code"); else w.WriteString("code", check.Code);
            w.WriteString("message", check.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        if (d.NextAllowedAt is { } next) w.WriteString("next_allowed_at", Instant(next));
        else w.WriteNull("next_allowed_at");
        w.WriteBoolean("break_glass", d.BreakGlass);

        w.WriteStartObject("policy");
        w.WriteString("source", d.Policy.Source);
        if (d.Policy.Revision is null) w.WriteNull("revision"); else w.WriteString("revision", d.Policy.Revision);
        w.WriteEndObject();

        if (d.Grant is null)
        {
            w.WriteNull("grant");
        }
        else
        {
            w.WriteStartObject("grant");
            w.WritePropertyName("token");
            var start = (int)(w.BytesCommitted + w.BytesPending);   // every byte written so far, flushed or not
            w.WriteStringValue(d.Grant.Token);
            token = (start, (int)(w.BytesCommitted + w.BytesPending));
            w.WriteString("jti", d.Grant.Jti);
            w.WriteString("expires_at", Instant(d.Grant.ExpiresAt));
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
