using YamlDotNet.Serialization;

namespace DeployGate.Engine.Tests;

/// <summary>The decision corpus: <c>DecisionCases/*.yaml</c> hold a policy (inline, or <c>example</c>)
/// and cases with the instant, the request, and the expected verdict, check results, codes and
/// <c>next_allowed_at</c>, derived by hand (the comments say how).</summary>
public sealed class DecisionCaseTests
{
    private static readonly string[] CheckNames = ["environment", "role", "ref", "target", "secret", "window", "freeze"];

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var path in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "DecisionCases"), "*.yaml").Order(StringComparer.Ordinal))
        {
            var doc = Load(Path.GetFileName(path));
            for (var i = 0; i < ((List<object>)doc["cases"]).Count; i++) data.Add(Path.GetFileName(path), i);
        }
        return data;
    }

    private static Dictionary<object, object> Load(string file) =>
        new DeserializerBuilder().Build().Deserialize<Dictionary<object, object>>(
            File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "DecisionCases", file)));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case_DecidesAsExpected(string file, int index)
    {
        var doc = Load(file);
        var policyText = (string)doc["policy"];
        var policy = policyText.Trim() == "example" ? TestSupport.Example() : TestSupport.Compile(policyText);
        var c = ((List<object>)doc["cases"])[index] as Dictionary<object, object> ?? throw new InvalidOperationException();
        string? S(string key) => c.TryGetValue(key, out var v) ? v?.ToString() : null;

        Assert.True(DecisionJson.TryParseAction(S("action") ?? "deploy", out var action));
        var request = new DecisionRequest(action, S("env")!, S("target"), S("secret"), S("break_glass"));
        var repository = S("repository") ?? "acme/web";
        var claims = TestSupport.Claims(repository, S("workflow") ?? "acme/web/.github/workflows/release.yml",
            S("gitref") ?? "refs/heads/main", S("ghenv"),
            new Dictionary<string, string> { ["runner_environment"] = S("runner") ?? "github-hosted" });

        var decision = TestSupport.Decide(policy, request, claims, S("at")!);
        var context = $"{file}#{index} at {S("at")}:\n{DecisionJson.ToJson(decision, indented: true)}";

        Assert.True(S("verdict") == DecisionJson.VerdictName(decision.Verdict), context);
        foreach (var name in CheckNames)
        {
            var key = name is "target" or "secret" ? name + "_check" : name; // `target`/`secret` name the request's
            if (S(key) is { } expected)
                Assert.True(expected == DecisionJson.ResultName(TestSupport.CheckOf(decision, name).Result), $"check `{name}`: {context}");
        }
        if (c.TryGetValue("codes", out var codes))
        {
            var expectedCodes = ((List<object>)codes).Select(o => o.ToString()!).Order(StringComparer.Ordinal);
            var actualCodes = decision.Checks.Where(k => k.Result != CheckResult.Pass && k.Code is not null && k.Result != CheckResult.Overridden)
                .Select(k => k.Code!).Order(StringComparer.Ordinal);
            Assert.True(expectedCodes.SequenceEqual(actualCodes), $"codes: {context}");
        }
        if (c.ContainsKey("next"))
        {
            var expected = S("next");
            Assert.True((expected is null or "null" ? null : (DateTimeOffset?)TestSupport.At(expected)) == decision.NextAllowedAt,
                $"next_allowed_at: {context}");
        }
        if (S("message") is { } message)
            Assert.Contains(decision.Checks, k => k.Message == message);
        if (S("break_glass_flag") is { } flag)
            Assert.Equal(bool.Parse(flag), decision.BreakGlass);

        // Invariants that hold for every case.
        Assert.Equal(decision.Verdict == Verdict.Deny, decision.Checks.Any(k => k.Result == CheckResult.Fail));
        Assert.Equal(6, decision.Checks.Length);
    }
}
