using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DeployGate.Api.Webhooks;
using DeployGate.Audit;
using DeployGate.Audit.Jobs;
using DeployGate.GitHub.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Tests.Webhooks;

/// <summary>One audit row of the webhook path, read straight from the SQLite file (the columns the API does not show).</summary>
public sealed record AuditRow(string DecisionId, string Verdict, string? RunId, string Channel, string? DeliveryId, JsonElement Decision)
{
    public IEnumerable<string> FailedCodes => Decision.GetProperty("checks").EnumerateArray()
        .Where(c => c.GetProperty("result").GetString() == "fail").Select(c => c.GetProperty("code").GetString()!);
}

/// <summary>The real service (in-process Kestrel on loopback) configured as the GitHub App against a
/// <see cref="FakeGitHubApi"/>: policies from the fake's default branch, a webhook secret, a manual clock, and
/// — unless asked — no background worker, so tests drive due jobs themselves and nothing races them.</summary>
public sealed class WebhookHost : IAsyncDisposable
{
    public const string Secret = "It's a Secret to Everybody";

    private readonly bool _ownsDirectory;

    private WebhookHost(WebApplication app, string dir, string dbPath, ManualClock clock, bool ownsDirectory)
    {
        App = app;
        Directory = dir;
        DatabasePath = dbPath;
        Clock = clock;
        _ownsDirectory = ownsDirectory;
        Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        Client = new HttpClient { BaseAddress = new Uri(Url + "/") };
    }

    public WebApplication App { get; }
    public string Directory { get; }
    public string DatabasePath { get; }
    public ManualClock Clock { get; }
    public string Url { get; }
    public HttpClient Client { get; }
    public IReviewJobStore Jobs => App.Services.GetRequiredService<IReviewJobStore>();
    internal ReviewWorker Worker => App.Services.GetRequiredService<ReviewWorker>();

