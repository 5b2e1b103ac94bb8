using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeployGate.Api.Tests.Hosting;

/// <summary>SIGKILL the real server while requests are in flight: every decision whose answer a client
/// received must be in the audit log after a restart, and the hash chain must be intact (SPEC §1.6, §9).</summary>
public sealed class CrashSafetyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Admin = "crash-test-admin-token-0123456789abcdef";

    [Fact]
    public async Task KillMidFlight_EveryAnsweredDecisionIsInTheLog_AndTheChainIsIntact()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dg-crash-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "policies", "acme"));
        File.WriteAllText(Path.Combine(dir, "policies", "acme", "web.yml"), TestPolicies.Web);
        var env = new Dictionary<string, string> { ["Admin__Token"] = Admin };
        string[] serve = ["serve", "--dev", "--urls", "http://127.0.0.1:0"];   // the server picks its port: no other process can take it first

        var answered = new ConcurrentBag<string>();
        var statuses = new ConcurrentDictionary<HttpStatusCode, int>();   // for the message when too few are answers
        await using (var server = ServerProcess.Start(dir, serve, env))
        {
            var url = await server.WaitListeningUrlAsync();
            await server.WaitReadyAsync(url);
            using var issuer = DevIssuer.LoadOrCreate(Path.Combine(dir, DevIssuer.DefaultPath));
            using var client = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromSeconds(30) };
            using var stop = new CancellationTokenSource();
            var completed = 0;

            async Task Worker(int worker)
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    // A mix: valid tokens (decided by the engine) and rejected ones (audited 401s).
                    var token = (i % 3) switch
                    {
                        0 => null,
                        1 => Mint(issuer, url, aud: "https://wrong.example"),
                        _ => Mint(issuer, url),
                    };
                    using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/authorize")
                    {
                        Content = new StringContent($$"""{"action":"deploy","environment":"staging","target":"aks/staging-{{worker}}-{{i}}"}""", Encoding.UTF8, "application/json"),
                    };
                    if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    try
                    {
                        using var response = await client.SendAsync(request, stop.Token);
                        var text = await response.Content.ReadAsStringAsync(stop.Token);
                        statuses.AddOrUpdate(response.StatusCode, 1, (_, n) => n + 1);
                        if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized or HttpStatusCode.BadRequest)
                        {
                            // The client holds an answer: its decision must survive the crash.
                            answered.Add(JsonDocument.Parse(text).RootElement.GetProperty("decision_id").GetString()!);
                        }
                        Interlocked.Increment(ref completed);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                    {
                        return;   // killed under us: no answer, no promise
                    }
                }
            }

            var workers = Enumerable.Range(0, 8).Select(w => Task.Run(() => Worker(w))).ToArray();
            while (Volatile.Read(ref completed) < 300 && !server.HasExited) await Task.Delay(20);
            server.Kill();   // SIGKILL while the workers are still sending
            stop.Cancel();
            await Task.WhenAll(workers);
        }
        Assert.True(answered.Count >= 100,
            $"only {answered.Count} answers before the kill; statuses: {string.Join(", ", statuses.Select(kv => $"{(int)kv.Key} x{kv.Value}"))}");

        await using (var again = ServerProcess.Start(dir, serve, env))
        {
            var url = await again.WaitListeningUrlAsync();
            await again.WaitReadyAsync(url);
            using var client = new HttpClient { BaseAddress = new Uri(url + "/") };
            using var query = new HttpRequestMessage(HttpMethod.Get, "api/v1/decisions?limit=10000");
            query.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Admin);
            using var response = await client.SendAsync(query);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var logged = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray()
                .Select(d => d.GetProperty("decision_id").GetString()!).ToHashSet();
            output.WriteLine($"answered before the kill: {answered.Count}; in the log after restart: {logged.Count}");
            var lost = answered.Where(id => !logged.Contains(id)).ToList();
            Assert.True(lost.Count == 0, $"{lost.Count} answered decisions missing from the log, e.g. {lost.FirstOrDefault()}");

            var (exit, verifyOutput) = await ServerProcess.RunAsync(dir, "audit", "verify", "--dev");
            output.WriteLine(verifyOutput);
            Assert.True(exit == 0, verifyOutput);
            Assert.Contains("chain intact", verifyOutput, StringComparison.Ordinal);

            var (queryExit, queryOutput) = await ServerProcess.RunAsync(dir, "audit", "query", "--dev", "--json", "--limit", "10000");
            Assert.True(queryExit == 0, queryOutput);
            var viaCli = JsonDocument.Parse(queryOutput).RootElement.EnumerateArray().Select(d => d.GetProperty("decision_id").GetString()!).ToHashSet();
            Assert.Superset(answered.ToHashSet(), viaCli);
        }
        Directory.Delete(dir, recursive: true);
    }

    private static string Mint(DevIssuer issuer, string url, string? aud = null)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return issuer.Sign(new JsonObject
        {
            ["iss"] = DevIssuer.IssuerFor(url), ["aud"] = aud ?? url, ["sub"] = "repo:acme/web:ref:refs/heads/main",
            ["iat"] = now, ["nbf"] = now - 5, ["exp"] = now + 300, ["jti"] = Guid.NewGuid().ToString(),
            ["repository"] = "acme/web", ["repository_owner"] = "acme",
            ["job_workflow_ref"] = "acme/web/.github/workflows/release.yml@refs/heads/main", ["ref"] = "refs/heads/main",
            ["sha"] = "0123456789abcdef0123456789abcdef01234567", ["run_id"] = "1", ["run_attempt"] = "1", ["actor"] = "alice",
        }.ToJsonString());
    }
}
