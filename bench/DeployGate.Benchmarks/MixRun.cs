using System.Diagnostics;
using System.Globalization;
using DeployGate.Engine;

namespace DeployGate.Benchmarks;

/// <summary><c>mix [at]</c>: the HTTP run's example mix (the same identities and bodies as Http/Workload.cs) decided
/// in process at one instant (default: now), so the engine's share of a request can be read beside the HTTP
/// figures. Denies outside a window compute when the request would next be allowed; allows inside one do not.</summary>
internal static class MixRun
{
    public static int Run(string[] args)
    {
        var ci = CultureInfo.InvariantCulture;
        var at = args.Length > 0 ? DateTimeOffset.Parse(args[0], ci) : DateTimeOffset.UtcNow;
        var policy = PolicyLoader.Load(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "web.yml")), "web.yml", at).Policy!;
        var claims = new WorkloadClaims[8];
        for (var i = 0; i < 8; i++)
        {
            var (workflow, gitRef, runner, env) = i switch
            {
                0 or 1 or 2 => ("release.yml", "refs/heads/main", "github-hosted", "production"),
                3 => ("release.yml", "refs/tags/v1.3.0", "github-hosted", "production"),
                4 or 5 => ("ci.yml", "refs/heads/main", "github-hosted", "staging"),
                6 => ("ci.yml", "refs/heads/feature-6", "self-hosted", "staging"),
                _ => ("deploy.yml", "refs/heads/feature-7", "github-hosted", "staging"),
            };
            claims[i] = WorkloadClaims.FromDictionary(new Dictionary<string, string>
            {
                ["repository"] = "acme/web", ["repository_owner"] = "acme", ["ref"] = gitRef, ["run_id"] = "1",
                ["job_workflow_ref"] = $"acme/web/.github/workflows/{workflow}@{gitRef}", ["runner_environment"] = runner, ["environment"] = env,
            });
        }
        var requests = new DecisionRequest[2000];
        for (var k = 0; k < requests.Length; k++)
        {
            requests[k] = (k % 10) switch
            {
                0 or 1 or 2 => new(GateAction.Deploy, "staging", $"aks/staging-{k}"),
                3 => new(GateAction.Deploy, "production", "aks/prod-eu-1"),
                4 => new(GateAction.Deploy, "production", $"aks/prod-us-{k}"),
                5 => new(GateAction.Deploy, "production", $"aks/other-{k}"),
                6 or 7 => new(GateAction.ReadSecret, "staging", Secret: $"staging/app-{k}/key"),
                8 => new(GateAction.ReadSecret, "production", Secret: $"prod/db/password-{k}"),
                _ => k % 20 == 9 ? new(GateAction.ReadSecret, "production", Secret: $"prod/warehouse/t{k}") : new(GateAction.Deploy, "qa", $"aks/qa-{k}"),
            };
        }
        const int N = 200_000;
        var samples = new long[N];
        var allows = 0;
        for (var i = 0; i < N / 10; i++) Evaluator.Evaluate(policy, requests[i % 2000], claims[i % 256 % 8], at, "dec_mix");
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < N; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var d = Evaluator.Evaluate(policy, requests[i % 2000], claims[i % 256 % 8], at, "dec_mix");
            samples[i] = Stopwatch.GetTimestamp() - t0;
            if (d.Verdict == Verdict.Allow) allows++;
        }
        var bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)N;
        Array.Sort(samples);
        double Us(long t) => t * 1e6 / Stopwatch.Frequency;
        Console.WriteLine(string.Create(ci, $"# example HTTP mix in process at {at:u}: {allows * 100.0 / N:F0}% allow, p50 {Us(samples[N / 2]):F2} µs, p99 {Us(samples[(int)(N * 0.99)]):F2} µs, mean {samples.Average(Us):F2} µs, {bytes:F0} bytes/decision"));
        return 0;
    }
}
