using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DeployGate.Api.Tests;
using DeployGate.GitHub.Webhooks;
using Xunit.Abstractions;

namespace DeployGate.Reliability.Tests;

/// <summary>A corpus of hostile requests against the real service (Kestrel on loopback, local issuer, real SQLite
/// log, webhook enabled). Each case has its expected status and code; after the whole corpus the gate is still
/// healthy and still decides a normal request (SPEC §1.2 fail closed; issue 7).</summary>
public sealed class HostileInputTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string WebhookSecret = "reliability-webhook-secret-0123456789";
    private const string Body = """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""";
    private TestIssuer _issuer = null!;
    private GateHost _gate = null!;
    private string _keyFile = null!;

    public async Task InitializeAsync()
    {
        _issuer = await TestIssuer.StartAsync();
        _keyFile = Path.Combine(Path.GetTempPath(), "dg-rel-app-" + Guid.NewGuid().ToString("N") + ".pem");
        using (var rsa = RSA.Create(2048)) await File.WriteAllTextAsync(_keyFile, rsa.ExportRSAPrivateKeyPem());
        _gate = await GateHost.StartAsync(_issuer, new Dictionary<string, string?>
        {
            ["GitHub:WebhookSecret"] = WebhookSecret,
            ["GitHub:AppId"] = "12345",
            ["GitHub:PrivateKeyPath"] = _keyFile,
            ["GitHub:ApiUrl"] = "http://127.0.0.1:9",   // never reached: no valid delivery is sent
        });
        _gate.WritePolicy("acme/web", TestPolicies.Web);
    }

    public async Task DisposeAsync()
    {
        await _gate.DisposeAsync();
        await _issuer.DisposeAsync();
        File.Delete(_keyFile);
    }

    private string Token(Action<JsonObject>? change = null, string? kid = null, RSA? key = null, string alg = "RS256")
    {
        var claims = _issuer.Claims(_gate.Clock.GetUtcNow(), GateHost.Audience);
        change?.Invoke(claims);
        return _issuer.Sign(claims, kid, key, alg);
    }

    private sealed record Case(string Name, Func<Task<HttpResponseMessage>> Send, HttpStatusCode Status, string Code);

    private IEnumerable<Case> Corpus()
    {
        var valid = Token();
        Task<HttpResponseMessage> Authorize(string? token, string body)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/authorize") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            // Large bodies ask first, so the server's early 413 arrives before the client has sent megabytes.
            request.Headers.ExpectContinue = body.Length > 64 * 1024;
            return _gate.Client.SendAsync(request);
        }
        Task<HttpResponseMessage> AuthorizeBytes(string token, byte[] body)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/authorize") { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return _gate.Client.SendAsync(request);
        }

        // --- malformed, oversized and deeply nested JSON ---
        yield return new("empty body", () => Authorize(valid, ""), HttpStatusCode.BadRequest, "DG6101");
        yield return new("not json", () => Authorize(valid, "deploy please"), HttpStatusCode.BadRequest, "DG6101");
        yield return new("truncated json", () => Authorize(valid, Body[..20]), HttpStatusCode.BadRequest, "DG6101");
        yield return new("json array", () => Authorize(valid, "[1,2,3]"), HttpStatusCode.BadRequest, "DG6101");
        yield return new("json with comment", () => Authorize(valid, "/* hi */" + Body), HttpStatusCode.BadRequest, "DG6101");
        yield return new("invalid utf-8", () => AuthorizeBytes(valid, [0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), HttpStatusCode.BadRequest, "DG6101");
        yield return new("duplicate field", () => Authorize(valid, """{"action":"deploy","action":"read-secret","environment":"staging","target":"x"}"""), HttpStatusCode.BadRequest, "DG6102");
        yield return new("unknown field", () => Authorize(valid, """{"action":"deploy","environment":"staging","target":"x","admin":true}"""), HttpStatusCode.BadRequest, "DG6102");
        yield return new("number where string", () => Authorize(valid, """{"action":"deploy","environment":7,"target":"x"}"""), HttpStatusCode.BadRequest, "DG6108");
        yield return new("deeply nested array", () => Authorize(valid, """{"action":""" + new string('[', 100_000) + new string(']', 100_000) + "}"), HttpStatusCode.RequestEntityTooLarge, "DG6107");
        yield return new("nested 60 levels", () => Authorize(valid, """{"action":"deploy","environment":"staging","break_glass":{"reason":""" + new string('[', 60) + new string(']', 60) + "}}"), HttpStatusCode.BadRequest, "DG6108");
        yield return new("nested objects", () => Authorize(valid, """{"action":"deploy","environment":"staging","break_glass":""" + string.Concat(Enumerable.Repeat("""{"a":""", 60)) + "1" + new string('}', 61)), HttpStatusCode.BadRequest, "DG6102");
        yield return new("invalid utf-8 in a value", () => AuthorizeBytes(valid, [.. "{\"action\":\"deploy\",\"environment\":\""u8, 0xc3, 0x28, .. "\"}"u8]), HttpStatusCode.BadRequest, "DG6101");
        yield return new("oversized 65 KiB", () => Authorize(valid, "{\"action\":\"deploy\",\"environment\":\"staging\",\"target\":\"" + new string('a', 65 * 1024) + "\"}"), HttpStatusCode.RequestEntityTooLarge, "DG6107");
        yield return new("oversized 5 MiB", () => Authorize(valid, new string(' ', 5 * 1024 * 1024)), HttpStatusCode.RequestEntityTooLarge, "DG6107");

        // --- token attacks ---
        yield return new("no token", () => Authorize(null, Body), HttpStatusCode.Unauthorized, "DG3001");
        yield return new("garbage token", () => Authorize("a.b.c", Body), HttpStatusCode.Unauthorized, "DG3011");
        yield return new("alg none", () => Authorize(Token(alg: "none"), Body), HttpStatusCode.Unauthorized, "DG3003");
        yield return new("alg HS256 key confusion", () => Authorize(Token(alg: "HS256"), Body), HttpStatusCode.Unauthorized, "DG3003");
        yield return new("signed by another key", () => Authorize(Token(key: RSA.Create(2048)), Body), HttpStatusCode.Unauthorized, "DG3002");
        yield return new("unknown kid", () => Authorize(Token(kid: "attacker-key", key: RSA.Create(2048)), Body), HttpStatusCode.Unauthorized, "DG3008");
        yield return new("expired", () => Authorize(Token(c => c["exp"] = _gate.Clock.GetUtcNow().AddMinutes(-10).ToUnixTimeSeconds()), Body), HttpStatusCode.Unauthorized, "DG3006");
        yield return new("not yet valid", () => Authorize(Token(c => c["nbf"] = _gate.Clock.GetUtcNow().AddMinutes(10).ToUnixTimeSeconds()), Body), HttpStatusCode.Unauthorized, "DG3007");
        yield return new("wrong issuer", () => Authorize(Token(c => c["iss"] = "https://evil.example"), Body), HttpStatusCode.Unauthorized, "DG3004");
        yield return new("wrong audience", () => Authorize(Token(c => c["aud"] = "https://other.example"), Body), HttpStatusCode.Unauthorized, "DG3005");
        yield return new("owner not allowed", () => Authorize(Token(c => { c["repository_owner"] = "evil"; c["repository"] = "evil/web"; }), Body), HttpStatusCode.Unauthorized, "DG3009");
        yield return new("payload swapped after signing", () => Authorize(SwapPayload(valid), Body), HttpStatusCode.Unauthorized, "DG3002");
        yield return new("16 KiB token", () => Authorize(new string('a', 16 * 1024) + ".b.c", Body), HttpStatusCode.Unauthorized, "DG3011");
        yield return new("lone surrogate escape in a claim", () => Authorize(valid.Split('.')[0] + "." +
            Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode("{\"iss\":\"\\ud800\"}") + "." + valid.Split('.')[2], Body), HttpStatusCode.Unauthorized, "DG3011");

        // --- path traversal in policy names (the repository claim names the policy file) ---
        foreach (var repository in (string[])["acme/../../etc/passwd", "acme/..", "acme/%2e%2e%2fsecret", "acme/web\\..\\x", "acme/we\0b", "acme/./web", "acme/web/../../x"])
        {
            yield return new($"policy name `{repository.Replace("\0", "\\0", StringComparison.Ordinal)}`",
                () => Authorize(Token(c => c["repository"] = repository), Body), HttpStatusCode.Forbidden, "DG6204");
        }

        // --- alias bombs and huge policy files through the directory policy source ---
        yield return new("yaml alias bomb", () => Authorize(Token(c => c["repository"] = "acme/bomb"), Body), HttpStatusCode.Forbidden, "DG1003");
        yield return new("huge policy file", () => Authorize(Token(c => c["repository"] = "acme/huge"), Body), HttpStatusCode.Forbidden, "DG1001");   // refused by size before it is read, with the loader's code
        yield return new("deeply nested policy", () => Authorize(Token(c => c["repository"] = "acme/deep"), Body), HttpStatusCode.Forbidden, "DG1003");

        // --- webhook signature attacks ---
        var ping = """{"zen":"Keep it logically awesome.","hook_id":1}"""u8.ToArray();
        yield return new("webhook without signature", () => Webhook(ping, null), HttpStatusCode.Unauthorized, WebhookCodes.BadSignature);
        yield return new("webhook signed with another secret", () => Webhook(ping, WebhookSignature.Compute("wrong"u8, ping)), HttpStatusCode.Unauthorized, WebhookCodes.BadSignature);
        yield return new("webhook signature of another body", () => Webhook(ping, WebhookSignature.Compute(Encoding.UTF8.GetBytes(WebhookSecret), "{}"u8)), HttpStatusCode.Unauthorized, WebhookCodes.BadSignature);
#pragma warning disable CA5350 // Weak algorithm: the attack under test is GitHub's legacy SHA-1 signature header value.
        var sha1 = "sha1=" + Convert.ToHexStringLower(HMACSHA1.HashData(Encoding.UTF8.GetBytes(WebhookSecret), ping));
#pragma warning restore CA5350
        yield return new("webhook sha1 signature", () => Webhook(ping, sha1), HttpStatusCode.Unauthorized, WebhookCodes.BadSignature);
        yield return new("webhook truncated signature", () => Webhook(ping, WebhookSignature.Compute(Encoding.UTF8.GetBytes(WebhookSecret), ping)[..40]), HttpStatusCode.Unauthorized, WebhookCodes.BadSignature);
        yield return new("webhook empty secret signature", () => Webhook(ping, WebhookSignature.Compute(""u8, ping)), HttpStatusCode.Unauthorized, WebhookCodes.BadSignature);
        var signedGarbage = "{\"action\":\"requested\",\"environment\":\"\"}"u8.ToArray();
        yield return new("webhook signed but malformed", () => Webhook(signedGarbage, WebhookSignature.Compute(Encoding.UTF8.GetBytes(WebhookSecret), signedGarbage), "deployment_protection_rule"),
            HttpStatusCode.BadRequest, WebhookCodes.PayloadInvalid);
        yield return new("webhook 2 MiB body", () => Webhook(new byte[2 * 1024 * 1024], "sha256=00"), HttpStatusCode.RequestEntityTooLarge, "DG6107");
    }

    [Fact]
    public async Task Corpus_EachCaseGetsItsCode_AndTheGateStaysHealthy()
    {
        WriteHostilePolicies();
        var failures = new List<string>();
        var count = 0;
        foreach (var c in Corpus())
        {
            count++;
            HttpResponseMessage response;
            try
            {
                response = await c.Send();
            }
            catch (HttpRequestException ex) when (c.Status == HttpStatusCode.RequestEntityTooLarge && ex.InnerException is IOException)
            {
                // The server answered 413 and closed the connection while the client was still sending: refused unread.
                output.WriteLine($"ok   {c.Name}: connection closed by the server before the body was read");
                continue;
            }
            using var _ = response;
            var text = await response.Content.ReadAsStringAsync();
            var code = CodeOf(text);
            var ok = response.StatusCode == c.Status && code == c.Code;
            output.WriteLine($"{(ok ? "ok  " : "FAIL")} {c.Name}: {(int)response.StatusCode} {code}");
            if (!ok) failures.Add($"{c.Name}: expected {(int)c.Status} {c.Code}, got {(int)response.StatusCode} {code} {Truncate(text)}");
            Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);   // whatever else happens, hostile input is never allowed
        }

        using (var health = await _gate.Client.GetAsync("api/healthz")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using (var normal = await _gate.AuthorizeAsync(Token(), Body))
        {
            Assert.Equal(HttpStatusCode.OK, normal.StatusCode);
        }
        output.WriteLine($"hostile cases: {count}; failures: {failures.Count}; afterwards healthz 200 and a normal request allowed");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task Corpus_EveryAnsweredAuthorizeRequest_IsInTheAuditLog()
    {
        WriteHostilePolicies();
        var ids = new List<string>();
        foreach (var c in Corpus())
        {
            if (c.Status == HttpStatusCode.RequestEntityTooLarge) continue;   // refused before reading, nothing to decide
            using var response = await c.Send();
            if (response.RequestMessage?.RequestUri?.AbsolutePath != "/api/v1/authorize") continue;
            if (JsonNode.Parse(await response.Content.ReadAsStringAsync() is { Length: > 0 } t ? t : "{}")?["decision_id"]?.GetValue<string>() is { } id) ids.Add(id);
        }
        var logged = (await _gate.AuditAsync()).Select(j => JsonDocument.Parse(j).RootElement.GetProperty("decision_id").GetString()).ToHashSet();
        output.WriteLine($"answered with a decision id: {ids.Count}; missing from the log: {ids.Count(i => !logged.Contains(i))}");
        Assert.All(ids, id => Assert.Contains(id, logged));
        Assert.True((await _gate.Log.VerifyAsync()).Intact);
    }

    private void WriteHostilePolicies()
    {
        // Billion laughs: nine levels of nine aliases each.
        var bomb = new StringBuilder("version: 1\nlol0: &l0 [lol]\n");
        for (var i = 1; i <= 9; i++) bomb.Append($"lol{i}: &l{i} [{string.Join(",", Enumerable.Repeat($"*l{i - 1}", 9))}]\n");
        _gate.WritePolicy("acme/bomb", bomb.ToString());
        _gate.WritePolicy("acme/huge", TestPolicies.Web + "\n" + string.Concat(Enumerable.Repeat("# padding padding padding padding padding padding\n", 6000)));
        _gate.WritePolicy("acme/deep", "version: 1\nx: " + new string('[', 200) + new string(']', 200) + "\n");
    }

    private async Task<HttpResponseMessage> Webhook(byte[] body, string? signature, string eventName = "ping")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "api/github/webhook") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-GitHub-Event", eventName);
        request.Headers.Add("X-GitHub-Delivery", Guid.NewGuid().ToString());
        if (signature is not null) request.Headers.Add(WebhookSignature.Header, signature);
        request.Headers.ExpectContinue = body.Length > 64 * 1024;
        return await _gate.Client.SendAsync(request);
    }

    private string SwapPayload(string token)
    {
        var parts = token.Split('.');
        var other = _issuer.Claims(_gate.Clock.GetUtcNow(), GateHost.Audience);
        other["repository"] = "acme/admin";
        return parts[0] + "." + Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(other.ToJsonString()) + "." + parts[2];
    }

    private static string? CodeOf(string text)
    {
        try
        {
            var root = JsonNode.Parse(text);
            if (root?["code"]?.GetValue<string>() is { } code) return code;
            // A decision (403): the first failed check's code.
            return root?["checks"]?.AsArray().Select(c => c?["result"]?.GetValue<string>() == "fail" ? c["code"]?.GetValue<string>() : null)
                .FirstOrDefault(c => c is not null);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Truncate(string text) => text.Length > 300 ? text[..300] + "…" : text;
}
