using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DeployGate.Api;
using DeployGate.Audit;
using DeployGate.Audit.Sqlite;
using DeployGate.Cli.Hosting;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate audit verify|query</c>: the audit log named by the same configuration as
/// <c>serve</c> (<c>Store:Provider</c>, <c>Store:ConnectionString</c>; default <c>./.deploygate/audit.db</c>).</summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var command = new Command("audit", "Verify or query the audit log") { Verify(), Query() };
        return command;
    }

    private static Command Verify()
    {
        var dev = new Option<bool>("--dev") { Description = "Use the --dev store (./.deploygate/audit.db)" };
        var command = new Command("verify", "Walk the hash chain and report the first broken record") { dev };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parseResult, ct) =>
        {
            var log = Open(parseResult, parseResult.GetValue(dev));
            if (log is null) return 2;
            await using (log)
            {
                try
                {
                    var result = await log.VerifyAsync(ct);
                    if (result.Intact)
                    {
                        Console.WriteLine($"chain intact: {result.RecordsChecked} record{(result.RecordsChecked == 1 ? "" : "s")} ({log.Location})");
                        // Keep this outside the store: removal of the newest records shows only against an older head.
                        Console.WriteLine($"head hash: {result.HeadHash}");
                        return 0;
                    }
                    Console.WriteLine($"{StoreCodes.ChainBroken}: chain broken at record {result.FirstBrokenSequence}: {result.Problem} ({result.RecordsChecked} records checked)");
                    return 1;
                }
                catch (AuditStoreException ex)
                {
                    Console.Error.WriteLine($"{ex.Code}: {ex.Message}");
                    return 2;
                }
            }
        });
        return command;
    }

    private static Command Query()
    {
        var dev = new Option<bool>("--dev") { Description = "Use the --dev store (./.deploygate/audit.db)" };
        var repository = new Option<string?>("--repository") { Description = "Only this repository (owner/name)" };
        var environment = new Option<string?>("--environment") { Description = "Only this environment" };
        var verdict = new Option<string?>("--verdict") { Description = "allow or deny" };
        var since = new Option<string?>("--since") { Description = "Only decisions at or after this instant (RFC 3339)" };
        var limit = new Option<int>("--limit") { Description = "At most this many, newest first (1..10000)", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "Print a JSON array of decisions (SPEC §3 shape)" };
        var command = new Command("query", "List decisions, newest first") { dev, repository, environment, verdict, since, limit, json };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parseResult, ct) =>
        {
            var query = new DecisionQuery(parseResult.GetValue(repository), parseResult.GetValue(environment), parseResult.GetValue(verdict),
                Limit: parseResult.GetValue(limit));
            if (query.Verdict is not (null or "allow" or "deny") || query.Limit is < 1 or > SqliteDecisionLog.MaxQueryLimit)
            {
                Console.Error.WriteLine("deploygate audit query: --verdict must be allow|deny and --limit 1..10000");
                return 2;
            }
            if (parseResult.GetValue(since) is { } sinceText)
            {
                if (!DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var sinceValue))
                {
                    Console.Error.WriteLine($"deploygate audit query: --since `{sinceText}` is not an instant");
                    return 2;
                }
                query = query with { Since = sinceValue };
            }
            var log = Open(parseResult, parseResult.GetValue(dev));
            if (log is null) return 2;
            await using (log)
            {
                IReadOnlyList<string> rows;
                try
                {
                    rows = await log.QueryAsync(query, ct);
                }
                catch (AuditStoreException ex)
                {
                    Console.Error.WriteLine($"{ex.Code}: {ex.Message}");
                    return 2;
                }
                if (parseResult.GetValue(json))
                {
                    Console.WriteLine("[" + string.Join(",", rows) + "]");
                    return 0;
                }
                foreach (var row in rows) Console.WriteLine(Summary(row));
                if (rows.Count == 0) Console.Error.WriteLine("no decisions match");
                return 0;
            }
        });
        return command;
    }

    private static StoreHandle? Open(ParseResult parseResult, bool dev)
    {
        var config = GateServer.ReadConfiguration([.. parseResult.UnmatchedTokens], dev);
        var storeProblems = config.Problems.Where(p => p.Key.StartsWith("Store:", StringComparison.Ordinal)).ToList();
        if (storeProblems.Count > 0)
        {
            foreach (var problem in storeProblems) Console.Error.WriteLine(problem);
            return null;
        }
        try
        {
            return new StoreHandle(GateServer.OpenDecisionLog(config.Store, Clock.System), GateServer.DescribeStore(config.Store));
        }
        catch (AuditStoreException ex)
        {
            Console.Error.WriteLine($"{ex.Code}: {ex.Message}");
            return null;
        }
    }

    /// <summary>An open audit log (SQLite or PostgreSQL) and where it is, for messages.</summary>
    private sealed class StoreHandle(IDecisionLog log, string location) : IAsyncDisposable
    {
        public string Location { get; } = location;

        public Task<ChainVerification> VerifyAsync(CancellationToken ct) => log.VerifyAsync(ct);

        public Task<IReadOnlyList<string>> QueryAsync(DecisionQuery query, CancellationToken ct) => log.QueryAsync(query, ct);

        public ValueTask DisposeAsync() => log is IAsyncDisposable d ? d.DisposeAsync() : ValueTask.CompletedTask;
    }

    private static string Summary(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var d = doc.RootElement;
        string S(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "-";
        var request = d.GetProperty("request");
        var identity = d.GetProperty("identity");
        var firstFail = d.GetProperty("checks").EnumerateArray()
            .FirstOrDefault(c => S(c, "result") == "fail") is { ValueKind: JsonValueKind.Object } f ? $"{S(f, "code")}: {S(f, "message")}" : "";
        var target = request.TryGetProperty("target", out var t) ? t.GetString() : request.TryGetProperty("secret", out var s) ? s.GetString() : "";
        return $"{S(d, "evaluated_at")}  {S(d, "verdict"),-5}  {S(d, "decision_id")}  {S(identity, "repository")}  {S(request, "action")} {S(request, "environment")} {target}  {firstFail}".TrimEnd();
    }
}
