using System.Diagnostics;
using System.Text.RegularExpressions;
using DeployGate.Api.Tests;

namespace DeployGate.Benchmarks.Tests;

/// <summary>The committed command's entry points run end to end, with short phases: what `bench/run.sh` runs must not
/// rot between the runs that produce the figures. The HTTP run itself fails (exit code 1) when an answer was neither
/// 200 nor 403 or an answered decision is missing from the audit log, so its exit code is an assertion about the gate
/// under concurrent load, with the durable log and with its files in memory.</summary>
public sealed partial class CommandTests
{
    /// <summary>A project's build output of the same configuration as the CLI the tests find (<see cref="ServerProcess"/>).</summary>
    private static string Built(string project, string dll)
    {
        var root = ServerProcess.RepositoryRoot;
        var output = Path.GetRelativePath(Path.Combine(root, "src", "DeployGate.Cli"), Path.GetDirectoryName(ServerProcess.DeploygateDll)!);
        var path = Path.Combine(root, project, output, dll);
        Assert.True(File.Exists(path), $"build {project} first: {path}");
        return path;
    }

    private static (int Exit, string Out, string Err) Bench(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = ServerProcess.RepositoryRoot };
        info.ArgumentList.Add(Built(Path.Combine("bench", "DeployGate.Benchmarks"), "DeployGate.Benchmarks.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1";   // as bench/run.sh starts it
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"bench {string.Join(' ', args)} did not finish in 5 minutes:\n{stderr.Result}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Latency_TimesEveryScenario()
    {
        var (exit, output, errors) = Bench("latency", "2000");
        Assert.True(exit == 0, errors);
        var rows = output.Split('\n').Where(l => ScenarioRow().IsMatch(l)).ToList();
        Assert.Equal(Scenario.All().Select(s => s.Name), rows.Select(r => r.Split(' ')[0]));
        Assert.All(rows, r => Assert.True(double.Parse(r.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2], System.Globalization.CultureInfo.InvariantCulture) > 0, r));
    }

    [Fact]
    public void Outcomes_SplitsEachAnytimeScenario_IntoKindsThatAddUpToAll()
    {
        var (exit, output, errors) = Bench("outcomes", "1");
        Assert.True(exit == 0, errors);
        var rows = output.Split('\n').Where(l => l.Contains("-anytime ", StringComparison.Ordinal)).ToList();
        var anytime = Scenario.All().Where(s => s.Instants is not null).Select(s => s.Name).ToList();
        Assert.Equal(anytime, rows.Select(r => r.Split(' ')[0]).Distinct());
        foreach (var name in anytime)
        {
            // Each kind's share, printed to the percent: together they are the whole (within the rounding of each).
            var kinds = rows.Where(r => r.StartsWith(name + " ", StringComparison.Ordinal)).ToList();
            var shares = kinds.Select(r => int.Parse(ShareColumn().Match(r).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.InRange(shares.Sum(), 100 - kinds.Count, 100 + kinds.Count);
            Assert.Contains(kinds, r => r.Contains(" allow ", StringComparison.Ordinal));
        }
    }

    /// <summary>The HTTP run over <paramref name="targets"/> with 0.2 s phases; its report, once it exited 0.</summary>
    private static string HttpReport(string targets)
    {
        var report = Path.Combine(Path.GetTempPath(), $"deploygate-bench-test-{Guid.NewGuid():N}.md");
        try
        {
            var (exit, _, errors) = Bench("http",
                "--cli", ServerProcess.DeploygateDll,
                "--plaintext", Built(Path.Combine("bench", "DeployGate.Bench.Plaintext"), "DeployGate.Bench.Plaintext.dll"),
                "--seconds", "0.2", "--targets", targets, "--out", report);
            Assert.True(exit == 0, errors);
            return File.ReadAllText(report);
        }
        finally
        {
            File.Delete(report);
        }
    }

    [Fact]
    public void Http_ShortRun_AnswersAndAuditsEveryRequest_OnDiskAndInMemory()
    {
        var markdown = HttpReport("plaintext,example,example-tmpfs");
        Assert.Contains("| figure | SPEC §13 | example | example-tmpfs | Kestrel plaintext |", markdown);
        // One line per gate target: "audit rows N for N answered decisions", N > 0 and the same twice.
        var audited = AuditRows().Matches(markdown);
        Assert.Equal(2, audited.Count);
        Assert.All(audited, m => Assert.True(m.Groups[1].Value == m.Groups[2].Value && m.Groups[1].Value != "0", m.Value));
        Assert.Contains("working directory on tmpfs (/dev/shm)", markdown);
    }

    [Fact]
    public void Http_RedeemTarget_RedeemsEveryGrantOnce_AndAuditsEveryAuthorize()
    {
        // The run exits 1 (and HttpReport fails) when any operation's redeem answered other than 200 (a grant refused,
        // or redeemed twice) or an authorize is missing from the audit log: concurrent authorizes and redeems on one file.
        var markdown = HttpReport("example-redeem");
        Assert.Contains("| figure | SPEC §13 | example-redeem |", markdown);
        Assert.Contains("the redeem of its grant (`POST /api/v1/grants/redeem`", markdown);
        AssertEveryAnswerAuditedAndNoneOther(markdown);
    }

    [Fact]
    public void Http_GitHubTarget_ReadsThePolicyFromTheFakeApiOnce_AndAuditsEveryRequest()
    {
        // The gate's policy comes from the fake GitHub API (the plaintext program with --github-policy); within
        // Policy:MaxAge it asks GitHub once per repository, not per request: installation, token, repository, file.
        var markdown = HttpReport("example-github");
        Assert.Contains("| figure | SPEC §13 | example-github |", markdown);
        AssertEveryAnswerAuditedAndNoneOther(markdown);
        Assert.DoesNotContain("answers 200/403/other: 0/", markdown, StringComparison.Ordinal);   // the policy was read: some allows
        // Four calls for the first read; a run that outlasts half of MaxAge adds a revalidation (two 304s) per 30 s.
        var calls = GitHubCalls().Match(markdown);
        Assert.True(calls.Success, markdown);
        var (made, answered) = (Number(calls.Groups[1].Value), Number(calls.Groups[2].Value));
        Assert.True(made >= 4 && made * 100 < answered, calls.Value);
    }

    [Fact]
    public void Http_LargeEditsTarget_CompilesEachEditedPolicyOnce_NotOncePerWaitingRequest()
    {
        // A large policy rewritten (beside the file, then renamed over it) every second under load: each edit costs
        // the gate about one compile. Before, the renamed file's temporary name dropped every compiled policy and each
        // request that found one missing compiled it, hundreds of compiles for a few edits. The bound leaves room for
        // a watcher notice that lands after a request already compiled the new content.
        var markdown = HttpReport("large-edits");
        Assert.Contains("| figure | SPEC §13 | large-edits |", markdown);
        AssertEveryAnswerAuditedAndNoneOther(markdown);
        var compiled = PolicyCompiles().Match(markdown);
        Assert.True(compiled.Success, markdown);
        var (edits, compiles, first) = (Number(compiled.Groups[1].Value), Number(compiled.Groups[2].Value), Number(compiled.Groups[3].Value));
        Assert.True(edits >= 1 && compiles >= first && compiles <= first + 2 * edits, compiled.Value);
    }

    /// <summary>One gate target's report: an audit row for each of its answered decisions (some), every answer 200 or 403.</summary>
    private static void AssertEveryAnswerAuditedAndNoneOther(string markdown)
    {
        var audited = Assert.Single(AuditRows().Matches(markdown));
        Assert.True(audited.Groups[1].Value == audited.Groups[2].Value && audited.Groups[1].Value != "0", audited.Value);
        Assert.Matches(@"answers 200/403/other: [\d,]+/[\d,]+/0;", markdown);
    }

    private static long Number(string text) => long.Parse(text, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"\(([\d,]+) edits\), and the gate compiled a policy ([\d,]+) times in all \(([\d,]+) of them at the first requests\)")]
    private static partial Regex PolicyCompiles();

    [GeneratedRegex(@"the gate called the GitHub API ([\d,]+) times for ([\d,]+) answered requests")]
    private static partial Regex GitHubCalls();

    [GeneratedRegex(@"^[a-z]+/[a-z-]+ +(allow|deny|mixed) ")]
    private static partial Regex ScenarioRow();

    [GeneratedRegex(@" (\d+) % ")]
    private static partial Regex ShareColumn();

    [GeneratedRegex(@"audit rows ([\d,]+) for ([\d,]+) answered decisions")]
    private static partial Regex AuditRows();
}