    public static async Task<WebhookHost> StartAsync(TestIssuer issuer, FakeGitHubApi github, DateTimeOffset? start = null,
        string? secret = Secret, string? directory = null, bool background = false, int maxAttempts = 8)
    {
        var ownsDirectory = directory is null;
        var dir = directory ?? Path.Combine(Path.GetTempPath(), "dg-webhook-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(dir);
        var keyPath = Path.Combine(dir, "app-key.pem");
        if (!File.Exists(keyPath))
        {
            using var rsa = RSA.Create(2048);
            File.WriteAllText(keyPath, rsa.ExportRSAPrivateKeyPem());
        }
        var dbPath = Path.Combine(dir, "audit.db");
        var clock = new ManualClock(start ?? GateHost.Start);
        var settings = new Dictionary<string, string?>
        {
            ["DeployGate:PublicUrl"] = GateHost.Audience,
            ["DeployGate:Issuer"] = issuer.Url,
            ["DeployGate:AllowedOwners:0"] = "acme",
            ["Policy:Source"] = "github",
            ["GitHub:ApiUrl"] = github.Url,
            ["GitHub:AppId"] = "12345",
            ["GitHub:PrivateKeyPath"] = keyPath,
            ["GitHub:WebhookSecret"] = secret,
            ["Store:ConnectionString"] = dbPath,
        };
        var build = GateServer.Build(new GateServerOptions
        {
            Urls = "http://127.0.0.1:0",
            Time = clock,
            Settings = settings,
            WorkingDirectory = dir,
            ConfigureServices = s =>
            {
                s.AddLogging(b => b.ClearProviders());
                s.AddSingleton(new ReviewWorkerOptions { Background = background, MaxAttempts = maxAttempts });
            },
        });
        Assert.True(build.App is not null, string.Join("\n", build.Problems));
        await build.App.StartAsync();
        return new WebhookHost(build.App, dir, dbPath, clock, ownsDirectory);
    }

    /// <summary>Delivers a webhook as GitHub does: raw body, event, delivery id, signature (computed unless given).</summary>
    public Task<HttpResponseMessage> DeliverAsync(string body, string deliveryId, string eventName = "deployment_protection_rule", string? signature = null, bool sign = true)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "api/github/webhook") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-GitHub-Event", eventName);
        request.Headers.Add("X-GitHub-Delivery", deliveryId);
        request.Headers.UserAgent.ParseAdd("GitHub-Hookshot/test");
        if (sign) request.Headers.Add(WebhookSignature.Header, signature ?? WebhookSignature.Compute(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes(body)));
        return Client.SendAsync(request);
    }

    /// <summary>A signed delivery whose headers declare <paramref name="body"/>'s length, over a raw connection, without
    /// sending the body: the gate must answer from the declared length alone. (Through HttpClient a large body raced
    /// the gate's early answer and its closing of the connection, and the client saw a broken pipe instead.)
    /// Returns the status line's code and the whole answer.</summary>
    public async Task<(int Status, string Answer)> DeliverHeadersOnlyAsync(string body, string deliveryId)
    {
        var uri = new Uri(Url);
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = $"POST /api/github/webhook HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/json\r\n" +
            $"Content-Length: {bytes.Length}\r\nX-GitHub-Event: deployment_protection_rule\r\nX-GitHub-Delivery: {deliveryId}\r\n" +
            $"User-Agent: GitHub-Hookshot/test\r\n{WebhookSignature.Header}: {WebhookSignature.Compute(Encoding.UTF8.GetBytes(Secret), bytes)}\r\n" +
            "Connection: close\r\n\r\n";
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var answer = await reader.ReadToEndAsync(timeout.Token);
        var status = answer.Split(' ', 3) is [_, var code, ..] && int.TryParse(code, out var parsed) ? parsed : -1;
        return (status, answer);
    }

    public Task<int> RunDueAsync() => Worker.RunDueAsync(CancellationToken.None);

    /// <summary>The Azure Functions timer invocation, as the Functions host sends it to the custom handler.</summary>
    public async Task<JsonObject> TimerAsync()
    {
        var invocation = """
            {"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-23T09:59:50Z","Next":"2026-11-23T10:00:00Z","LastUpdated":"2026-11-23T09:59:50Z"},"IsPastDue":false}},
             "Metadata":{"sys":{"MethodName":"review-jobs","UtcNow":"2026-11-23T10:00:00.0123456Z","RandGuid":"RAND"}}}
            """.Replace("RAND", Guid.NewGuid().ToString(), StringComparison.Ordinal);
        using var response = await Client.PostAsync("review-jobs", new StringContent(invocation, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return (JsonObject)JsonNode.Parse(text)!;
    }

    public async Task<IReadOnlyList<AuditRow>> AuditAsync()
    {
        var rows = new List<AuditRow>();
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT decision_id, verdict, run_id, channel, delivery_id, decision_json FROM decision_log ORDER BY seq";
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(new AuditRow(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), JsonDocument.Parse(reader.GetString(5)).RootElement.Clone()));
        }
        return rows;
    }

    public async Task<ChainVerification> VerifyAsync() => await App.Services.GetRequiredService<IDecisionLog>().VerifyAsync();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (!_ownsDirectory) return;
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Sample <c>deployment_protection_rule</c> payloads: <c>Payloads/requested.json</c> (every field GitHub's
/// schema requires) with the fields a test is about changed.</summary>
public static class SamplePayloads
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Webhooks", "Payloads");

    public static JsonObject Requested(string callbackUrl, string environment = "production", string? gitRef = "main")
    {
        var payload = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "requested.json")))!;
        payload["deployment_callback_url"] = callbackUrl;
        payload["environment"] = environment;
        payload["ref"] = gitRef;
        if (payload["deployment"] is JsonObject d) d["environment"] = environment;
        return payload;
    }
}

/// <summary>Policies on the fake's default branch.</summary>
public static class WebhookPolicies
{
    // Business hours Mon–Fri 09:00–17:00 Berlin (UTC+1 in November: 08:00–16:00Z).
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
        windows:
          business-hours:
            weekly: { days: [mon, tue, wed, thu, fri], from: "09:00", until: "17:00" }
        environments:
          production:
            github_environment: required
            deploy: { roles: [deployer], refs: [refs/heads/main], windows: [business-hours] }
          staging:
            wait_for_window: 72h
            deploy: { roles: [deployer], windows: [business-hours] }
        """;
}
