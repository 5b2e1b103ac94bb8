using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;

namespace DeployGate.Api.Tests.Functions;

/// <summary>The Azure Functions custom-handler app over the same executable (SPEC §12).</summary>
public sealed class FunctionsPackagingTests
{
    private static string FunctionsDir => Path.Combine(ServerProcess.RepositoryRoot, "functions");

    [Fact]
    public void HostJson_ForwardsHttpToServe_UnderApi()
    {
        var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(FunctionsDir, "host.json"))).RootElement;
        var handler = host.GetProperty("customHandler");
        Assert.True(handler.GetProperty("enableForwardingHttpRequest").GetBoolean());
        Assert.Equal("bin/deploygate", handler.GetProperty("description").GetProperty("defaultExecutablePath").GetString());
        Assert.Equal(["serve"], handler.GetProperty("description").GetProperty("arguments").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("api", host.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
    }

    [Fact]
    public async Task EveryFunctionRoute_MapsToARealEndpoint()
    {
        await using var issuer = await TestIssuer.StartAsync();
        await using var gate = await GateHost.StartAsync(issuer);
        var endpoints = ((IEndpointRouteBuilder)gate.App).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Method: m, Route: "/" + e.RoutePattern.RawText!.TrimStart('/'))))
            .ToHashSet();

        var functions = Directory.GetDirectories(FunctionsDir).Where(d => File.Exists(Path.Combine(d, "function.json"))).ToList();
        Assert.NotEmpty(functions);
        var covered = new HashSet<(string, string)>();
        foreach (var dir in functions)
        {
            var bindings = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "function.json"))).RootElement.GetProperty("bindings");
            foreach (var trigger in bindings.EnumerateArray().Where(b => b.GetProperty("type").GetString() == "httpTrigger"))
            {
                Assert.Equal("anonymous", trigger.GetProperty("authLevel").GetString());
                var route = "/api/" + trigger.GetProperty("route").GetString();
                foreach (var method in trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!.ToUpperInvariant()))
                {
                    Assert.True(endpoints.Contains((method, route)), $"{Path.GetFileName(dir)}: {method} {route} is not an endpoint of the app");
                    covered.Add((method, route));
                }
            }
        }
        // Timer functions: the custom handler receives each invocation as `POST /<function name>` (SPEC §12).
        foreach (var dir in functions)
        {
            var bindings = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "function.json"))).RootElement.GetProperty("bindings");
            foreach (var trigger in bindings.EnumerateArray().Where(b => b.GetProperty("type").GetString() == "timerTrigger"))
            {
                var schedule = trigger.GetProperty("schedule").GetString()!;
                Assert.Equal(6, schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
                Assert.NotNull(NCrontab.CrontabSchedule.TryParse(schedule, new NCrontab.CrontabSchedule.ParseOptions { IncludingSeconds = true }));
                var route = "/" + Path.GetFileName(dir);
                Assert.True(endpoints.Contains(("POST", route)), $"timer {Path.GetFileName(dir)}: POST {route} is not an endpoint of the app");
                covered.Add(("POST", route));
            }
        }
        Assert.Contains(functions, d => Path.GetFileName(d) == "review-jobs");
        // And the other way round: every public API route has a function (the dev issuer routes exist only with --dev).
        foreach (var (method, route) in endpoints.Where(e => !e.Route.StartsWith("/api/dev/", StringComparison.Ordinal)))
            Assert.True(covered.Contains((method, route)), $"{method} {route} has no function.json");
    }

    [Fact]
    public async Task Executable_ListensOnFunctionsCustomHandlerPort_AndAnswersForwardedRequests()
    {
        await using var issuer = await TestIssuer.StartAsync();
        var dir = Path.Combine(Path.GetTempPath(), "dg-func-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "policies", "acme"));
        File.WriteAllText(Path.Combine(dir, "policies", "acme", "web.yml"), TestPolicies.Web);
        var port = ServerProcess.FreePort();
        var env = new Dictionary<string, string>
        {
            ["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["DeployGate__PublicUrl"] = "https://deploygate-func.azurewebsites.net",
            ["DeployGate__AllowedOwners"] = "acme",
            ["DeployGate__Issuer"] = issuer.Url,
            ["Policy__Directory"] = Path.Combine(dir, "policies"),
            ["Store__ConnectionString"] = "Data Source=" + Path.Combine(dir, "data", "audit.db"),
        };
        // `serve` exactly as host.json runs it; a stray --urls must lose to the Functions port.
        await using var server = ServerProcess.Start(dir, ["serve", "--urls", "http://127.0.0.1:1"], env);
        var url = $"http://127.0.0.1:{port}";
        await server.WaitReadyAsync(url);

        using var client = new HttpClient { BaseAddress = new Uri(url + "/") };
        using (var health = await client.GetAsync("api/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        // A forwarded authorize request (the Functions host passes method, path, headers and body through).
        var now = DateTimeOffset.UtcNow;
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/authorize")
        {
            Content = new StringContent("""{"action":"deploy","environment":"staging","target":"aks/staging-1"}""", Encoding.UTF8, "application/json"),
        };
        var claims = issuer.Claims(now, "https://wrong-audience.example");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", issuer.Sign(claims));
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, text);
        Assert.Equal(TokenCodes.WrongAudience, JsonDocument.Parse(text).RootElement.GetProperty("code").GetString());
        Assert.True(File.Exists(Path.Combine(dir, "data", "audit.db")));
    }

    [Fact]
    public async Task Executable_InvalidConfiguration_ListsEveryProblem_AndExitsNonZero()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dg-badcfg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var (exit, output) = await ServerProcess.RunAsync(dir, "serve", "--DeployGate:Issuer=http://issuer.example", "--Store:Provider=mongodb");
        Assert.NotEqual(0, exit);
        foreach (var code in new[] { ServerCodes.AllowedOwnersMissing, ServerCodes.PublicUrlInvalid, ServerCodes.IssuerInvalid, ServerCodes.PolicyDirectoryInvalid, ServerCodes.StoreProviderInvalid })
            Assert.Contains(code, output, StringComparison.Ordinal);
    }
}
