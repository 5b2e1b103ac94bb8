using System.CommandLine;
using System.Globalization;
using DeployGate.Engine;

namespace DeployGate.Cli.Commands;

internal static class CommandSupport
{
    public static TextWriter Out(this ParseResult r) => r.InvocationConfiguration.Output;

    public static TextWriter Err(this ParseResult r) => r.InvocationConfiguration.Error;

    /// <summary>Runs a command body; a <see cref="UsageException"/> becomes exit 2 with its message.</summary>
    public static int Guard(ParseResult r, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (UsageException ex)
        {
            r.Err().WriteLine($"deploygate: {ex.Message}");
            return ExitCodes.Usage;
        }
    }

    /// <summary>An instant from the command line: RFC 3339 with <c>Z</c> or an offset.</summary>
    public static DateTimeOffset ParseInstant(string text, string option)
    {
        string[] formats = ["yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"];
        if ((text.EndsWith('Z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':')) &&
            DateTimeOffset.TryParseExact(text, formats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var t))
        {
            return t;
        }
        throw new UsageException($"{option} `{text}` is not an instant; use e.g. 2026-11-23T09:00:00Z or 2026-11-23T10:00:00+01:00");
    }

    /// <summary>Loads a policy file for a command; diagnostics go to stderr.</summary>
    public static PolicyLoadResult LoadPolicy(ParseResult r, string path, DateTimeOffset now)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"DG1000: cannot read the policy file `{path}`: {(ex is FileNotFoundException or DirectoryNotFoundException ? "no such file" : ex.Message)}");
        }
        return PolicyLoader.Load(bytes, path, now);
    }

    public static TimeZoneInfo Zone(CompiledPolicy policy) => TimeZoneInfo.FindSystemTimeZoneById(policy.TimeZone);

    /// <summary><c>Mon 2026-11-23 09:00 +01:00</c></summary>
    public static string LocalLong(DateTimeOffset t, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(t, zone).ToString("ddd yyyy-MM-dd HH:mm zzz", CultureInfo.InvariantCulture);

    /// <summary><c>2026-11-23T09:00:00+01:00 (08:00Z)</c></summary>
    public static string LocalAndUtc(DateTimeOffset t, TimeZoneInfo zone) =>
        $"{TimeZoneInfo.ConvertTime(t, zone).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture)} ({DecisionJson.Instant(t)})";

    public static string Length(TimeSpan d)
    {
        if (d.TotalDays >= 1) return d.Hours == 0 && d.Minutes == 0 ? $"{(int)d.TotalDays}d" : $"{(int)d.TotalDays}d {d.Hours}h{(d.Minutes > 0 ? $"{d.Minutes}m" : "")}";
        if (d.TotalHours >= 1) return d.Minutes == 0 ? $"{d.Hours}h" : $"{d.Hours}h{d.Minutes}m";
        return d.Seconds == 0 ? $"{d.Minutes}m" : $"{d.Minutes}m{d.Seconds}s";
    }
}

/// <summary>Aligned text columns.</summary>
internal sealed class TextTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public void Add(params string[] cells) => _rows.Add(cells);

    public void Write(TextWriter w, string indent = "  ")
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Count == 0 ? 0 : _rows.Max(r => i < r.Length ? r[i].Length : 0))).ToArray();
        void Line(string[] cells) =>
            w.WriteLine(indent + string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
        Line(headers);
        foreach (var r in _rows) Line(r);
    }
}
