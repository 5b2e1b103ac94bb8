using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DeployGate.Api.Tests;
using DeployGate.Api.Tests.Webhooks;
using DeployGate.GitHub.Webhooks;
using DeployGate.Audit.Tests.Shared;
using Npgsql;
using Xunit.Abstractions;

namespace DeployGate.Reliability.Tests;

/// <summary>Three real <c>deploygate serve</c> processes on loopback over one PostgreSQL database (SPEC §9, issue 7),
/// reading policy from a fake GitHub API: bounded concurrent load across them, concurrent redemptions of one grant,
/// every webhook delivery sent to all three at once (each job decided and reviewed exactly once), SIGKILL of an instance mid-load, and
/// termination of the gate's database sessions mid-load. After each phase: every decision a client received an
/// answer for is in the log exactly once, <c>seq</c> has no gaps, and <c>deploygate audit verify</c> finds one intact
/// chain. Figures go to the test log. No timing is asserted; loops are bounded by counts.</summary>
public sealed class ScaleOutTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Admin = "reliability-admin-token-0123456789abcdef";
    private const string Audience = "https://gate.test";
    private const int Instances = 3;
    private const int SteadyRequests = 3_000;
    private const int FaultRequests = 1_500;
    private const int Concurrency = 24;
    private const int Deliveries = 40;
    private const string WebhookSecret = "scale-out-webhook-secret-0123456789";

    /// <summary>On the fake's default branch: staging deploys (the API load) and production (the webhook reviews) allowed.</summary>
    private const string Policy = """
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
            deploy: { roles: [deployer] }
        """;

    private readonly ConcurrentDictionary<string, int> _answered = new(StringComparer.Ordinal);
    private TestIssuer _issuer = null!;
    private FakeGitHubApi _github = null!;
    private string _dir = null!;
    private string _database = null!;
    private string _connectionString = null!;
    private readonly ServerProcess?[] _servers = new ServerProcess?[Instances];
    private readonly string[] _urls = new string[Instances];
    private int _requests, _faults, _unavailable, _refused;

    public async Task InitializeAsync()
    {
        if (PostgresServer.ConnectionString is not { } server) return;
        _issuer = await TestIssuer.StartAsync();
        _github = await FakeGitHubApi.StartAsync();
        _github.Files["main"] = Policy;
        _dir = Path.Combine(Path.GetTempPath(), "dg-scale-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        using (var rsa = RSA.Create(2048)) await File.WriteAllTextAsync(Path.Combine(_dir, "app-key.pem"), rsa.ExportRSAPrivateKeyPem());
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            // One signing key for all instances: a grant issued by one is redeemed at another.
            await File.WriteAllTextAsync(Path.Combine(_dir, "grant-key.pem"), key.ExportPkcs8PrivateKeyPem());
        }
        _database = "dg_rel_" + Guid.NewGuid().ToString("N");
        await AdminExecAsync($"CREATE DATABASE \"{_database}\" TEMPLATE template0 ENCODING 'UTF8'");
        _connectionString = new NpgsqlConnectionStringBuilder(server) { Database = _database }.ConnectionString;
        // Started together: the migrations' advisory lock makes concurrent start-up safe.
        await Task.WhenAll(Enumerable.Range(0, Instances).Select(StartAsync));
    }

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            if (server is not null) await server.DisposeAsync();
        }
        if (_database is null) return;
        await _issuer.DisposeAsync();
        await _github.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await AdminExecAsync($"DROP DATABASE IF EXISTS \"{_database}\" WITH (FORCE)");
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [PostgresFact]
    public async Task ThreeInstances_OneDatabase_LoadCrashAndDatabaseFaults_NothingAnsweredIsLost_OneChain()
    {
        // 1. Steady load across the three instances.
        await LoadAsync(SteadyRequests, fault: null);
        var steady = await CheckLogAsync("steady load");

        // 2. One grant, redeemed concurrently at every instance: exactly one success.
        var (successes, conflicts) = await RedeemConcurrentlyAsync(30);
        output.WriteLine($"grant redeemed 30 times concurrently across {Instances} instances: {successes} success, {conflicts} conflict (409)");
        Assert.Equal(1, successes);
        Assert.Equal(29, conflicts);

        // 2b. Every webhook delivery arrives at all three instances at once: one job each, decided and reviewed once.
        await DeliverEverywhereAsync();

        // 3. SIGKILL one instance while requests are in flight.
        await LoadAsync(FaultRequests, fault: async () =>
        {
            _servers[1]!.Kill();
            Interlocked.Increment(ref _faults);
            output.WriteLine("fault: SIGKILL of instance 2 mid-load");
            await Task.CompletedTask;
        });
        await CheckLogAsync("after SIGKILL");
        await _servers[1]!.DisposeAsync();
        await StartAsync(1);   // a replacement joins the same chain

        // 4. Terminate every gate session in PostgreSQL, three times, while requests are in flight.
        await LoadAsync(FaultRequests, fault: async () =>
        {
            for (var round = 0; round < 3; round++)
            {
                var killed = await TerminateGateSessionsAsync();
                Interlocked.Increment(ref _faults);
                output.WriteLine($"fault: pg_terminate_backend on {killed} gate sessions");
                await Task.Delay(150);
            }
        });
        var final = await CheckLogAsync("after session terminations");
        await ReportSizeAsync();

        // 5. Recovered: every instance is healthy again and decides a normal request (bounded retries, no timing).
        for (var i = 0; i < Instances; i++) await AssertRecoversAsync(i);

        output.WriteLine($"TOTAL requests {_requests}, faults injected {_faults}, answers with a decision id {_answered.Count}, " +
                         $"503 fail-closed {_unavailable}, connection refused/reset {_refused}, decisions checked in the log {final.Checked}, lost 0, chain intact ({final.Records} records, one chain, no gaps)");
        Assert.True(steady.Records >= SteadyRequests);
    }

    /// <summary>Short enough that a dead instance's job is taken over within the test, long enough that no live
    /// instance loses a job it is still reviewing.</summary>
    private const string ReviewLease = "10s";

    [PostgresFact]
    public async Task InstanceKilledMidReview_AnotherInstanceCompletesThePendingJob()
    {
        // Every run lookup hangs, so whichever instance claims the job is stuck mid-review, holding its lease.
        _github.HoldRuns = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var template = (JsonObject)JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Payloads", "requested.json")))!;
        template["deployment_callback_url"] = _github.CallbackUrl(4242);
        var body = Encoding.UTF8.GetBytes(template.ToJsonString());
        using (var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
        using (var request = new HttpRequestMessage(HttpMethod.Post, _urls[0] + "/api/github/webhook") { Content = new ByteArrayContent(body) })
        {
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Add("X-GitHub-Event", "deployment_protection_rule");
            request.Headers.Add("X-GitHub-Delivery", "delivery-killed");
            request.Headers.Add(WebhookSignature.Header, WebhookSignature.Compute(Encoding.UTF8.GetBytes(WebhookSecret), body));
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = false, ApplicationName = "deploygate-tests" }.ConnectionString);
        await connection.OpenAsync();
        async Task<(string State, string? Owner)> JobAsync()
        {
            await using var command = new NpgsqlCommand("SELECT state, lease_owner FROM review_jobs WHERE delivery_id = 'delivery-killed'", connection);
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            return (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1));
        }

        for (var i = 0; i < 300 && _github.RunRequestsHeld == 0; i++) await Task.Delay(100);
        Assert.True(_github.RunRequestsHeld > 0, "no instance claimed the job");
        var (_, owner) = await JobAsync();
        var pid = int.Parse(owner!.Split('/')[1], System.Globalization.CultureInfo.InvariantCulture);   // machine/pid/guid
        var holder = Array.FindIndex(_servers, s => s?.ProcessId == pid);
        Assert.True(holder >= 0, $"the lease owner `{owner}` is one of the instances");
        _servers[holder]!.Kill();                       // SIGKILL mid-review, lease held
        _faults++;
        _github.HoldRuns.SetResult();
        _github.HoldRuns = null;

        var state = "";
        for (var i = 0; i < 600 && state != "done"; i++)
        {
            await Task.Delay(100);
            (state, owner) = await JobAsync();
        }
        Assert.Equal("done", state);
        Assert.DoesNotContain($"/{pid}/", owner ?? "", StringComparison.Ordinal);   // finished by another instance

        var review = Assert.Single(_github.Reviews, r => r.Path.EndsWith("/runs/4242/deployment_protection_rule", StringComparison.Ordinal));
        Assert.Equal("approved", review.Json["state"]?.GetValue<string>());
        await using (var command = new NpgsqlCommand("SELECT count(*) FROM decision_log WHERE delivery_id = 'delivery-killed'", connection))
        {
            Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);   // decided once, by the instance that took over
        }
        var (exit, verify) = await ServerProcess.RunAsync(_dir, "audit", "verify", "--Store:Provider=postgres", $"--Store:ConnectionString={_connectionString}");
        Assert.True(exit == 0, verify);
        output.WriteLine($"review job: instance {holder} (pid {pid}) SIGKILLed holding the lease mid-review; another instance took the job over after the {ReviewLease} lease, posted 1 review, logged 1 decision; chain intact");
    }

    private async Task StartAsync(int i)
    {
        var env = new Dictionary<string, string>
        {
            ["DeployGate__PublicUrl"] = Audience,
            ["DeployGate__Issuer"] = _issuer.Url,
            ["DeployGate__AllowedOwners"] = "acme",
            ["Policy__Source"] = "github",
            ["GitHub__ApiUrl"] = _github.Url,
            ["GitHub__AppId"] = "12345",
            ["GitHub__PrivateKeyPath"] = Path.Combine(_dir, "app-key.pem"),
            ["GitHub__WebhookSecret"] = WebhookSecret,
            ["GitHub__ReviewLease"] = ReviewLease,
            ["Store__Provider"] = "postgres",
            ["Store__ConnectionString"] = _connectionString,
            ["Grants__SigningKeyPath"] = Path.Combine(_dir, "grant-key.pem"),
            ["Admin__Token"] = Admin,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",   // "Now listening on:", for the port
        };
        // Port 0: each instance picks its own, so no other process can take it between a pick and the bind; a
        // replacement instance gets a new one.
        var server = ServerProcess.Start(_dir, ["serve", "--urls", "http://127.0.0.1:0"], env);
        _servers[i] = server;
        _urls[i] = await server.WaitListeningUrlAsync();
        await server.WaitReadyAsync(_urls[i]);
    }

    /// <summary><paramref name="count"/> authorize requests, round-robin over the instances, <see cref="Concurrency"/> at
    /// a time; two in three carry a valid token (allowed), one in three a token for another audience (401, audited).
    /// <paramref name="fault"/> runs once a fifth of the requests have completed.</summary>
    private async Task LoadAsync(int count, Func<Task>? fault)
    {
        var next = -1;
        var completed = 0;
        var faultAt = count / 5;
        Task? faultTask = null;
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

        async Task Worker()
        {
            while (true)
            {
                var n = Interlocked.Increment(ref next);
                if (n >= count) return;
                var instance = n % Instances;
                var claims = _issuer.Claims(DateTimeOffset.UtcNow, n % 3 == 2 ? "https://wrong.example" : Audience);
                using var request = new HttpRequestMessage(HttpMethod.Post, _urls[instance] + "/api/v1/authorize")
                {
                    Content = new StringContent($$"""{"action":"deploy","environment":"staging","target":"aks/staging-{{n}}"}""", Encoding.UTF8, "application/json"),
                };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _issuer.Sign(claims));
                Interlocked.Increment(ref _requests);
                try
                {
                    using var response = await client.SendAsync(request);
                    var text = await response.Content.ReadAsStringAsync();
                    using var doc = JsonDocument.Parse(text);
                    switch (response.StatusCode)
                    {
                        case HttpStatusCode.OK or HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized or HttpStatusCode.BadRequest:
                            // The client holds an answer: its decision must be in the log.
                            var id = doc.RootElement.GetProperty("decision_id").GetString()!;
                            Assert.True(_answered.TryAdd(id, instance), $"decision id `{id}` answered twice");
                            break;
                        case HttpStatusCode.ServiceUnavailable:
                            // Fail closed: no verdict, a store code, retry later.
                            Assert.Equal("DG5001", doc.RootElement.GetProperty("code").GetString());
                            Assert.True(response.Headers.RetryAfter is not null, "503 without Retry-After");
                            Interlocked.Increment(ref _unavailable);
                            break;
                        default:
                            Assert.Fail($"unexpected {(int)response.StatusCode}: {text}");
                            break;
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref _refused);   // the killed instance: no answer, no promise
                }
                if (Interlocked.Increment(ref completed) == faultAt && fault is not null) faultTask = Task.Run(fault);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(Worker)));
        if (faultTask is not null) await faultTask;
    }

    /// <summary>Every answered decision is in the log exactly once; seq is 1..n without gaps; the CLI verifies one chain.</summary>
    private async Task<(long Records, int Checked)> CheckLogAsync(string phase)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = false, ApplicationName = "deploygate-tests" }.ConnectionString);
        await connection.OpenAsync();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand("SELECT decision_id FROM decision_log", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) counts[reader.GetString(0)] = counts.GetValueOrDefault(reader.GetString(0)) + 1;
        }
        long min, max, rows;
        await using (var command = new NpgsqlCommand("SELECT coalesce(min(seq), 0), coalesce(max(seq), 0), count(*) FROM decision_log", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            (min, max, rows) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        }
        string head;
        await using (var command = new NpgsqlCommand("SELECT hash FROM decision_log ORDER BY seq DESC LIMIT 1", connection))
        {
            head = (string)(await command.ExecuteScalarAsync())!;
        }
        var lost = _answered.Keys.Where(id => !counts.ContainsKey(id)).ToList();
        var duplicated = counts.Count(kv => kv.Value != 1);
        output.WriteLine($"{phase}: answered {_answered.Count}, in the log {rows} (seq {min}..{max}), lost {lost.Count}, duplicated {duplicated}");
        Assert.True(lost.Count == 0, $"{phase}: {lost.Count} answered decisions are not in the log, e.g. `{lost.FirstOrDefault()}`");
        Assert.Equal(0, duplicated);
        Assert.Equal(1, min);
        Assert.Equal(rows, max);   // no gaps

        var (exit, verify) = await ServerProcess.RunAsync(_dir, "audit", "verify", "--Store:Provider=postgres", $"--Store:ConnectionString={_connectionString}");
        output.WriteLine($"{phase}: deploygate audit verify: {verify.Trim()}");
        Assert.True(exit == 0, verify);
        Assert.Contains($"chain intact: {rows} records", verify, StringComparison.Ordinal);
        Assert.Contains($"head hash: {head}", verify, StringComparison.Ordinal);
        return (rows, _answered.Count);
    }

    /// <summary>Sends each of <see cref="Deliveries"/> protection-rule deliveries (own delivery id, own run) to every
    /// instance concurrently, waits (bounded) until every job is done, then checks: one job per delivery, exactly one
    /// review callback per run, one webhook decision per delivery in the log.</summary>
    private async Task DeliverEverywhereAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var template = (JsonObject)JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Payloads", "requested.json")))!;
        var accepted = 0;
        var queued = 0;
        await Task.WhenAll(Enumerable.Range(0, Deliveries).SelectMany(d => Enumerable.Range(0, Instances).Select(i => Task.Run(async () =>
        {
            var payload = template.DeepClone().AsObject();
            payload["deployment_callback_url"] = _github.CallbackUrl(1000 + d);
            var body = Encoding.UTF8.GetBytes(payload.ToJsonString());
            using var request = new HttpRequestMessage(HttpMethod.Post, _urls[i] + "/api/github/webhook") { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Add("X-GitHub-Event", "deployment_protection_rule");
            request.Headers.Add("X-GitHub-Delivery", $"delivery-{d:D4}");
            request.Headers.Add(WebhookSignature.Header, WebhookSignature.Compute(Encoding.UTF8.GetBytes(WebhookSecret), body));
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Interlocked.Increment(ref accepted);
            if (JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("queued").GetBoolean()) Interlocked.Increment(ref queued);
        }))));
        Assert.Equal(Deliveries, queued);   // each delivery stored once, the other two copies were no-ops

        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = false, ApplicationName = "deploygate-tests" }.ConnectionString);
        await connection.OpenAsync();
        long done = 0;
        for (var attempt = 0; attempt < 1200 && done < Deliveries; attempt++)
        {
            if (attempt > 0) await Task.Delay(100);
            await using var command = new NpgsqlCommand("SELECT count(*) FROM review_jobs WHERE state = 'done'", connection);
            done = (long)(await command.ExecuteScalarAsync())!;
        }
        Assert.Equal(Deliveries, done);

        var reviews = _github.Reviews.GroupBy(c => c.Path).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(Deliveries, reviews.Count);
        Assert.All(reviews, r => Assert.Single(r.Value));   // nobody decided a job twice
        Assert.All(reviews.Values, r => Assert.Equal("approved", r[0].Json["state"]?.GetValue<string>()));
        long decisions;
        await using (var command = new NpgsqlCommand("SELECT count(DISTINCT delivery_id), count(*) FROM decision_log WHERE channel = 'webhook'", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            Assert.Equal(Deliveries, reader.GetInt64(0));
            decisions = reader.GetInt64(1);
        }
        Assert.Equal(Deliveries, decisions);
        output.WriteLine($"webhook: {Deliveries} deliveries x {Instances} instances = {accepted} posts (202), {queued} jobs stored, {reviews.Count} reviews posted (1 per run), {decisions} webhook decisions in the log");
    }

    /// <summary>Database sizing figure for docs/operations.md: bytes on disk per audit record (table, TOAST and indexes).</summary>
    private async Task ReportSizeAsync()
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = false, ApplicationName = "deploygate-tests" }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT pg_total_relation_size('decision_log'), count(*), avg(octet_length(decision_json))::bigint FROM decision_log", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (bytes, rows, json) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        output.WriteLine($"database size: decision_log {bytes} bytes for {rows} records = {bytes / Math.Max(rows, 1)} bytes per record (average decision_json {json} bytes)");
    }

    private async Task<(int Successes, int Conflicts)> RedeemConcurrentlyAsync(int attempts)
    {
        using var client = new HttpClient();
        using var authorize = new HttpRequestMessage(HttpMethod.Post, _urls[0] + "/api/v1/authorize")
        {
            Content = new StringContent("""{"action":"deploy","environment":"staging","target":"aks/staging-1"}""", Encoding.UTF8, "application/json"),
        };
        authorize.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _issuer.Sign(_issuer.Claims(DateTimeOffset.UtcNow, Audience)));
        using var allowed = await client.SendAsync(authorize);
        var decision = JsonDocument.Parse(await allowed.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        _answered.TryAdd(decision.GetProperty("decision_id").GetString()!, 0);
        var grant = decision.GetProperty("grant").GetProperty("token").GetString()!;
        var body = JsonSerializer.Serialize(new { token = grant, expect = new { action = "deploy", environment = "staging", target = "aks/staging-1" } });

        var statuses = await Task.WhenAll(Enumerable.Range(0, attempts).Select(i => Task.Run(async () =>
        {
            using var response = await client.PostAsync(_urls[i % Instances] + "/api/v1/grants/redeem", new StringContent(body, Encoding.UTF8, "application/json"));
            return response.StatusCode;
        })));
        return (statuses.Count(s => s == HttpStatusCode.OK), statuses.Count(s => s == HttpStatusCode.Conflict));
    }

    private async Task AssertRecoversAsync(int i)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        HttpStatusCode health = 0, decide = 0;
        for (var attempt = 0; attempt < 50 && (health != HttpStatusCode.OK || decide != HttpStatusCode.OK); attempt++)
        {
            if (attempt > 0) await Task.Delay(100);
            using (var h = await client.GetAsync(_urls[i] + "/api/healthz")) health = h.StatusCode;
            using var request = new HttpRequestMessage(HttpMethod.Post, _urls[i] + "/api/v1/authorize")
            {
                Content = new StringContent("""{"action":"deploy","environment":"staging","target":"aks/staging-9"}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _issuer.Sign(_issuer.Claims(DateTimeOffset.UtcNow, Audience)));
            using var response = await client.SendAsync(request);
            decide = response.StatusCode;
            if (decide == HttpStatusCode.OK)
            {
                _answered.TryAdd(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("decision_id").GetString()!, i);
            }
        }
        output.WriteLine($"instance {i + 1} after the faults: healthz {(int)health}, authorize {(int)decide}");
        Assert.Equal(HttpStatusCode.OK, health);
        Assert.Equal(HttpStatusCode.OK, decide);
    }

    private async Task<long> TerminateGateSessionsAsync()
    {
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionString) { Pooling = false }.ConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = @db AND application_name = 'deploygate'", admin);
        command.Parameters.AddWithValue("db", _database);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task AdminExecAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionString) { Pooling = false }.ConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }
}
