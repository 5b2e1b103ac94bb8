using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace DeployGate.Benchmarks.Http;

/// <summary><c>http --cli deploygate.dll --plaintext plaintext.dll [--out file.md] [--inprocess file] [--seconds 3]
/// [--targets plaintext,example,large,example-nocache,example-allows,example-redeem,example-github,example-postgres,example-tmpfs,large-edits]</c>: the HTTP load run over loopback (see docs/performance.md).</summary>
internal static class HttpRun
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;
    private static readonly int[] Sweep = [1, 4, 16, 64, 256];
    private const int OpenLoopConnections = 64;
    private static readonly TimeSpan OpenLoopWarmUp = TimeSpan.FromSeconds(1);
    private const int LargeRepositories = 32;
    private const int LargeEnvironments = 200;
    private const int LargeIdentities = 2000;

    private sealed record TargetResult(string Name, string Description, PhaseResult[] Sweep, PhaseResult Half, long Answered, long? AuditRows)
    {
        /// <summary>The plaintext baseline's open loop at this target's half-saturation rate (same connections, same
        /// duration): how much of the tail at that rate is the machine and the load generator.</summary>
        public PhaseResult? BaselineAtSameRate { get; init; }

        public PhaseResult Unloaded => Sweep[0];
        public PhaseResult Saturation => Sweep.MaxBy(p => p.Rate)!;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        string? Arg(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        // --open-rate N: an experiment, not a report: only the 1-client phase of the sweep, then the open loop at N/s.
        double? openRate = Arg("--open-rate") is { } rateArg ? double.Parse(rateArg, Ci) : null;
        var cli = Path.GetFullPath(Arg("--cli") ?? throw new ArgumentException("--cli <deploygate.dll> is required"));
        var plaintext = Path.GetFullPath(Arg("--plaintext") ?? throw new ArgumentException("--plaintext <dll> is required"));
        var seconds = double.Parse(Arg("--seconds") ?? "3", Ci);
        var targets = (Arg("--targets") ?? "plaintext,example,large,example-nocache").Split(',');
        var examplePolicy = Path.Combine(AppContext.BaseDirectory, "web.yml");
        var phase = TimeSpan.FromSeconds(seconds);

        var loadBefore = LoadAverage();
        var root = Directory.CreateTempSubdirectory("deploygate-bench-");
        var results = new List<TargetResult>();
        string? memoryRoot = null;
        DiskFloor.Result? disk = null;
        try
        {
            // The disk's own floor, where the audit files will be: every lone request waits for at least one of these.
            disk = DiskFloor.Measure(Path.Combine(root.FullName, "fsync-probe"), phase);
            Console.Error.WriteLine(string.Create(Ci, $"# disk: {disk.Syncs:N0} syncs back to back: 4 KiB write + fsync p50 {disk.PerSync.P50:F0} µs p99 {disk.PerSync.P99:F0} µs p99.9 {disk.PerSync.P999:F0} µs; open-loop floor p50 {disk.OpenLoop.P50:F0} µs p99 {disk.OpenLoop.P99:F0} µs p99.9 {disk.OpenLoop.P999:F0} µs"));
            using var key = DevKey.Create();
            foreach (var target in targets)
            {
                // `-tmpfs`: the gate's working directory (audit log, its WAL, the policy folder) in memory, so no commit waits
                // for the disk. Not durable, so not a configuration to run: it measures the disk's share of each figure.
                var tmpfs = target.EndsWith("-tmpfs", StringComparison.Ordinal);
                var dir = Directory.CreateDirectory(Path.Combine(tmpfs ? TmpfsRoot(ref memoryRoot) : root.FullName, target)).FullName;
                Console.Error.WriteLine($"# {target}: starting");
                TargetResult result;
                if (target == "plaintext")
                {
                    using var server = await ServerProcess.StartAsync(plaintext, ["--urls", "http://127.0.0.1:{port}"], dir, "/");
                    var requests = Workload.Example(key, server.BaseUrl, "/", DateTimeOffset.UtcNow).Requests;
                    result = await MeasureAsync(target, "Kestrel minimal API answering `OK` (same requests, no work)", server, requests, phase, openRate);
                }
                else if (target == "example-postgres")
                {
                    result = await MeasurePostgresAsync(cli, dir, key, examplePolicy, phase, openRate);
                }
                else if (target == "example-github")
                {
                    result = await MeasureGitHubAsync(cli, plaintext, dir, key, examplePolicy, phase, openRate);
                }
                else
                {
                    var large = target.StartsWith("large", StringComparison.Ordinal);
                    var policies = Directory.CreateDirectory(Path.Combine(dir, "policies", "acme")).FullName;
                    if (large)
                    {
                        var yaml = Scenario.LargePolicy(LargeEnvironments, LargeIdentities, openEvery: 4);
                        for (var r = 0; r < LargeRepositories; r++) await File.WriteAllTextAsync(Path.Combine(policies, $"r{r}.yml"), yaml);
                    }
                    else
                    {
                        File.Copy(examplePolicy, Path.Combine(policies, "web.yml"));
                    }
                    key.WriteDevIssuerFile(Path.Combine(dir, ".deploygate", "dev-issuer.json"));
                    string[] serveArgs = ["serve", "--dev", "--urls", "http://127.0.0.1:{port}"];
                    if (target.EndsWith("-nocache", StringComparison.Ordinal)) serveArgs = [.. serveArgs, "--DeployGate:TokenCacheSize=0"];
                    using var server = await ServerProcess.StartAsync(cli, [.. serveArgs, .. ExperimentArgs()], dir, "/api/healthz", ExperimentEnvironment());
                    var now = DateTimeOffset.UtcNow;
                    var workload = large
                        ? Workload.Large(key, server.BaseUrl, "/api/v1/authorize", now, LargeRepositories, LargeEnvironments)
                        : Workload.Example(key, server.BaseUrl, "/api/v1/authorize", now);
                    var description = large
                        ? $"`deploygate serve --dev`, large policy ({LargeEnvironments} environments, {LargeIdentities:N0} identities) for {LargeRepositories} repositories"
                        : "`deploygate serve --dev`, example policy examples/policies/acme/web.yml";
                    if (target.EndsWith("-nocache", StringComparison.Ordinal)) description += ", validated-token cache off: RS256 verified on every request";
                    if (tmpfs) description += $", working directory on tmpfs ({MemoryFilesystem}): audit commits wait for no disk (not durable: the disk's share of the other figures)";
                    var requests = workload.Requests;
                    var probed = 0;
                    var redeem = target.EndsWith("-redeem", StringComparison.Ordinal);
                    if (target.EndsWith("-allows", StringComparison.Ordinal) || redeem)
                    {
                        // Traffic of allows only, as a pipeline that is let through sends: every answer signs a grant.
                        var allowed = await AllowedAsync(server, requests);
                        if (allowed.Length == 0) throw new InvalidOperationException($"{target}: the gate allowed none of the {requests.Length} requests");
                        description += string.Create(Ci, $", only the requests it allowed when each was sent once before the run ({allowed.Length:N0} of {requests.Length:N0}, cycled): every answer signs an ES256 grant");
                        requests = [.. Enumerable.Range(0, Workload.RequestCount).Select(i => allowed[i % allowed.Length])];
                        probed = workload.Requests.Length;   // answered and audited too
                    }
                    if (redeem) description += "; each operation is one of those authorizes and then, on the same connection, the redeem of its grant (`POST /api/v1/grants/redeem`, the authorize body as `expect`): two requests timed as one, so its rates are operations a second";
                    // `-edits`: a policy file rewritten every EditInterval for as long as the target is measured, so its
                    // figures say what edits under load cost (each edit is a compile of a large policy).
                    using var editing = new CancellationTokenSource();
                    var editor = target.EndsWith("-edits", StringComparison.Ordinal)
                        ? EditPoliciesAsync(policies, Scenario.LargePolicy(LargeEnvironments, LargeIdentities, openEvery: 4), editing.Token)
                        : Task.FromResult(0);
                    result = await MeasureAsync(target, description, server,
                        redeem ? RedeemOperation.Create(requests, new Uri(server.BaseUrl).Authority) : LoadPhases.Send(requests), phase, openRate);
                    await editing.CancelAsync();
                    var edits = await editor;
                    result = result with { Answered = result.Answered + probed };
                    server.Dispose();   // stop before reading the audit file
                    if (target.EndsWith("-edits", StringComparison.Ordinal))
                    {
                        var compiles = File.ReadLines(server.LogFile).Count(l => l.Contains("loaded policy of ", StringComparison.Ordinal));
                        result = result with { Description = result.Description + string.Create(Ci, $"; one of the {LargeRepositories} policy files rewritten every {EditInterval.TotalSeconds:F1} s while it was measured ({edits:N0} edits), and the gate compiled a policy {compiles:N0} times in all ({LargeRepositories} of them at the first requests)") };
                    }
                    result = result with { AuditRows = CountAuditRows(Path.Combine(dir, ".deploygate", "audit.db")) };
                    if (result.Sweep.Sum(p => p.Other) + result.Half.Other > 0)
                        Console.Error.WriteLine($"# {target}: some answers were neither 200 nor 403; see {server.LogFile}");
                }
                results.Add(result);
            }

            if (targets.Contains("plaintext") && results.Any(r => r.Name != "plaintext"))
            {
                // The baseline again, at each gate target's half-saturation rate: its own half rate is several times
                // higher, so its tail there says little about the tail at the gate's rate.
                Console.Error.WriteLine("# plaintext at the gates' half-saturation rates: starting");
                var dir = Directory.CreateDirectory(Path.Combine(root.FullName, "plaintext-same-rate")).FullName;
                using var server = await ServerProcess.StartAsync(plaintext, ["--urls", "http://127.0.0.1:{port}"], dir, "/");
                var requests = Workload.Example(key, server.BaseUrl, "/", DateTimeOffset.UtcNow).Requests;
                await LoadPhases.ClosedLoopAsync("warm-up", server.EndPoint, LoadPhases.Send(requests), 16, TimeSpan.FromSeconds(3));
                for (var i = 0; i < results.Count; i++)
                {
                    if (results[i].Name == "plaintext") continue;
                    var rate = results[i].Half.TargetRate;   // half the saturation rate (or --open-rate)
                    var same = await LoadPhases.OpenLoopAsync("open", server.EndPoint, LoadPhases.Send(requests), OpenLoopConnections, rate, phase + phase, OpenLoopWarmUp);
                    Console.Error.WriteLine(string.Create(Ci, $"# plaintext: open loop at {rate:F0}/s ({results[i].Name}'s half rate) p50 {same.P(0.5):F0} µs p99 {same.P(0.99):F0} µs p99.9 {same.P(0.999):F0} µs"));
                    results[i] = results[i] with { BaselineAtSameRate = same };
                }
            }
        }
        finally
        {
            // DEPLOYGATE_BENCH_KEEP=1: keep the targets' folders (audit files, server logs) to look at afterwards.
            if (Environment.GetEnvironmentVariable("DEPLOYGATE_BENCH_KEEP") is null)
            {
                root.Delete(recursive: true);
                if (memoryRoot is not null) Directory.Delete(memoryRoot, recursive: true);
            }
            else
            {
                Console.Error.WriteLine($"# kept: {root.FullName}{(memoryRoot is null ? "" : $" and {memoryRoot} (in memory until deleted)")}");
            }
        }

        var inprocess = Arg("--inprocess") is { } file && File.Exists(file) ? await File.ReadAllTextAsync(file) : null;
        var markdown = Report(results, inprocess, loadBefore, LoadAverage(), seconds, disk);
        Console.WriteLine(markdown);
        if (Arg("--out") is { } outFile)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
            await File.WriteAllTextAsync(outFile, markdown);
            Console.Error.WriteLine($"# written to {outFile}");
        }
        var failed = results.Any(r => r.Sweep.Sum(p => p.Other) + r.Half.Other > 0 || (r.AuditRows is { } rows && rows < r.Answered));
        return failed ? 1 : 0;
    }

    /// <summary>How often <c>-edits</c> targets rewrite a policy file.</summary>
    private static readonly TimeSpan EditInterval = TimeSpan.FromSeconds(1);

    /// <summary>Rewrites <c>acme/r0.yml</c>, <c>r1.yml</c>, … in turn, one every <see cref="EditInterval"/>, with the same
    /// policy and a comment that makes each content new, until cancelled; returns how many it rewrote. Each is written
    /// beside the file and renamed over it, as careful tools do, so the gate never reads half a file.</summary>
    private static async Task<int> EditPoliciesAsync(string folder, string yaml, CancellationToken cancellationToken)
    {
        var edits = 0;
        using var timer = new PeriodicTimer(EditInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var file = Path.Combine(folder, string.Create(Ci, $"r{edits % LargeRepositories}.yml"));
                await File.WriteAllTextAsync(file + ".edit", yaml + string.Create(Ci, $"# edit {edits}\n"), CancellationToken.None);
                File.Move(file + ".edit", file, overwrite: true);
                edits++;
            }
        }
        catch (OperationCanceledException)
        {
        }
        return edits;
    }

    /// <summary>Where <c>-tmpfs</c> targets run: Linux's shared-memory filesystem, which every Debian machine mounts.</summary>
    private const string MemoryFilesystem = "/dev/shm";

    /// <summary>A fresh folder on <see cref="MemoryFilesystem"/> for this run (created once), or a clear error where there is none.</summary>
    private static string TmpfsRoot(ref string? created)
    {
        if (created is not null) return created;
        if (!Directory.Exists(MemoryFilesystem))
            throw new InvalidOperationException($"the -tmpfs targets need {MemoryFilesystem} (a tmpfs mount); leave them out of --targets on this machine");
        created = Path.Combine(MemoryFilesystem, $"deploygate-bench-{Environment.ProcessId}-{Guid.NewGuid():N}");
        return Directory.CreateDirectory(created).FullName;
    }

    /// <summary><c>example-postgres</c>: the example workload against the scale-out configuration, `deploygate serve`
    /// (not <c>--dev</c>, which ignores <c>Store:*</c>) over the PostgreSQL of <c>DEPLOYGATE_BENCH_POSTGRES</c>
    /// (bench/run.sh starts a throwaway cluster, fsync on). Its issuer is a second, idle <c>serve --dev</c> holding the
    /// run's key, whose JWKS the gate fetches at start, as it would GitHub's.</summary>
    private static async Task<TargetResult> MeasurePostgresAsync(string cli, string dir, DevKey key, string examplePolicy,
        TimeSpan phase, double? openRate)
    {
        var connection = Environment.GetEnvironmentVariable("DEPLOYGATE_BENCH_POSTGRES") is { Length: > 0 } c ? c
            : throw new InvalidOperationException("target example-postgres needs DEPLOYGATE_BENCH_POSTGRES (an Npgsql connection string; bench/run.sh sets it)");
        var issuerDir = Directory.CreateDirectory(Path.Combine(dir, "issuer")).FullName;
        key.WriteDevIssuerFile(Path.Combine(issuerDir, ".deploygate", "dev-issuer.json"));
        using var issuerHost = await ServerProcess.StartAsync(cli, ["serve", "--dev", "--urls", "http://127.0.0.1:{port}"], issuerDir, "/api/healthz");
        var issuer = issuerHost.BaseUrl + "/api/dev";

        var gateDir = Directory.CreateDirectory(Path.Combine(dir, "gate")).FullName;
        File.Copy(examplePolicy, Path.Combine(Directory.CreateDirectory(Path.Combine(gateDir, "policies", "acme")).FullName, "web.yml"));
        string[] serveArgs =
        [
            "serve", "--urls", "http://127.0.0.1:{port}", "--DeployGate:PublicUrl=http://127.0.0.1:{port}",
            $"--DeployGate:Issuer={issuer}", "--DeployGate:AllowedOwners=acme", "--Policy:Directory=./policies",
            "--Store:Provider=postgres", $"--Store:ConnectionString={connection}",
        ];
        using var server = await ServerProcess.StartAsync(cli, serveArgs, gateDir, "/api/healthz");
        var workload = Workload.Example(key, server.BaseUrl, "/api/v1/authorize", DateTimeOffset.UtcNow, issuer);
        var database0 = PostgresCpu();
        var result = await MeasureAsync("example-postgres", "", server, workload.Requests, phase, openRate);
        var databaseUs = (PostgresCpu() - database0).TotalMicroseconds / Math.Max(1, result.Answered);
        result = result with
        {
            Description = string.Create(Ci, $"`deploygate serve` over PostgreSQL (`Store:Provider=postgres`; a throwaway local cluster on the same disk, fsync on), example policy, issuer JWKS fetched over loopback; PostgreSQL's own processes, not counted in the server CPU columns, used {databaseUs:F0} µs CPU per answered request over the whole run"),
        };
        server.Dispose();
        if (result.Sweep.Sum(p => p.Other) + result.Half.Other > 0)
            Console.Error.WriteLine($"# example-postgres: some answers were neither 200 nor 403; see {server.LogFile}");
        await using var db = new Npgsql.NpgsqlConnection(connection);
        await db.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM decision_log", db);
        return result with { AuditRows = (long)(await count.ExecuteScalarAsync())! };
    }

    /// <summary>Experiments: extra <c>serve</c> arguments for the gate (<c>DEPLOYGATE_BENCH_GATE_ARGS</c>), e.g.
    /// <c>--Logging:LogLevel:DeployGate=Warning</c> or <c>--Policy:MaxAge=0</c>.</summary>
    private static string[] ExperimentArgs() =>
        Environment.GetEnvironmentVariable("DEPLOYGATE_BENCH_GATE_ARGS") is { Length: > 0 } extra ? extra.Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];

    /// <summary>Experiments: environment variables for the gate only (<c>DEPLOYGATE_BENCH_GATE_ENV</c>), e.g.
    /// <c>DOTNET_GCgen0size=0x1000000</c>.</summary>
    private static Dictionary<string, string> ExperimentEnvironment() =>
        (Environment.GetEnvironmentVariable("DEPLOYGATE_BENCH_GATE_ENV") ?? "")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);

    /// <summary><c>example-github</c>: the example workload with the production policy source, `deploygate serve` with
    /// <c>Policy:Source=github</c>, reading the example policy from a fake GitHub REST API on loopback (the plaintext
    /// program with <c>--github-policy</c>, its own process) through the App's installation token, with durable SQLite
    /// audit. Its issuer is an idle <c>serve --dev</c>, as for <c>example-postgres</c>. The report counts the GitHub API
    /// calls the gate made, per answered request: with the default <c>Policy:MaxAge</c> a few for the whole run, with
    /// <c>--Policy:MaxAge=0</c> (an experiment) two before every answer.</summary>
    private static async Task<TargetResult> MeasureGitHubAsync(string cli, string plaintext, string dir, DevKey key, string examplePolicy,
        TimeSpan phase, double? openRate)
    {
        var issuerDir = Directory.CreateDirectory(Path.Combine(dir, "issuer")).FullName;
        key.WriteDevIssuerFile(Path.Combine(issuerDir, ".deploygate", "dev-issuer.json"));
        using var issuerHost = await ServerProcess.StartAsync(cli, ["serve", "--dev", "--urls", "http://127.0.0.1:{port}"], issuerDir, "/api/healthz");
        var issuer = issuerHost.BaseUrl + "/api/dev";
        using var github = await ServerProcess.StartAsync(plaintext, ["--urls", "http://127.0.0.1:{port}", "--github-policy", examplePolicy],
            Directory.CreateDirectory(Path.Combine(dir, "github")).FullName, "/");

        var gateDir = Directory.CreateDirectory(Path.Combine(dir, "gate")).FullName;
        var appKey = Path.Combine(gateDir, "app-key.pem");
        using (var rsa = RSA.Create(2048)) await File.WriteAllTextAsync(appKey, rsa.ExportRSAPrivateKeyPem());
        string[] serveArgs =
        [
            "serve", "--urls", "http://127.0.0.1:{port}", "--DeployGate:PublicUrl=http://127.0.0.1:{port}",
            $"--DeployGate:Issuer={issuer}", "--DeployGate:AllowedOwners=acme", "--Policy:Source=github",
            $"--GitHub:ApiUrl={github.BaseUrl}", "--GitHub:AppId=1", $"--GitHub:PrivateKeyPath={appKey}",
        ];
        using var server = await ServerProcess.StartAsync(cli, [.. serveArgs, .. ExperimentArgs()], gateDir, "/api/healthz", ExperimentEnvironment());
        var workload = Workload.Example(key, server.BaseUrl, "/api/v1/authorize", DateTimeOffset.UtcNow, issuer);
        var calls0 = await GitHubCallsAsync(github);
        var result = await MeasureAsync("example-github", "", server, workload.Requests, phase, openRate);
        var calls = await GitHubCallsAsync(github) - calls0;
        result = result with
        {
            Description = string.Create(Ci, $"`deploygate serve` with `Policy:Source=github`{(ExperimentArgs().Length > 0 ? $" ({string.Join(' ', ExperimentArgs())})" : "")}, the example policy read from a fake GitHub REST API on loopback (its own process), durable SQLite audit, issuer JWKS fetched over loopback; the gate called the GitHub API {calls:N0} times for {result.Answered:N0} answered requests ({PerRequest(calls, result.Answered)})"),
        };
        server.Dispose();   // stop before reading the audit file
        if (result.Sweep.Sum(p => p.Other) + result.Half.Other > 0)
            Console.Error.WriteLine($"# example-github: some answers were neither 200 nor 403; see {server.LogFile}");
        return result with { AuditRows = CountAuditRows(Path.Combine(gateDir, ".deploygate", "audit.db")) };
    }

    private static string PerRequest(long calls, long answered) =>
        calls == 0 ? "none" : calls >= answered ? string.Create(Ci, $"{(double)calls / answered:F2} per request") : string.Create(Ci, $"one per {(double)answered / calls:N0} requests");

    private static async Task<long> GitHubCallsAsync(ServerProcess github)
    {
        using var client = new HttpClient();
        return long.Parse(await client.GetStringAsync(new Uri(github.BaseUrl + "/bench/github-requests")), Ci);
    }

    /// <summary>CPU time (user + system) of every process named <c>postgres</c> now running: the cluster's backends,
    /// WAL writer, checkpointer and the rest (ended processes are not counted).</summary>
    private static TimeSpan PostgresCpu()
    {
        long ticks = 0;
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out _)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(proc, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                if (stat[(open + 1)..close] != "postgres") continue;
                var fields = stat[(close + 2)..].Split(' ');
                ticks += long.Parse(fields[11], Ci) + long.Parse(fields[12], Ci);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
            {
                // the process ended meanwhile
            }
        }
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    /// <summary>The requests the gate answers 200, each sent once on one connection.</summary>
    private static async Task<byte[][]> AllowedAsync(ServerProcess server, byte[][] requests)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var connection = await HttpConnection.OpenAsync(server.EndPoint, cts.Token);
        var allowed = new List<byte[]>();
        foreach (var request in requests)
        {
            if (await connection.ExchangeAsync(request, cts.Token) == 200) allowed.Add(request);
        }
        return [.. allowed];
    }

    private static async Task<TargetResult> MeasureAsync(string name, string description, ServerProcess server, byte[][] requests, TimeSpan phase,
        double? openRate) => await MeasureAsync(name, description, server, LoadPhases.Send(requests), phase, openRate);

    private static async Task<TargetResult> MeasureAsync(string name, string description, ServerProcess server, Operation operation, TimeSpan phase,
        double? openRate)
    {
        async Task<PhaseResult> Measured(Func<Task<PhaseResult>> run)
        {
            var (s0, g0) = (server.CpuTime, Environment.CpuUsage.TotalTime);
            var p = await run();
            return p with { ServerCpu = (server.CpuTime - s0).TotalSeconds, GeneratorCpu = (Environment.CpuUsage.TotalTime - g0).TotalSeconds };
        }
        // Every token (so every repository's policy is compiled and every token verified once) before timing anything.
        var first = await LoadPhases.ClosedLoopAsync("first", server.EndPoint, operation, 2, TimeSpan.FromSeconds(120), Workload.TokenCount);
        // Warm-up under load and then alone: each concurrency takes its own code paths (a lone request commits its
        // audit record inline, a loaded one hands it to the writer thread), and the JIT recompiles hot methods in
        // the background for seconds after they first run. Without the lone part, tiering ran during the 1-client
        // phase and took a third of the server's CPU there.
        var warm = await LoadPhases.ClosedLoopAsync("warm-up", server.EndPoint, operation, 16, TimeSpan.FromSeconds(3));
        var warmAlone = await LoadPhases.ClosedLoopAsync("warm-up", server.EndPoint, operation, 1, TimeSpan.FromSeconds(3));
        Console.Error.WriteLine($"# {name}: warm-up {warm.Rate:F0}/s at 16 clients, {warmAlone.Rate:F0}/s alone");
        var sweep = new List<PhaseResult>();
        foreach (var c in openRate is null ? Sweep : [1])
        {
            var p = await Measured(() => LoadPhases.ClosedLoopAsync("closed", server.EndPoint, operation, c, phase));
            Console.Error.WriteLine(string.Create(Ci, $"# {name}: {c,3} clients {p.Rate,8:F0}/s p50 {p.P(0.5),8:F0} µs p99 {p.P(0.99),8:F0} µs ({p.Ok} 200, {p.Forbidden} 403, {p.Other} other) CPU µs/req server {p.ServerCpuPerRequestUs:F0} generator {p.GeneratorCpuPerRequestUs:F0}"));
            sweep.Add(p);
        }
        var max = openRate is { } fixedRate ? 2 * fixedRate : sweep.Max(p => p.Rate);
        var half = await Measured(() => LoadPhases.OpenLoopAsync("open", server.EndPoint, operation, OpenLoopConnections, max / 2, phase + phase, OpenLoopWarmUp));
        Console.Error.WriteLine(string.Create(Ci, $"# {name}: open loop at {max / 2:F0}/s achieved {half.Rate:F0}/s p50 {half.P(0.5):F0} µs p99 {half.P(0.99):F0} µs p99.9 {half.P(0.999):F0} µs CPU µs/req server {half.ServerCpuPerRequestUs:F0} generator {half.GeneratorCpuPerRequestUs:F0}"));
        var answered = first.Ok + first.Forbidden + warm.Ok + warm.Forbidden + warmAlone.Ok + warmAlone.Forbidden + sweep.Sum(p => p.Ok + p.Forbidden) + half.Ok + half.Forbidden + half.WarmUpAnswered;
        return new TargetResult(name, description, [.. sweep], half, answered, null);
    }

    private static long? CountAuditRows(string path)
    {
        if (!File.Exists(path)) return null;
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM decision_log";
        return (long)command.ExecuteScalar()!;
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private static string CpuModel() => File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?"
        : "?";

    private static string Us(double us) => double.IsNaN(us) ? "–" : us >= 10_000 ? (us / 1000).ToString("F1", Ci) + " ms" : us.ToString("F0", Ci) + " µs";

    private static string Report(List<TargetResult> results, string? inprocess, string loadBefore, string loadAfter, double seconds,
        DiskFloor.Result? disk)
    {
        var b = new StringBuilder();
        b.AppendLine(Ci, $"# DeployGate benchmark — {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
        b.AppendLine();
        b.AppendLine(Ci, $"Machine: {Environment.ProcessorCount} cores, {CpuModel()}, .NET {Environment.Version}, {RuntimeInformation.OSDescription}. ");
        b.AppendLine(Ci, $"Load average before/after: {loadBefore} / {loadAfter} (the machine is shared: compare ratios, not absolutes). ");
        b.AppendLine(Ci, $"Command: `bench/run.sh`. Each closed-loop phase {seconds:F0} s after a warm-up (3 s at 16 clients, 3 s at 1); open loop {2 * seconds:F0} s over {OpenLoopConnections} connections at half the best closed-loop rate, after {OpenLoopWarmUp.TotalSeconds:F0} s at that rate unmeasured; its requests are sent at their instants to within ~0.1 ms. ");
        if (disk is not null)
        {
            b.AppendLine(Ci, $"Disk, where the audit files are (but for `-tmpfs` targets): a 4 KiB write + `fsync` takes p50 {Us(disk.PerSync.P50)}, p99 {Us(disk.PerSync.P99)}, p99.9 {Us(disk.PerSync.P999)} ({disk.Syncs:N0} back to back for {seconds:0.#} s, before the targets run). Every durable answer waits for at least one. ");
            b.AppendLine(Ci, $"The disk's open-loop floor: a request arriving at an evenly spread instant that waits for the next of those syncs after the one in progress (a gate of zero cost committing back to back) waits p50 {Us(disk.OpenLoop.P50)}, p99 {Us(disk.OpenLoop.P99)}, p99.9 {Us(disk.OpenLoop.P999)}: long syncs count by their length, as arrivals meet them, so this is the floor under every durable half-saturation p99 below. ");
        }
        b.AppendLine(Ci, $"Requests: {Workload.RequestCount:N0} distinct (token, body) pairs, {Workload.TokenCount} distinct RS256 tokens, cycled; load generator (C#, raw sockets, keep-alive) on the same 2 cores.");
        b.AppendLine();
        if (inprocess is not null)
        {
            b.AppendLine("## In-process decision (SPEC §13: p50 ≤ 1 µs, p99 ≤ 5 µs, ≤ 1 KiB allocated)");
            b.AppendLine();
            b.Append(inprocess.TrimEnd()).AppendLine();   // markdown, as bench/run.sh assembled it
            b.AppendLine();
        }
        var baseline = results.FirstOrDefault(r => r.Name == "plaintext");
        var gates = results.Where(r => r.Name != "plaintext").ToList();
        b.AppendLine("## `POST /api/v1/authorize` over loopback against SPEC §13");
        b.AppendLine();
        b.Append("| figure | SPEC §13 |");
        foreach (var g in gates) b.Append(Ci, $" {g.Name} |");
        if (baseline is not null) b.Append(" Kestrel plaintext |");
        b.AppendLine();
        b.Append("|---|---|");
        foreach (var _ in gates) b.Append("---|");
        if (baseline is not null) b.Append("---|");
        b.AppendLine();
        void Row(string figure, string spec, Func<TargetResult, double> value, Func<double, string> format, bool? higherIsBetter)
        {
            b.Append(Ci, $"| {figure} | {spec} |");
            var @base = baseline is null ? double.NaN : value(baseline);
            foreach (var g in gates)
            {
                var v = value(g);
                var ratio = double.IsNaN(@base) || higherIsBetter is null ? "" : higherIsBetter.Value ? $" ({v / @base:P0} of baseline)" : $" ({v / @base:F1}× baseline)";
                b.Append(Ci, $" {format(v)}{ratio} |");
            }
            if (baseline is not null) b.Append(Ci, $" {format(@base)} |");
            b.AppendLine();
        }
        Row("saturation throughput (best closed loop)", "≥ 20,000/s", r => r.Saturation.Rate, v => v.ToString("N0", Ci) + "/s", true);
        Row("… at clients", "", r => r.Saturation.Connections, v => v.ToString("F0", Ci), null);
        Row("unloaded p50 (1 client, sequential)", "≤ 250 µs", r => r.Unloaded.P(0.5), Us, false);
        Row("unloaded p99", "≤ 1 ms", r => r.Unloaded.P(0.99), Us, false);
        Row("unloaded p99.9", "", r => r.Unloaded.P(0.999), Us, false);
        Row("server CPU per request at saturation", "", r => r.Saturation.ServerCpuPerRequestUs, Us, false);
        Row("load generator CPU per request at saturation", "", r => r.Saturation.GeneratorCpuPerRequestUs, Us, false);
        Row("half saturation: rate achieved", "", r => r.Half.Rate, v => v.ToString("N0", Ci) + "/s", true);
        Row("server CPU per request at half saturation", "", r => r.Half.ServerCpuPerRequestUs, Us, false);
        Row("half saturation p50 (open loop)", "", r => r.Half.P(0.5), Us, false);
        Row("half saturation p99", "≤ 2 ms", r => r.Half.P(0.99), Us, false);
        Row("half saturation p99.9", "", r => r.Half.P(0.999), Us, false);
        if (disk is not null && gates.Count > 0)
        {
            // Durable targets only: a `-tmpfs` target's files are in memory, and plaintext writes nothing.
            b.Append("| the disk alone, open loop: p99 / p99.9 (no gate work; see above) | |");
            foreach (var g in gates) b.Append(g.Name.EndsWith("-tmpfs", StringComparison.Ordinal) ? " – |" : $" {Us(disk.OpenLoop.P99)} / {Us(disk.OpenLoop.P999)} |");
            b.AppendLine(baseline is null ? "" : " – |");
        }
        if (gates.Any(g => g.BaselineAtSameRate is not null))
        {
            b.Append("| Kestrel plaintext at the same rate: p50 / p99 / p99.9 | |");
            foreach (var g in gates)
                b.Append(g.BaselineAtSameRate is { } same ? $" {Us(same.P(0.5))} / {Us(same.P(0.99))} / {Us(same.P(0.999))} |" : " – |");
            b.AppendLine(" – |");
        }
        b.AppendLine();
        foreach (var r in results)
        {
            var allow = r.Sweep.Sum(p => p.Ok) + r.Half.Ok;
            var deny = r.Sweep.Sum(p => p.Forbidden) + r.Half.Forbidden;
            var other = r.Sweep.Sum(p => p.Other) + r.Half.Other;
            var audit = r.AuditRows is { } rows ? string.Create(Ci, $"; audit rows {rows:N0} for {r.Answered:N0} answered decisions (incl. warm-up)") : "";
            b.AppendLine(Ci, $"- **{r.Name}**: {r.Description}; answers 200/403/other: {allow:N0}/{deny:N0}/{other:N0}{audit}");
        }
        b.AppendLine();
        b.AppendLine("## Cost against concurrent clients (closed loop)");
        b.AppendLine();
        b.AppendLine("| target | clients | req/s | p50 | p99 | p99.9 | server CPU/req | generator CPU/req |");
        b.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            foreach (var p in r.Sweep)
                b.AppendLine(Ci, $"| {r.Name} | {p.Connections} | {p.Rate:N0} | {Us(p.P(0.5))} | {Us(p.P(0.99))} | {Us(p.P(0.999))} | {Us(p.ServerCpuPerRequestUs)} | {Us(p.GeneratorCpuPerRequestUs)} |");
        }
        return b.ToString();
    }
}
