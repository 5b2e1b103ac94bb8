using System.Text.Json;

namespace DeployGate.Cli.Tests;

public sealed class ValidateCommandTests
{
    private const string Broken = "version: 1\nwindows:\n  w:\n    weekly: { days: [mon], from: \"9:00\", until: \"17:00\" }\n    timezone: Mars/Olympus\nenvironments:\n  prod:\n    deploy: { roles: [nobody] }\n";

    [Fact]
    public void Validate_ExamplePolicy_IsCleanAndExitsZero()
    {
        var (exit, output, _) = Cli.Run("validate", Cli.Example, "--at", "2026-11-25T00:00:00Z");
        Assert.Equal(0, exit);
        Assert.EndsWith("valid, 0 errors, 0 warnings", output.Trim());
    }

    [Fact]
    public void Validate_BrokenPolicy_ListsEveryErrorWithPositionAndExitsOne()
    {
        var path = Cli.TempPolicy(Broken);
        var (exit, output, _) = Cli.Run("validate", path, "--at", "2026-11-25T00:00:00Z");
        Assert.Equal(1, exit);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains($"{path}:4:34: DG1011: `9:00` is not a time of day; use \"HH:MM\" from \"00:00\" to \"23:59\"", lines);
        Assert.Contains($"{path}:5:15: DG1008: unknown time zone `Mars/Olympus`; use an IANA name such as `Europe/Berlin`", lines);
        Assert.Contains($"{path}:8:23: DG1016: `environments.prod.deploy.roles` names undefined role `nobody`", lines);
        Assert.EndsWith("invalid, 3 errors, 0 warnings", output.Trim());
    }

    [Fact]
    public void Validate_Json_HasCodesSeveritiesAndPositions()
    {
        var path = Cli.TempPolicy(Broken);
        var (exit, output, _) = Cli.Run("validate", path, "--format", "json", "--at", "2026-11-25T00:00:00Z");
        Assert.Equal(1, exit);
        using var doc = JsonDocument.Parse(output);
        Assert.False(doc.RootElement.GetProperty("valid").GetBoolean());
        Assert.Equal(3, doc.RootElement.GetProperty("errors").GetInt32());
        var first = doc.RootElement.GetProperty("files")[0].GetProperty("diagnostics")[0];
        Assert.Equal("DG1011", first.GetProperty("code").GetString());
        Assert.Equal("error", first.GetProperty("severity").GetString());
        Assert.Equal(4, first.GetProperty("line").GetInt32());
        Assert.Equal(34, first.GetProperty("column").GetInt32());
    }

    [Fact]
    public void Validate_GitHubFormat_EmitsEscapedAnnotations()
    {
        var path = Cli.TempPolicy("version: 1\nidentities:\n  a: { repository: \"acme/*\", workflow: \"*/.github/workflows/x.yml\" }\nenvironments:\n  e: { deploy: { roles: [] } }\nwindows: { w: { schedule: \"0 9 * * *\", duration: 100%h } }\n");
        var (exit, output, _) = Cli.Run("validate", path, "--format", "github", "--at", "2026-11-25T00:00:00Z");
        Assert.Equal(1, exit);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith($"::warning file={path.Replace(":", "%3A", StringComparison.Ordinal)},line=3,col=40,title=DG1505::DG1505: ", StringComparison.Ordinal));
        // `%` in a message is escaped as %25 so the runner does not read it as an escape.
        Assert.Contains(lines, l => l.StartsWith("::error file=", StringComparison.Ordinal) && l.Contains(",line=6,col=50,title=DG1010::DG1010: `100%25h` is not a duration", StringComparison.Ordinal));
        Assert.Equal("deploygate: policy invalid (1 error)", lines[^1].Trim());
    }

    [Fact]
    public void Validate_MissingFile_IsAnErrorWithItsCode()
    {
        var (exit, output, _) = Cli.Run("validate", "/nonexistent/deploygate.yml");
        Assert.Equal(1, exit);
        Assert.Contains("/nonexistent/deploygate.yml: DG1000: cannot read the policy file: no such file", output);
    }

    [Theory]
    [InlineData("a%b", "a%25b")]
    [InlineData("line1\nline2\r", "line1%0Aline2%0D")]
    [InlineData("x: y, z", "x: y, z")]
    public void WorkflowCommand_Data_EscapesPercentAndNewlines(string input, string expected) =>
        Assert.Equal(expected, Commands.WorkflowCommand.Data(input));

    [Theory]
    [InlineData("a:b,c%d\n", "a%3Ab%2Cc%25d%0A")]
    public void WorkflowCommand_Property_AlsoEscapesColonAndComma(string input, string expected) =>
        Assert.Equal(expected, Commands.WorkflowCommand.Property(input));
}

public sealed class ExplainCommandTests
{
    private static string[] Release(params string[] more) =>
    [
        "explain", "--policy", Cli.Example, "--environment", "production", "--repository", "acme/web",
        "--workflow", "acme/web/.github/workflows/release.yml", "--ref", "refs/heads/main", "--github-environment", "production", .. more,
    ];

