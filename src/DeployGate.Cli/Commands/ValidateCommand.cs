using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using DeployGate.Engine;

namespace DeployGate.Cli.Commands;

/// <summary><c>deploygate validate [FILE…] [--format text|json|github]</c>: every diagnostic of every
/// file. Exit 0 when no file has an error (warnings allowed), 1 otherwise.</summary>
internal static class ValidateCommand
{
    public const string DefaultFile = ".github/deploygate.yml";

    public static Command Create()
    {
        var files = new Argument<string[]>("files") { Description = $"policy files (default: {DefaultFile})", Arity = ArgumentArity.ZeroOrMore };
        var format = new Option<string>("--format") { Description = "text, json, or github (workflow-command annotations for a PR check)", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json", "github");
        var at = new Option<string?>("--at") { Description = "judge time-based warnings at this instant (default: now)" };
        var command = new Command("validate", "Check policy files; report every problem with its position and code.") { files, format, at };
        command.SetAction(r => CommandSupport.Guard(r, () =>
        {
            var now = r.GetValue(at) is { } text ? CommandSupport.ParseInstant(text, "--at") : CliApp.Clock.GetUtcNow();
            var paths = r.GetValue(files) is { Length: > 0 } given ? given : [DefaultFile];
            var results = paths.Select(p => (Path: p, Result: Load(p, now))).ToList();
            switch (r.GetValue(format))
            {
                case "json": WriteJson(r.Out(), results); break;
                case "github": WriteGitHub(r.Out(), results); break;
                default: WriteText(r.Out(), results); break;
            }
            return results.Any(x => x.Result.HasErrors) ? ExitCodes.Errors : ExitCodes.Ok;
        }));
        return command;
    }

    private static PolicyLoadResult Load(string path, DateTimeOffset now)
    {
        try
        {
            return PolicyLoader.Load(File.ReadAllBytes(path), path, now);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var reason = ex is FileNotFoundException or DirectoryNotFoundException ? "no such file" : ex.Message;
            return new PolicyLoadResult(null, [new Diagnostic("DG1000", Severity.Error, $"cannot read the policy file: {reason}", path, null)]);
        }
    }

    private static void WriteText(TextWriter w, List<(string Path, PolicyLoadResult Result)> results)
    {
        int errors = 0, warnings = 0;
        foreach (var (_, result) in results)
        {
            foreach (var d in result.Diagnostics)
            {
                w.WriteLine(d.ToString());
                if (d.Severity == Severity.Error) errors++; else warnings++;
            }
        }
        var files = results.Count == 1 ? results[0].Path : $"{results.Count} files";
        var verdict = errors == 0 ? "valid" : "invalid";
        w.WriteLine($"{files}: {verdict}, {errors} error{(errors == 1 ? "" : "s")}, {warnings} warning{(warnings == 1 ? "" : "s")}");
    }

    private static void WriteJson(TextWriter w, List<(string Path, PolicyLoadResult Result)> results)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            j.WriteStartObject();
            j.WriteBoolean("valid", !results.Any(x => x.Result.HasErrors));
            j.WriteNumber("errors", results.Sum(x => x.Result.Diagnostics.Count(d => d.Severity == Severity.Error)));
            j.WriteNumber("warnings", results.Sum(x => x.Result.Diagnostics.Count(d => d.Severity == Severity.Warning)));
            j.WriteStartArray("files");
            foreach (var (path, result) in results)
            {
                j.WriteStartObject();
                j.WriteString("file", path);
                j.WriteBoolean("valid", !result.HasErrors);
                if (result.Policy is { } p) j.WriteString("revision", p.Ref.Revision);
                j.WriteStartArray("diagnostics");
                foreach (var d in result.Diagnostics)
                {
                    j.WriteStartObject();
                    j.WriteString("code", d.Code);
                    j.WriteString("severity", d.Severity == Severity.Error ? "error" : "warning");
                    j.WriteString("message", d.Message);
                    if (d.At is { } at)
                    {
                        j.WriteNumber("line", at.Line);
                        j.WriteNumber("column", at.Column);
                    }
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        w.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>GitHub workflow commands: <c>::error file=…,line=…,col=…,title=DG1004::message</c>.</summary>
    private static void WriteGitHub(TextWriter w, List<(string Path, PolicyLoadResult Result)> results)
    {
        foreach (var (path, result) in results)
        {
            foreach (var d in result.Diagnostics)
            {
                var kind = d.Severity == Severity.Error ? "error" : "warning";
                var position = d.At is { } at ? $",line={at.Line},col={at.Column}" : "";
                w.WriteLine($"::{kind} file={WorkflowCommand.Property(path)}{position},title={WorkflowCommand.Property(d.Code)}::{WorkflowCommand.Data($"{d.Code}: {d.Message}")}");
            }
        }
        var errors = results.Sum(x => x.Result.Diagnostics.Count(d => d.Severity == Severity.Error));
        w.WriteLine(errors == 0 ? "deploygate: policy valid" : $"deploygate: policy invalid ({errors} error{(errors == 1 ? "" : "s")})");
    }
}

/// <summary>Escaping for GitHub workflow commands (as actions/toolkit's command.ts does).</summary>
internal static class WorkflowCommand
{
    public static string Data(string s) => s.Replace("%", "%25", StringComparison.Ordinal)
        .Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal);

    public static string Property(string s) => Data(s).Replace(":", "%3A", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);
}
