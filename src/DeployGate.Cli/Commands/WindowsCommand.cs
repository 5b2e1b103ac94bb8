using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DeployGate.Engine;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate windows</c>: when an environment is open for an action — its windows minus
/// its freezes, merged — as a table (local and UTC), JSON, or an iCalendar file.</summary>
internal static class WindowsCommand
{
    public static Command Create()
    {
        var policy = new Option<string>("--policy") { Description = "policy file", Required = true };
        var environment = new Option<string>("--environment") { Description = "environment", Required = true };
        var action = new Option<string>("--action") { Description = "deploy or read-secret", DefaultValueFactory = _ => "deploy" };
        action.AcceptOnlyFromAmong("deploy", "read-secret");
        var secret = new Option<string?>("--secret") { Description = "for read-secret: the secret whose rule applies (default: any secret rule)" };
        var from = new Option<string?>("--from") { Description = "start, e.g. 2026-11-23T00:00:00Z (default: now)" };
        var days = new Option<int>("--days") { Description = "how many days to show (1-366)", DefaultValueFactory = _ => 14 };
        var format = new Option<string>("--format") { Description = "text, json, or ics (iCalendar, for calendar apps)", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json", "ics");

        var command = new Command("windows", "Show when an environment is open: windows minus freezes, in local and UTC time.")
        {
            policy, environment, action, secret, from, days, format,
        };
        command.SetAction(r => CommandSupport.Guard(r, () =>
        {
            var now = CliApp.Clock.GetUtcNow();
            var start = r.GetValue(from) is { } text ? CommandSupport.ParseInstant(text, "--from") : now;
            var count = r.GetValue(days);
            if (count is < 1 or > 366) throw new UsageException("--days must be between 1 and 366");
            if (!DecisionJson.TryParseAction(r.GetValue(action), out var gateAction)) throw new UsageException("--action must be deploy or read-secret");
            var path = r.GetValue(policy)!;
            var load = CommandSupport.LoadPolicy(r, path, start);
            foreach (var d in load.Diagnostics) r.Err().WriteLine(d.ToString());
            if (load.Policy is not { } compiled)
            {
                r.Err().WriteLine($"deploygate: policy `{path}` is invalid; nothing is open");
                return ExitCodes.Errors;
            }
            var envName = r.GetValue(environment)!;
            if (!compiled.TryGetEnvironment(envName, out var env))
                throw new UsageException($"environment `{envName}` is not defined in `{path}` (defined: {string.Join(", ", compiled.EnvironmentNames)})");

            var end = start + TimeSpan.FromDays(count);
            var open = Timeline.Open(compiled, env.Name, gateAction, start, end, r.GetValue(secret));
            var zone = CommandSupport.Zone(compiled);
            var view = new View(env.Name, DecisionJson.ActionName(gateAction), compiled.TimeZone, zone, start, end, open);
            switch (r.GetValue(format))
            {
                case "json": WriteJson(r.Out(), view); break;
                case "ics": WriteIcs(r.Out(), view, now); break;
                default: WriteText(r.Out(), view); break;
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private sealed record View(string Environment, string Action, string ZoneId, TimeZoneInfo Zone,
        DateTimeOffset From, DateTimeOffset To, IReadOnlyList<OpenInterval> Open);

    private static void WriteText(TextWriter w, View v)
    {
        var total = v.Open.Aggregate(TimeSpan.Zero, (s, i) => s + (i.End - i.Start));
        w.WriteLine($"{v.Environment} · {v.Action} · {v.ZoneId}");
        w.WriteLine($"from {CommandSupport.LocalLong(v.From, v.Zone)} to {CommandSupport.LocalLong(v.To, v.Zone)}: " +
                    (v.Open.Count == 0 ? "never open" : $"open {v.Open.Count} time{(v.Open.Count == 1 ? "" : "s")}, {CommandSupport.Length(total)} in all"));
        if (v.Open.Count == 0) return;
        w.WriteLine();
        var table = new TextTable("opens", "closes", "opens (UTC)", "closes (UTC)", "length");
        foreach (var i in v.Open)
        {
            var startNote = i.Start == v.From ? " *" : "";
            var endNote = i.End == v.To ? " *" : "";
            table.Add(CommandSupport.LocalLong(i.Start, v.Zone) + startNote, CommandSupport.LocalLong(i.End, v.Zone) + endNote,
                DecisionJson.Instant(i.Start), DecisionJson.Instant(i.End), CommandSupport.Length(i.End - i.Start));
        }
        table.Write(w);
        if (v.Open.Any(i => i.Start == v.From || i.End == v.To))
            w.WriteLine("  * cut at the edge of the range shown");
    }

    private static void WriteJson(TextWriter w, View v)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            j.WriteStartObject();
            j.WriteString("environment", v.Environment);
            j.WriteString("action", v.Action);
            j.WriteString("timezone", v.ZoneId);
            j.WriteString("from", DecisionJson.Instant(v.From));
            j.WriteString("to", DecisionJson.Instant(v.To));
            j.WriteStartArray("open");
            foreach (var i in v.Open)
            {
                j.WriteStartObject();
                j.WriteString("start", DecisionJson.Instant(i.Start));
                j.WriteString("end", DecisionJson.Instant(i.End));
                j.WriteString("start_local", Local(i.Start, v.Zone));
                j.WriteString("end_local", Local(i.End, v.Zone));
                j.WriteNumber("seconds", (long)(i.End - i.Start).TotalSeconds);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        w.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static string Local(DateTimeOffset t, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(t, zone).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    /// <summary>RFC 5545: CRLF line ends, lines folded at 75 octets, UTC times, stable UIDs.</summary>
    private static void WriteIcs(TextWriter w, View v, DateTimeOffset stamp)
    {
        var lines = new List<string>
        {
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//DeployGate//deploygate windows//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            $"X-WR-CALNAME:{Text($"DeployGate: {v.Environment} {v.Action}")}",
        };
        foreach (var i in v.Open)
        {
            var uid = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{v.Environment}|{v.Action}|{i.Start.ToUnixTimeSeconds()}")))[..32];
            lines.AddRange(
            [
                "BEGIN:VEVENT",
                $"UID:{uid}@deploygate",
                $"DTSTAMP:{Ics(stamp)}",
                $"DTSTART:{Ics(i.Start)}",
                $"DTEND:{Ics(i.End)}",
                $"SUMMARY:{Text($"{v.Environment} open for {v.Action}")}",
                $"DESCRIPTION:{Text($"DeployGate allows {v.Action} to {v.Environment} from {Local(i.Start, v.Zone)} to {Local(i.End, v.Zone)} ({v.ZoneId}), windows minus freezes.")}",
                "TRANSP:TRANSPARENT",
                "END:VEVENT",
            ]);
        }
        lines.Add("END:VCALENDAR");
        var sb = new StringBuilder();
        foreach (var line in lines) sb.Append(Fold(line));
        w.Write(sb.ToString());
    }

    private static string Ics(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    private static string Text(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(";", "\\;", StringComparison.Ordinal)
        .Replace(",", "\\,", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>Folds a content line at 75 octets (UTF-8), continuation lines start with a space.</summary>
    internal static string Fold(string line)
    {
        var sb = new StringBuilder();
        var octets = 0;
        foreach (var rune in line.EnumerateRunes())
        {
            var size = rune.Utf8SequenceLength;
            if (octets + size > 75)
            {
                sb.Append("\r\n ");
                octets = 1;
            }
            sb.Append(rune.ToString());
            octets += size;
        }
        return sb.Append("\r\n").ToString();
    }
}
