using System.Text;
using System.Text.Json;
using DeployGate.Benchmarks.Http;

namespace DeployGate.Benchmarks.Tests;

/// <summary>The redeem target's two pieces that do not need a server: reading the grant out of an authorize answer,
/// and the redeem request it then sends.</summary>
public sealed class RedeemOperationTests
{
    [Fact]
    public void GrantToken_IsTheTopLevelGrantsToken_NotAnyOtherTokenField()
    {
        var allow = """
            {"decision_id":"dec_1","verdict":"allow","request":{"action":"deploy","token":"not-this"},
             "checks":[{"check":"role","result":"pass","token":"nor-this"}],"grant":{"jti":"g1","token":"eyJ.a.b","expires_at":"2026-12-03T10:10:00Z"}}
            """;
        Assert.Equal("eyJ.a.b", RedeemOperation.GrantToken(Encoding.UTF8.GetBytes(allow)));
        Assert.Null(RedeemOperation.GrantToken("""{"verdict":"deny","token":"x","grant":null}"""u8));
        Assert.Null(RedeemOperation.GrantToken("""{"verdict":"allow","grant":{"jti":"g1"}}"""u8));
        Assert.Null(RedeemOperation.GrantToken("[]"u8));
    }

    [Fact]
    public void Request_PostsTheTokenAndTheAuthorizeBodyAsExpect_WithItsLength()
    {
        var expect = """{"action":"read-secret","environment":"staging","secret":"staging/app/key"}"""u8.ToArray();
        var wire = Encoding.ASCII.GetString(RedeemOperation.Request("127.0.0.1:5000", "eyJ.a.b", expect));
        var split = wire.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = wire[..split];
        var body = wire[(split + 4)..];
        Assert.StartsWith("POST /api/v1/grants/redeem HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n", head);
        Assert.Contains($"Content-Length: {body.Length}", head);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("eyJ.a.b", json.RootElement.GetProperty("token").GetString());
        Assert.Equal("staging/app/key", json.RootElement.GetProperty("expect").GetProperty("secret").GetString());
        Assert.Equal(2, json.RootElement.EnumerateObject().Count());
    }
}
