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
        Span<byte> text = stackalloc byte[24];
        return System.Text.Encoding.ASCII.GetString(text[..FormatInstant(t, text)]);
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
        w.WriteString(N.DecisionId, d.DecisionId);
        w.WriteString(N.Verdict, d.Verdict == Verdict.Allow ? N.Allow : N.Deny);
        WriteInstant(w, N.EvaluatedAt, d.EvaluatedAt);

        w.WriteStartObject(N.Request);
        w.WriteString(N.Action, d.Request.Action == GateAction.Deploy ? N.Deploy : N.ReadSecret);
        w.WriteString(N.Environment, d.Request.Environment);
        if (d.Request.Target is not null) w.WriteString(N.Target, d.Request.Target);
        if (d.Request.Secret is not null) w.WriteString(N.Secret, d.Request.Secret);
        if (d.Request.BreakGlassReason is not null)
        {
            w.WriteStartObject(N.BreakGlass);
            w.WriteString(N.Reason, d.Request.BreakGlassReason);
            w.WriteEndObject();
        }
        w.WriteEndObject();

        var id = d.Identity;
        w.WriteStartObject(N.Identity);
        w.WriteString(N.Repository, id.Repository);
        w.WriteString(N.Workflow, id.Workflow);
        w.WriteString(N.Ref, id.Ref);
        w.WriteString(N.Sha, id.Sha);
        w.WriteString(N.RunId, id.RunId);
        w.WriteString(N.RunAttempt, id.RunAttempt);
        w.WriteString(N.Actor, id.Actor);
        w.WriteStartArray(N.Identities);
        foreach (var name in id.Identities) w.WriteStringValue(name);
        w.WriteEndArray();
        w.WriteStartArray(N.Roles);
        foreach (var role in id.Roles)
        {
            w.WriteStartObject();
            w.WriteString(N.Role, role.Role);
            w.WriteString(N.Via, role.Via);
            if (role.GrantedBy is not null) w.WriteString(N.GrantedBy, role.GrantedBy);
            if (role.Until is { } until) WriteInstant(w, N.Until, until);
            if (role.Reason is not null) w.WriteString(N.Reason, role.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartArray(N.Checks);
        foreach (var check in d.Checks)
        {
            w.WriteStartObject();
            w.WriteString(N.Check, check.Name);
            w.WriteString(N.Result, check.Result switch { CheckResult.Pass => N.Pass, CheckResult.Fail => N.Fail, CheckResult.Overridden => N.Overridden, _ => N.NotApplicable });
            if (check.Code is null) w.WriteNull(N.Code); else w.WriteString(N.Code, check.Code);
            w.WriteString(N.Message, check.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        if (d.NextAllowedAt is { } next) WriteInstant(w, N.NextAllowedAt, next);
        else w.WriteNull(N.NextAllowedAt);
        w.WriteBoolean(N.BreakGlass, d.BreakGlass);

        w.WriteStartObject(N.Policy);
        w.WriteString(N.Source, d.Policy.Source);
        if (d.Policy.Revision is null) w.WriteNull(N.Revision); else w.WriteString(N.Revision, d.Policy.Revision);
        w.WriteEndObject();

        if (d.Grant is null)
        {
            w.WriteNull(N.Grant);
        }
        else
        {
            w.WriteStartObject(N.Grant);
            w.WritePropertyName(N.Token);
            var start = (int)(w.BytesCommitted + w.BytesPending);   // every byte written so far, flushed or not
            w.WriteStringValue(d.Grant.Token);
            token = (start, (int)(w.BytesCommitted + w.BytesPending));
            w.WriteString(N.Jti, d.Grant.Jti);
            WriteInstant(w, N.ExpiresAt, d.Grant.ExpiresAt);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    /// <summary><see cref="Instant"/>'s text, written as UTF-8 without a string in between.</summary>
    private static void WriteInstant(Utf8JsonWriter w, JsonEncodedText name, DateTimeOffset t)
    {
        Span<byte> text = stackalloc byte[24];
        w.WriteString(name, text[..FormatInstant(t, text)]);
    }

    /// <summary>Writes <see cref="Instant"/>'s text into <paramref name="into"/> (24 bytes suffice); returns its length.</summary>
    internal static int FormatInstant(DateTimeOffset t, Span<byte> into)
    {
        var utc = t.UtcDateTime;
        IsoDigits.DateAndTime(into, utc);
        var length = 19;
        if (utc.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            into[length++] = (byte)'.';
            IsoDigits.Digits(into.Slice(length, 3), utc.Millisecond);
            length += 3;
        }
        into[length++] = (byte)'Z';
        return length;
    }

    /// <summary>Property names and fixed values, encoded once (the values from the same names the readers use).</summary>
    private static class N
    {
        public static readonly JsonEncodedText Action = JsonEncodedText.Encode("action");
        public static readonly JsonEncodedText Actor = JsonEncodedText.Encode("actor");
        public static readonly JsonEncodedText BreakGlass = JsonEncodedText.Encode("break_glass");
        public static readonly JsonEncodedText Check = JsonEncodedText.Encode("check");
        public static readonly JsonEncodedText Checks = JsonEncodedText.Encode("checks");
        public static readonly JsonEncodedText Code = JsonEncodedText.Encode("code");
        public static readonly JsonEncodedText DecisionId = JsonEncodedText.Encode("decision_id");
        public static readonly JsonEncodedText Environment = JsonEncodedText.Encode("environment");
        public static readonly JsonEncodedText EvaluatedAt = JsonEncodedText.Encode("evaluated_at");
        public static readonly JsonEncodedText ExpiresAt = JsonEncodedText.Encode("expires_at");
        public static readonly JsonEncodedText Grant = JsonEncodedText.Encode("grant");
        public static readonly JsonEncodedText GrantedBy = JsonEncodedText.Encode("granted_by");
        public static readonly JsonEncodedText Identities = JsonEncodedText.Encode("identities");
        public static readonly JsonEncodedText Identity = JsonEncodedText.Encode("identity");
        public static readonly JsonEncodedText Jti = JsonEncodedText.Encode("jti");
        public static readonly JsonEncodedText Message = JsonEncodedText.Encode("message");
        public static readonly JsonEncodedText NextAllowedAt = JsonEncodedText.Encode("next_allowed_at");
        public static readonly JsonEncodedText Policy = JsonEncodedText.Encode("policy");
        public static readonly JsonEncodedText Reason = JsonEncodedText.Encode("reason");
        public static readonly JsonEncodedText Ref = JsonEncodedText.Encode("ref");
        public static readonly JsonEncodedText Repository = JsonEncodedText.Encode("repository");
        public static readonly JsonEncodedText Request = JsonEncodedText.Encode("request");
        public static readonly JsonEncodedText Result = JsonEncodedText.Encode("result");
        public static readonly JsonEncodedText Revision = JsonEncodedText.Encode("revision");
        public static readonly JsonEncodedText Role = JsonEncodedText.Encode("role");
        public static readonly JsonEncodedText Roles = JsonEncodedText.Encode("roles");
        public static readonly JsonEncodedText RunAttempt = JsonEncodedText.Encode("run_attempt");
        public static readonly JsonEncodedText RunId = JsonEncodedText.Encode("run_id");
        public static readonly JsonEncodedText Secret = JsonEncodedText.Encode("secret");
        public static readonly JsonEncodedText Sha = JsonEncodedText.Encode("sha");
        public static readonly JsonEncodedText Source = JsonEncodedText.Encode("source");
        public static readonly JsonEncodedText Target = JsonEncodedText.Encode("target");
        public static readonly JsonEncodedText Token = JsonEncodedText.Encode("token");
        public static readonly JsonEncodedText Until = JsonEncodedText.Encode("until");
        public static readonly JsonEncodedText Verdict = JsonEncodedText.Encode("verdict");
        public static readonly JsonEncodedText Via = JsonEncodedText.Encode("via");
        public static readonly JsonEncodedText Workflow = JsonEncodedText.Encode("workflow");
        public static readonly JsonEncodedText Allow = JsonEncodedText.Encode(VerdictName(Engine.Verdict.Allow));
        public static readonly JsonEncodedText Deny = JsonEncodedText.Encode(VerdictName(Engine.Verdict.Deny));
        public static readonly JsonEncodedText Pass = JsonEncodedText.Encode(ResultName(CheckResult.Pass));
        public static readonly JsonEncodedText Fail = JsonEncodedText.Encode(ResultName(CheckResult.Fail));
        public static readonly JsonEncodedText Overridden = JsonEncodedText.Encode(ResultName(CheckResult.Overridden));
        public static readonly JsonEncodedText NotApplicable = JsonEncodedText.Encode(ResultName(CheckResult.NotApplicable));
        public static readonly JsonEncodedText Deploy = JsonEncodedText.Encode(ActionName(GateAction.Deploy));
        public static readonly JsonEncodedText ReadSecret = JsonEncodedText.Encode(ActionName(GateAction.ReadSecret));
    }
}
