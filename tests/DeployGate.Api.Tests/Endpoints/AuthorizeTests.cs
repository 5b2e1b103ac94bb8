using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.DependencyInjection;

namespace DeployGate.Api.Tests.Endpoints;

/// <summary>Allow and deny over real HTTP against the real server (SPEC §3, §4).</summary>
public sealed class AuthorizeTests : IAsyncLifetime
{
    private TestIssuer _issuer = null!;
    private GateHost _gate = null!;

    private static readonly string[] DecisionFields =
        ["decision_id", "verdict", "evaluated_at", "request", "identity", "checks", "next_allowed_at", "break_glass", "policy", "grant"];
    private static readonly string[] IdentityFields =
        ["repository", "workflow", "ref", "sha", "run_id", "run_attempt", "actor", "identities", "roles"];

    public async Task InitializeAsync()
    {
        _issuer = await TestIssuer.StartAsync();
        _gate = await GateHost.StartAsync(_issuer);
        _gate.WritePolicy("acme/web", TestPolicies.Web);
    }

    public async Task DisposeAsync()
    {
        await _gate.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    private string Token(string? environment = null) => _issuer.Sign(_issuer.Claims(GateHost.Start, GateHost.Audience, environment));

    private async Task<(HttpStatusCode Status, JsonElement Body, string Text)> PostAsync(string token, string body)
    {
        using var response = await _gate.AuthorizeAsync(token, body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement, text);
    }

    private async Task AssertAuditedAsync(JsonElement decision)
    {
        var id = decision.GetProperty("decision_id").GetString();
        var stored = (await _gate.AuditAsync()).Select(r => JsonDocument.Parse(r).RootElement).Single(r => r.GetProperty("decision_id").GetString() == id);
        // The audit row is the API body with the grant's bearer token redacted (jti and expires_at stay).
        var expected = decision.GetRawText();
        if (decision.GetProperty("grant") is { ValueKind: JsonValueKind.Object } grant)
            expected = expected.Replace(grant.GetProperty("token").GetString()!, "[redacted]", StringComparison.Ordinal);
        Assert.Equal(expected, stored.GetRawText());
    }

    [Fact]
    public async Task Answers_CarryTheirLength_NotChunkedFraming()
    {
        // One send per answer: a known Content-Length, where chunked framing sent its terminator separately.
        foreach (var (token, body) in new[]
                 {
                     (Token(), """{"action":"deploy","environment":"staging","target":"aks/staging-1"}"""),   // 200 with a grant
                     (Token(), """{"action":"deploy","environment":"nowhere"}"""),                           // 403
                     ("not-a-token", """{"action":"deploy","environment":"staging"}"""),                     // 401 problem
                 })
        {
            using var response = await _gate.AuthorizeAsync(token, body);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            Assert.True(bytes.Length > 100, $"{(int)response.StatusCode}: {bytes.Length} bytes");
            Assert.Equal(bytes.Length, response.Content.Headers.ContentLength);
            Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
        }
        using var health = await _gate.Client.GetAsync("api/healthz");
        Assert.Equal((await health.Content.ReadAsByteArrayAsync()).Length, health.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task EachDecision_IsLoggedAtDebugOnly_TheAuditLogIsItsRecord()
    {
        var (status, body, _) = await PostAsync(Token(), """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""");
        var (rejected, _, _) = await PostAsync("not-a-token", """{"action":"deploy","environment":"staging"}""");

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.Unauthorized), (status, rejected));
        var id = body.GetProperty("decision_id").GetString()!;
        var lines = _gate.Logs.Lines.Where(l => l.Contains("AuthorizeHandler", StringComparison.Ordinal)).ToList();
        Assert.Contains(lines, l => l.StartsWith("Debug ", StringComparison.Ordinal) && l.Contains("[2000]", StringComparison.Ordinal) && l.Contains(id, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Debug ", StringComparison.Ordinal) && l.Contains("[3000]", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => !l.StartsWith("Debug ", StringComparison.Ordinal));
    }

    [Fact]
    public void HostingDiagnosticsCategory_IsOff_SoRequestsStartNoActivityOrScope()
    {
        // ASP.NET Core starts an Activity and a logging scope per request while this category is enabled at any level
        // (HostingApplicationDiagnostics asks IsEnabled(Critical)); the gate's own categories still log.
        var loggers = _gate.App.Services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>();
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(Microsoft.Extensions.Logging.LogLevel.Critical));
        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").IsEnabled(Microsoft.Extensions.Logging.LogLevel.Warning));
        Assert.True(loggers.CreateLogger("DeployGate.Api.AuthorizeHandler").IsEnabled(Microsoft.Extensions.Logging.LogLevel.Error));
    }

    [Fact]
    public void AppSettings_AreReadOnce_NoReloadWatcherOnTheWorkingDirectory()
    {
        // The reload watcher covers the content root recursively, and the SQLite audit log lives below it by
        // default: it woke on every write. Configuration is validated once at start anyway.
        var json = ((IConfigurationRoot)_gate.App.Configuration).Providers.OfType<JsonConfigurationProvider>().ToList();
        Assert.NotEmpty(json);   // appsettings.json and appsettings.<environment>.json are still read
        Assert.All(json, p => Assert.False(p.Source.ReloadOnChange, p.Source.Path));
    }

    [Fact]
    public async Task Allow_Is200_WithTheDecisionInSpecShape()
    {
        var (status, body, text) = await PostAsync(Token(), """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""");

        Assert.True(status == HttpStatusCode.OK, text);
        Assert.Equal(DecisionFields, body.EnumerateObject().Select(p => p.Name));
        Assert.StartsWith("dec_", body.GetProperty("decision_id").GetString(), StringComparison.Ordinal);
        Assert.Equal("allow", body.GetProperty("verdict").GetString());
        Assert.Equal("2026-11-23T10:00:00Z", body.GetProperty("evaluated_at").GetString());
        Assert.Equal("""{"action":"deploy","environment":"staging","target":"aks/staging-1"}""", body.GetProperty("request").GetRawText());
        var identity = body.GetProperty("identity");
        Assert.Equal(IdentityFields, identity.EnumerateObject().Select(p => p.Name));
        Assert.Equal("acme/web", identity.GetProperty("repository").GetString());
        Assert.Equal("acme/web/.github/workflows/release.yml", identity.GetProperty("workflow").GetString());
        Assert.Equal("refs/heads/main", identity.GetProperty("ref").GetString());
        Assert.Equal("4242", identity.GetProperty("run_id").GetString());
        Assert.Equal("alice", identity.GetProperty("actor").GetString());
        Assert.Equal(["release"], identity.GetProperty("identities").EnumerateArray().Select(e => e.GetString()));
        Assert.All(body.GetProperty("checks").EnumerateArray(), c =>
        {
            Assert.Equal(["check", "result", "code", "message"], c.EnumerateObject().Select(p => p.Name));
            Assert.Contains(c.GetProperty("result").GetString(), new[] { "pass", "not_applicable" });
        });
        Assert.Equal(JsonValueKind.Null, body.GetProperty("next_allowed_at").ValueKind);
        Assert.False(body.GetProperty("break_glass").GetBoolean());
        var policy = body.GetProperty("policy");
        Assert.Equal("directory:acme/web.yml", policy.GetProperty("source").GetString());
        var fileHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(_gate.Directory, "policies", "acme", "web.yml"))));
        Assert.Equal(fileHash, policy.GetProperty("revision").GetString());
        await AssertAuditedAsync(body);
    }

    [Fact]
    public async Task Deny_Is403_NamingTheFailedCheck()
    {
        var (status, body, text) = await PostAsync(Token(), """{"action":"deploy","environment":"staging","target":"gke/elsewhere"}""");

        Assert.True(status == HttpStatusCode.Forbidden, text);
        Assert.Equal(DecisionFields, body.EnumerateObject().Select(p => p.Name));
        Assert.Equal("deny", body.GetProperty("verdict").GetString());
        var target = body.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("check").GetString() == "target");
        Assert.Equal("fail", target.GetProperty("result").GetString());
        Assert.StartsWith("DG2", target.GetProperty("code").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("grant").ValueKind);
        await AssertAuditedAsync(body);
    }

    [Fact]
    public async Task GitHubEnvironmentMismatch_IsDenied()
    {
        // production requires the job's GitHub environment to be `production`; the token says `staging`.
        var (status, body, text) = await PostAsync(Token(environment: "staging"), """{"action":"deploy","environment":"production","target":"aks/prod-eu-1"}""");

        Assert.True(status == HttpStatusCode.Forbidden, text);
        var environment = body.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("check").GetString() == "environment");
        Assert.Equal("fail", environment.GetProperty("result").GetString());
        Assert.StartsWith("DG2", environment.GetProperty("code").GetString(), StringComparison.Ordinal);
        await AssertAuditedAsync(body);

        // The same request from a job in the `production` GitHub environment passes that check.
        var (okStatus, okBody, okText) = await PostAsync(Token(environment: "production"), """{"action":"deploy","environment":"production","target":"aks/prod-eu-1"}""");
        Assert.True(okStatus == HttpStatusCode.OK, okText);
        Assert.Equal("allow", okBody.GetProperty("verdict").GetString());
    }

    [Fact]
    public async Task MissingPolicy_IsAnAuditedDeny_DG6201()
    {
        var claims = _issuer.Claims(GateHost.Start, GateHost.Audience);
        claims["repository"] = "acme/api";
        var (status, body, text) = await PostAsync(_issuer.Sign(claims), """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""");

        Assert.True(status == HttpStatusCode.Forbidden, text);
        Assert.Equal("deny", body.GetProperty("verdict").GetString());
        Assert.Contains(body.GetProperty("checks").EnumerateArray(), c => c.GetProperty("code").GetString() == ServerCodes.PolicyNotFound);
        await AssertAuditedAsync(body);
    }

    [Fact]
    public async Task InvalidPolicy_IsAnAuditedDeny_WithTheLoadersCode()
    {
        _gate.WritePolicy("acme/web", "version: 1\nbogus_key: true\n");
        var (status, body, text) = await PostAsync(Token(), """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""");

        Assert.True(status == HttpStatusCode.Forbidden, text);
        Assert.Contains(body.GetProperty("checks").EnumerateArray(), c => c.GetProperty("code").GetString()!.StartsWith("DG1", StringComparison.Ordinal));
        await AssertAuditedAsync(body);
    }

    [Fact]
    public async Task PolicyEdit_AppliesToTheNextRequest()
    {
        var body = """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""";
        var (first, firstBody, _) = await PostAsync(Token(), body);
        Assert.Equal(HttpStatusCode.OK, first);

        _gate.WritePolicy("acme/web", TestPolicies.Web.Replace("aks/staging-*", "aks/staging-9", StringComparison.Ordinal));
        var (second, secondBody, _) = await PostAsync(Token(), body);
        Assert.Equal(HttpStatusCode.Forbidden, second);
        Assert.NotEqual(firstBody.GetProperty("policy").GetProperty("revision").GetString(), secondBody.GetProperty("policy").GetProperty("revision").GetString());
    }

    [Fact]
    public async Task NoTokenOrSecret_IsEverLogged()
    {
        var token = Token();
        using (await _gate.AuthorizeAsync(token, """{"action":"read-secret","environment":"staging","secret":"prod/db/password"}""")) { }
        using (await _gate.AuthorizeAsync(token + "x", """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""")) { }
        var logs = _gate.Logs.All;
        Assert.NotEmpty(_gate.Logs.Lines);
        Assert.DoesNotContain(token, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Split('.')[1], logs, StringComparison.Ordinal);   // not even the payload
        Assert.DoesNotContain(token.Split('.')[2], logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreDown_Is503_WithRetryAfter_NeverAnAnswer()
    {
        await using var gate = await GateHost.StartAsync(_issuer, store: _ => new FailingLog());
        gate.WritePolicy("acme/web", TestPolicies.Web);
        using var response = await gate.AuthorizeAsync(Token(), """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        using var rejected = await gate.AuthorizeAsync(null, "{}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.NotNull(rejected.Headers.RetryAfter);
        var problem = JsonDocument.Parse(await rejected.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("DG5001", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task StoreDown_AllowIsNeverAnswered()
    {
        await using var gate = await GateHost.StartAsync(_issuer, store: _ => new FailingLog());
        gate.WritePolicy("acme/web", TestPolicies.Web);
        using var response = await gate.AuthorizeAsync(Token(), """{"action":"deploy","environment":"staging","target":"aks/staging-1"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.DoesNotContain("\"verdict\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decisions_AdminApi_NeedsTheAdminToken()
    {
        using (var none = await _gate.Client.GetAsync("api/v1/decisions")) Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        using (await _gate.AuthorizeAsync(null, "{}")) { }
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/decisions?limit=5&verdict=deny");
        request.Headers.Authorization = new("Bearer", GateHost.AdminToken);
        using var response = await _gate.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var rows = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(JsonValueKind.Array, rows.ValueKind);
        Assert.Equal(TokenCodes.MissingBearer, rows[0].GetProperty("checks")[0].GetProperty("code").GetString());

        using var bad = new HttpRequestMessage(HttpMethod.Get, "api/v1/decisions?limit=0");
        bad.Headers.Authorization = new("Bearer", GateHost.AdminToken);
        using var badResponse = await _gate.Client.SendAsync(bad);
        Assert.Equal(HttpStatusCode.BadRequest, badResponse.StatusCode);
    }

    [Fact]
    public async Task Decisions_AdminApi_IsDisabledWithoutAToken()
    {
        await using var gate = await GateHost.StartAsync(_issuer, new Dictionary<string, string?> { ["Admin:Token"] = null });
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/decisions");
        request.Headers.Authorization = new("Bearer", GateHost.AdminToken);
        using var response = await gate.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Healthz_ReportsStoreAndPolicySource()
    {
        using var response = await _gate.Client.GetAsync("api/healthz");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", body.GetProperty("store").GetString());
        Assert.Equal("ok", body.GetProperty("policy_source").GetString());

        await using var down = await GateHost.StartAsync(_issuer, store: _ => new FailingLog());
        using var downResponse = await down.Client.GetAsync("api/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, downResponse.StatusCode);
    }

    private sealed class FailingLog : DeployGate.Audit.IDecisionLog
    {
        public ValueTask AppendAsync(DeployGate.Engine.Decision decision, DeployGate.Audit.AuditContext context, CancellationToken cancellationToken = default) =>
            ValueTask.FromException(new DeployGate.Audit.AuditStoreException("disk on fire"));

        public ValueTask AppendAsync(DeployGate.Audit.SerializedDecision decision, DeployGate.Audit.AuditContext context, CancellationToken cancellationToken = default) =>
            ValueTask.FromException(new DeployGate.Audit.AuditStoreException("disk on fire"));

        public Task<IReadOnlyList<string>> QueryAsync(DeployGate.Audit.DecisionQuery query, CancellationToken cancellationToken = default) =>
            Task.FromException<IReadOnlyList<string>>(new DeployGate.Audit.AuditStoreException("disk on fire"));

        public Task<DeployGate.Audit.ChainVerification> VerifyAsync(CancellationToken cancellationToken = default) =>
            Task.FromException<DeployGate.Audit.ChainVerification>(new DeployGate.Audit.AuditStoreException("disk on fire"));
    }
}
