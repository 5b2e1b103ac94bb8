using BenchmarkDotNet.Attributes;
using DeployGate.Engine;

namespace DeployGate.Benchmarks;

/// <summary>One decision, in process (SPEC §13: p50 ≤ 1 µs, p99 ≤ 5 µs, ≤ 1 KiB allocated).</summary>
[MemoryDiagnoser]
public class DecisionBenchmarks
{
    private Scenario[] _scenarios = null!;
    private Scenario _current = null!;

    [Params("example/deploy", "example/read-secret", "large/deploy", "large/read-secret", "example/deploy-night", "large/deploy-night")]
    public string Scenario { get; set; } = "example/deploy";

    [GlobalSetup]
    public void Setup()
    {
        _scenarios = Benchmarks.Scenario.All();
        _current = _scenarios.Single(s => s.Name == Scenario);
        var expected = Scenario.EndsWith("-night", StringComparison.Ordinal) ? Verdict.Deny : Verdict.Allow;
        if (_current.Decide().Verdict != expected) throw new InvalidOperationException($"{Scenario} must be {expected}");
    }

    [Benchmark]
    public Decision Decide() => _current.Decide();
}
