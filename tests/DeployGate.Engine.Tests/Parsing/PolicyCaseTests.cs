using System.Text.RegularExpressions;

namespace DeployGate.Engine.Tests.Parsing;

/// <summary>The diagnostics corpus: each <c>PolicyCases/*.yaml</c> is a policy file whose trailing
/// <c># expect: DGnnnn line:col</c> comments list every diagnostic it must produce, no more, no fewer.
/// Codes DG15xx are warnings; every other code is an error and stops the policy from loading.</summary>
public sealed partial class PolicyCaseTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "PolicyCases"), "*.yaml").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case_ProducesExactlyTheExpectedDiagnostics(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "PolicyCases", file));
        var text = System.Text.Encoding.UTF8.GetString(bytes);
        var expected = ExpectLine().Matches(text)
            .Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}:{m.Groups[3].Value}")
            .Order(StringComparer.Ordinal).ToList();

        var result = PolicyLoader.Load(bytes, file, TestSupport.Now);

        var actual = result.Diagnostics.Select(d => $"{d.Code} {d.At?.Line}:{d.At?.Column}").Order(StringComparer.Ordinal).ToList();
        Assert.True(expected.SequenceEqual(actual),
            $"expected:\n  {string.Join("\n  ", expected)}\nactual:\n  {string.Join("\n  ", result.Diagnostics)}");
        foreach (var d in result.Diagnostics)
        {
            Assert.Equal(d.Code.StartsWith("DG15", StringComparison.Ordinal) ? Severity.Warning : Severity.Error, d.Severity);
            Assert.Equal(file, d.File);
            Assert.DoesNotContain('\n', d.Message);
            Assert.False(d.Message.EndsWith('.'), d.Message);
        }
        Assert.Equal(result.Diagnostics.Any(d => d.Severity == Severity.Error), result.Policy is null);
    }

    [GeneratedRegex(@"^# expect: (DG\d{4}) (\d+):(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ExpectLine();
}
