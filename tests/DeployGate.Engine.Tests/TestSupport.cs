using System.Globalization;
using DeployGate.Engine;

namespace DeployGate.Engine.Tests;

internal static class TestSupport
{
    public static readonly DateTimeOffset Now = At("2026-11-25T00:00:00Z");

    public static DateTimeOffset At(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public static CompiledPolicy Compile(string yaml, DateTimeOffset? now = null)
    {
        var result = PolicyLoader.Load(yaml, "test.yml", now ?? Now);
        Assert.True(!result.HasErrors, string.Join("\n", result.Diagnostics));
        return result.Policy!;
    }

    public static string ExamplePath => Path.Combine(AppContext.BaseDirectory, "examples", "acme", "web.yml");

    public static CompiledPolicy Example() => Compile(File.ReadAllText(ExamplePath));

    public static WorkloadClaims Claims(string repository = "acme/web", string workflow = "acme/web/.github/workflows/release.yml",
        string @ref = "refs/heads/main", string? environment = null, IDictionary<string, string>? extra = null)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["repository"] = repository,
            ["repository_owner"] = repository.Split('/')[0],
            ["job_workflow_ref"] = $"{workflow}@{@ref}",
            ["ref"] = @ref,
            ["sha"] = "0123456789abcdef0123456789abcdef01234567",
            ["run_id"] = "4242",
            ["run_attempt"] = "1",
            ["actor"] = "alice",
            ["runner_environment"] = "github-hosted",
        };
        if (environment is not null) all["environment"] = environment;
        if (extra is not null) foreach (var (k, v) in extra) all[k] = v;
        return WorkloadClaims.FromDictionary(all);
    }

    public static Decision Decide(CompiledPolicy policy, DecisionRequest request, WorkloadClaims claims, string at) =>
        Evaluator.Evaluate(policy, request, claims, At(at), "dec_test");

    public static Check CheckOf(Decision d, string name) => d.Checks.Single(c => c.Name == name);
}
