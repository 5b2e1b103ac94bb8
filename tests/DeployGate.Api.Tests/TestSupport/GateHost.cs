using System.Net.Http.Headers;
using System.Text;
using DeployGate.Audit;
using DeployGate.Audit.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Tests;

/// <summary>The real service on Kestrel (127.0.0.1, port 0), in-process, with a manual clock, a temp policy
/// folder, a real SQLite audit log and a log capture. Talk to it over real HTTP with <see cref="Client"/>.</summary>
public sealed class GateHost : IAsyncDisposable
{
    public const string Audience = "https://gate.test";

    /// <summary>Monday 2026-11-23 10:00 UTC (11:00 in Berlin).</summary>
    public static readonly DateTimeOffset Start = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    private GateHost(WebApplication app, string dir, ManualClock clock, LogCapture logs, IDecisionLog log)
    {
        App = app;
        Directory = dir;
        Clock = clock;
        Logs = logs;
        Log = log;
        Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        Client = new HttpClient { BaseAddress = new Uri(Url + "/") };
    }

    public WebApplication App { get; }
    public string Directory { get; }
    public ManualClock Clock { get; }
    public LogCapture Logs { get; }
    public IDecisionLog Log { get; }
    public string Url { get; }
    public HttpClient Client { get; }

    public static async Task<GateHost> StartAsync(TestIssuer issuer, IDictionary<string, string?>? settings = null, Func<GateConfiguration, IDecisionLog>? store = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "dg-api-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "policies"));
        var clock = new ManualClock(Start);
        var logs = new LogCapture();
        var all = new Dictionary<string, string?>
        {
            ["DeployGate:PublicUrl"] = Audience,
            ["DeployGate:Issuer"] = issuer.Url,
            ["DeployGate:AllowedOwners:0"] = "acme",
            ["Policy:Source"] = "directory",
            ["Policy:Directory"] = Path.Combine(dir, "policies"),
            ["Store:ConnectionString"] = Path.Combine(dir, "audit.db"),
            ["Admin:Token"] = AdminToken,
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) all[k] = v;
        var build = GateServer.Build(new GateServerOptions
        {
            Urls = "http://127.0.0.1:0",
            Time = clock,
            Settings = all,
            WorkingDirectory = dir,
            DecisionLog = store,
            ConfigureServices = s => s.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace)),
        });
        Assert.True(build.App is not null, string.Join("\n", build.Problems));
        await build.App.StartAsync();
        return new GateHost(build.App, dir, clock, logs, build.App.Services.GetRequiredService<IDecisionLog>());
    }

    public const string AdminToken = "admin-token-0123456789abcdef0123456789";

    public void WritePolicy(string ownerRepo, string yaml)
    {
        var path = Path.Combine(Directory, "policies", ownerRepo + ".yml");
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, yaml);
    }

    public Task<HttpResponseMessage> AuthorizeAsync(string? token, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/authorize") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return Client.SendAsync(request);
    }

    public async Task<IReadOnlyList<string>> AuditAsync() => await Log.QueryAsync(new DecisionQuery(Limit: 10_000));

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Policies used across tests (SPEC §2 shape).</summary>
public static class TestPolicies
{
    public const string Web = """
        version: 1
        timezone: Europe/Berlin
        identities:
          release:
            repository: acme/web
            workflow: acme/web/.github/workflows/release.yml
            ref: [refs/heads/main]
        roles:
          deployer: { members: [release] }
        environments:
          staging:
            deploy: { roles: [deployer], targets: ["aks/staging-*"] }
          production:
            github_environment: required
            deploy: { roles: [deployer], targets: ["aks/prod-eu-1"] }
        """;
}