    [Fact]
    public void Explain_InsideBusinessHours_AllowsAndExitsZero()
    {
        var (exit, output, _) = Cli.Run(Release("--target", "aks/prod-eu-1", "--at", "2026-11-23T09:00:00Z"));
        Assert.Equal(0, exit);
        Assert.StartsWith("ALLOW  deploy to production (target aks/prod-eu-1)", output);
        Assert.Matches(@"\n  role +pass +holds role `prod-deployer` by delegation from `alice` until 2026-12-31T00:00:00Z\n", output);
    }

    [Fact]
    public void Explain_SpecExample_DeniesWithTheSpecShapeAndNextAllowedAt()
    {
        var (exit, output, _) = Cli.Run(Release("--target", "aks/prod-eu-1", "--at", "2026-11-22T10:15:00Z", "--json"));
        Assert.Equal(1, exit);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal(
            ["decision_id", "verdict", "evaluated_at", "request", "identity", "checks", "next_allowed_at", "break_glass", "policy", "grant"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("deny", root.GetProperty("verdict").GetString());
        Assert.StartsWith("dec_", root.GetProperty("decision_id").GetString(), StringComparison.Ordinal);
        Assert.Equal("2026-11-22T10:15:00Z", root.GetProperty("evaluated_at").GetString());
        Assert.Equal("2026-11-23T08:00:00Z", root.GetProperty("next_allowed_at").GetString());
        Assert.Equal(
            ["repository", "workflow", "ref", "sha", "run_id", "run_attempt", "actor", "identities", "roles"],
            root.GetProperty("identity").EnumerateObject().Select(p => p.Name));
        var window = root.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("check").GetString() == "window");
        Assert.Equal("fail", window.GetProperty("result").GetString());
        Assert.Equal("DG2104", window.GetProperty("code").GetString());
        Assert.Equal("outside window `business-hours` (Europe/Berlin); next opens 2026-11-23T09:00:00+01:00", window.GetProperty("message").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("grant").ValueKind);
        Assert.False(root.GetProperty("break_glass").GetBoolean());
    }

    [Fact]
    public void Explain_BreakGlass_OverridesTheWindow()
    {
        var (exit, output, _) = Cli.Run(Release("--target", "aks/prod-eu-1", "--at", "2026-11-22T10:15:00Z", "--break-glass", "INC-42 database failover"));
        Assert.Equal(0, exit);
        Assert.Contains("BREAK-GLASS in effect: INC-42 database failover", output);
        Assert.Matches(@"\n  window +overridden +DG2104 +outside window `business-hours`", output);
    }

    [Theory]
    [InlineData("--at", "2026-11-22 10:15")]           // no offset
    [InlineData("--break-glass", "too short")]          // under 10 characters
    [InlineData("--action", "destroy")]                 // not an action
    [InlineData("--secret", "prod/db/x")]               // secret with deploy
    public void Explain_UsageErrors_ExitTwo(string option, string value)
    {
        var (exit, _, error) = Cli.Run(Release(option, value));
        Assert.Equal(2, exit);
        Assert.StartsWith("deploygate: ", error);
    }

    [Fact]
    public void Explain_MissingRequiredOption_ExitsTwo() =>
        Assert.Equal(2, Cli.Run("explain", "--policy", Cli.Example).Exit);

    [Fact]
    public void Explain_InvalidPolicy_IsADenyWithThePolicyCode()
    {
        var path = Cli.TempPolicy("version: 1\nenvironments:\n  prod: { deploy: { roles: [ghost] } }\n");
        var (exit, output, error) = Cli.Run("explain", "--policy", path, "--environment", "prod", "--repository", "acme/web", "--json");
        Assert.Equal(1, exit);
        Assert.Contains("DG1016", error);
        using var doc = JsonDocument.Parse(output);
        var check = doc.RootElement.GetProperty("checks")[0];
        Assert.Equal("policy", check.GetProperty("check").GetString());
        Assert.Equal("DG1016", check.GetProperty("code").GetString());
        Assert.Equal("deny", doc.RootElement.GetProperty("verdict").GetString());
    }

    [Fact]
    public void Explain_ClaimsFile_ReadsADecodedTokenPayload()
    {
        var claims = Path.Combine(Directory.CreateTempSubdirectory("dg-claims-").FullName, "claims.json");
        File.WriteAllText(claims, """
            { "repository": "acme/api", "repository_owner": "acme", "ref": "refs/heads/main",
              "job_workflow_ref": "acme/api/.github/workflows/ci.yml@refs/heads/main",
              "runner_environment": "github-hosted", "run_id": "99", "iat": 1764000000 }
            """);
        var (exit, output, _) = Cli.Run("explain", "--policy", Cli.Example, "--environment", "staging", "--target", "aks/staging-3",
            "--claims", claims, "--at", "2026-11-25T12:00:00Z", "--json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal("99", doc.RootElement.GetProperty("identity").GetProperty("run_id").GetString());
        Assert.Equal("ci", doc.RootElement.GetProperty("identity").GetProperty("identities")[0].GetString());
    }
}

public sealed class WindowsCommandTests
{
    // Hand check of the example policy: business hours Mon–Thu 09:00–17:00 Europe/Berlin (CET, +01:00);
    // 14 Dec 2026 is a Monday; the year-end freeze runs 19 Dec 00:00 to 4 Jan 00:00 local (a Monday).
    private static readonly (string Start, string End)[] HandCheck =
    [
        ("2026-12-14T08:00:00Z", "2026-12-14T16:00:00Z"),
        ("2026-12-15T08:00:00Z", "2026-12-15T16:00:00Z"),
        ("2026-12-16T08:00:00Z", "2026-12-16T16:00:00Z"),
        ("2026-12-17T08:00:00Z", "2026-12-17T16:00:00Z"),
        ("2027-01-04T08:00:00Z", "2027-01-04T16:00:00Z"),
        ("2027-01-05T08:00:00Z", "2027-01-05T16:00:00Z"),
        ("2027-01-06T08:00:00Z", "2027-01-06T16:00:00Z"),
        ("2027-01-07T08:00:00Z", "2027-01-07T16:00:00Z"),
    ];

    private static string[] Args(string format) =>
        ["windows", "--policy", Cli.Example, "--environment", "production", "--from", "2026-12-14T00:00:00Z", "--days", "25", "--format", format];

    [Fact]
    public void Windows_Json_MatchesTheHandCheck()
    {
        var (exit, output, _) = Cli.Run(Args("json"));
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(output);
        var open = doc.RootElement.GetProperty("open").EnumerateArray()
            .Select(i => (i.GetProperty("start").GetString()!, i.GetProperty("end").GetString()!)).ToArray();
        Assert.Equal(HandCheck, open);
        Assert.Equal("2026-12-14T09:00:00+01:00", doc.RootElement.GetProperty("open")[0].GetProperty("start_local").GetString());
    }

    [Fact]
    public void Windows_Text_ShowsLocalAndUtcAligned()
    {
        var (exit, output, _) = Cli.Run(Args("text"));
        Assert.Equal(0, exit);
        Assert.Contains("open 8 times, 2d 16h in all", output);
        Assert.Contains("  Mon 2027-01-04 09:00 +01:00  Mon 2027-01-04 17:00 +01:00  2027-01-04T08:00:00Z  2027-01-04T16:00:00Z  8h", output);
    }

    [Fact]
    public void Windows_Ics_IsAValidCalendarWithOneEventPerOpening()
    {
        var (exit, output, _) = Cli.Run(Args("ics"));
        Assert.Equal(0, exit);
        Assert.StartsWith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:", output, StringComparison.Ordinal);
        Assert.EndsWith("END:VCALENDAR\r\n", output, StringComparison.Ordinal);
        var lines = output.Split("\r\n");
        Assert.All(lines, l => Assert.True(System.Text.Encoding.UTF8.GetByteCount(l) <= 75, l));
        Assert.DoesNotContain('\n', output.Replace("\r\n", "", StringComparison.Ordinal));
        var starts = lines.Where(l => l.StartsWith("DTSTART:", StringComparison.Ordinal)).Select(l => l["DTSTART:".Length..]).ToArray();
        Assert.Equal(HandCheck.Select(h => h.Start.Replace("-", "", StringComparison.Ordinal).Replace(":", "", StringComparison.Ordinal)), starts);
        Assert.Equal(8, lines.Count(l => l == "BEGIN:VEVENT"));
        Assert.Equal(8, lines.Where(l => l.StartsWith("UID:", StringComparison.Ordinal)).Distinct().Count());
    }

    [Fact]
    public void Windows_AgreesWithExplain_AtEveryEdge()
    {
        foreach (var (start, end) in HandCheck)
        {
            foreach (var (at, allowed) in new[] { (start, true), (end, false) })
            {
                var (exit, _, _) = Cli.Run("explain", "--policy", Cli.Example, "--environment", "production", "--target", "aks/prod-eu-1",
                    "--repository", "acme/web", "--workflow", "acme/web/.github/workflows/release.yml", "--ref", "refs/heads/main",
                    "--github-environment", "production", "--at", at);
                // After 31 Dec the release train's delegation has ended: time allows, the role does not.
                var expected = allowed && string.CompareOrdinal(at, "2026-12-31") < 0 ? 0 : 1;
                Assert.True(expected == exit, $"explain at {at}: exit {exit}");
            }
        }
    }

    [Fact]
    public void Windows_UnknownEnvironment_IsAUsageError()
    {
        var (exit, _, error) = Cli.Run("windows", "--policy", Cli.Example, "--environment", "qa");
        Assert.Equal(2, exit);
        Assert.Contains("environment `qa` is not defined", error);
    }

    [Fact]
    public void Windows_FoldsLongIcsLinesAt75Octets()
    {
        var folded = Commands.WindowsCommand.Fold("DESCRIPTION:" + new string('é', 60));
        Assert.All(folded.Split("\r\n", StringSplitOptions.RemoveEmptyEntries), l => Assert.True(System.Text.Encoding.UTF8.GetByteCount(l) <= 75));
        Assert.Equal("DESCRIPTION:" + new string('é', 60), folded.Replace("\r\n ", "", StringComparison.Ordinal).TrimEnd('\r', '\n'));
    }
}
