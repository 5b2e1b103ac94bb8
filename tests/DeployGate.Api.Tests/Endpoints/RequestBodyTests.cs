using System.Net;
using System.Text.Json;

namespace DeployGate.Api.Tests.Endpoints;

/// <summary>Strict bodies: 400 problem+json with a code for anything but the SPEC §3 shape; 413 over 64 KiB.</summary>
public sealed class RequestBodyTests : IAsyncLifetime
{
    private TestIssuer _issuer = null!;
    private GateHost _gate = null!;

    public async Task InitializeAsync()
    {
        _issuer = await TestIssuer.StartAsync();
        _gate = await GateHost.StartAsync(_issuer);
    }

    public async Task DisposeAsync()
    {
        await _gate.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    [Theory]
    [InlineData("not json", ServerCodes.BodyMalformed)]
    [InlineData("[]", ServerCodes.BodyMalformed)]
    [InlineData("""{"action":"deploy","environment":"staging","target":"a"} {}""", ServerCodes.BodyMalformed)]
    [InlineData("""{"action":"deploy","environment":"staging","target":"a","force":true}""", ServerCodes.BodyUnknownField)]
    [InlineData("""{"action":"deploy","action":"deploy","environment":"staging","target":"a"}""", ServerCodes.BodyUnknownField)]
    [InlineData("""{"action":"destroy","environment":"staging","target":"a"}""", ServerCodes.BodyActionInvalid)]
    [InlineData("""{"environment":"staging","target":"a"}""", ServerCodes.BodyActionInvalid)]
    [InlineData("""{"action":"deploy","target":"a"}""", ServerCodes.BodyEnvironmentMissing)]
    [InlineData("""{"action":"deploy","environment":"staging","target":""}""", ServerCodes.BodyTargetOrSecret)]
    [InlineData("""{"action":"read-secret","environment":"staging"}""", ServerCodes.BodyTargetOrSecret)]
    [InlineData("""{"action":"deploy","environment":"staging","target":"a","secret":"b"}""", ServerCodes.BodyTargetOrSecret)]
    [InlineData("""{"action":"read-secret","environment":"staging","target":"a"}""", ServerCodes.BodyTargetOrSecret)]
    [InlineData("""{"action":"deploy","environment":"staging","target":"a","break_glass":{"reason":"short"}}""", ServerCodes.BodyBreakGlassReason)]
    [InlineData("""{"action":"deploy","environment":"staging","target":"a","break_glass":{"reason":"a long enough reason","who":"me"}}""", ServerCodes.BodyUnknownField)]
    [InlineData("""{"action":"deploy","environment":7,"target":"a"}""", ServerCodes.BodyFieldType)]
    public async Task Malformed_Is400_WithCode(string body, string code)
    {
        var token = _issuer.Sign(_issuer.Claims(GateHost.Start, GateHost.Audience));
        using var response = await _gate.AuthorizeAsync(token, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        // Audited with the verified identity.
        var id = problem.GetProperty("decision_id").GetString();
        var record = (await _gate.AuditAsync()).Select(r => JsonDocument.Parse(r).RootElement).Single(r => r.GetProperty("decision_id").GetString() == id);
        Assert.Equal("acme/web", record.GetProperty("identity").GetProperty("repository").GetString());
    }

    [Fact]
    public async Task DeployWithoutTarget_IsDecidedNotRejected()
    {
        // `target` is optional for deploy; the engine decides (DG2032 where the environment approves targets).
        _gate.WritePolicy("acme/web", TestPolicies.Web);
        var token = _issuer.Sign(_issuer.Claims(GateHost.Start, GateHost.Audience));
        using var response = await _gate.AuthorizeAsync(token, """{"action":"deploy","environment":"staging"}""");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, text);
        var target = JsonDocument.Parse(text).RootElement.GetProperty("checks").EnumerateArray()
            .Single(c => c.GetProperty("check").GetString() == "target");
        Assert.Equal("fail", target.GetProperty("result").GetString());
        Assert.Equal("DG2032", target.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Over64KiB_Is413()
    {
        var token = _issuer.Sign(_issuer.Claims(GateHost.Start, GateHost.Audience));
        var body = """{"action":"deploy","environment":"staging","target":" """ + new string('x', 70_000) + "\"}";
        using var response = await _gate.AuthorizeAsync(token, body);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(ServerCodes.BodyTooLarge, problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Over64KiB_Chunked_Is413()
    {
        var token = _issuer.Sign(_issuer.Claims(GateHost.Start, GateHost.Audience));
        var bytes = System.Text.Encoding.UTF8.GetBytes("""{"action":"deploy","environment":"staging","target":" """ + new string('x', 70_000) + "\"}");
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/authorize") { Content = new StreamContent(new MemoryStream(bytes)) };
        request.Headers.TransferEncodingChunked = true;
        request.Headers.Authorization = new("Bearer", token);
        using var response = await _gate.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public void Parser_AcceptsTheSpecShapes()
    {
        var deploy = AuthorizeRequestParser.Parse("""{"action":"deploy","environment":"production","target":"aks/prod-eu-1","break_glass":{"reason":"INC-42 prod is down"}}"""u8);
        Assert.NotNull(deploy.Request);
        Assert.Equal("INC-42 prod is down", deploy.Request.BreakGlassReason);
        var secret = AuthorizeRequestParser.Parse("""{"action":"read-secret","environment":"production","secret":"prod/db/password"}"""u8);
        Assert.Equal("prod/db/password", secret.Request!.Secret);
    }
}
