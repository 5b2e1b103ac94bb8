using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using DeployGate.Engine;

namespace DeployGate.Benchmarks;

/// <summary>One decision, in process (SPEC §13: p50 ≤ 1 µs, p99 ≤ 5 µs, ≤ 1 KiB allocated). BenchmarkDotNet's
/// percentiles are of its iteration means (each the average of many decisions), so they show how steady the
/// mean is; the per-decision p50/p99 are the <c>latency</c> run's.</summary>
[MemoryDiagnoser]
[Config(typeof(PercentilesConfig))]
public class DecisionBenchmarks
{
    private Scenario[] _scenarios = null!;
    private Scenario _current = null!;

    [Params("example/deploy", "example/read-secret", "large/deploy", "large/read-secret", "example/deploy-night", "large/deploy-night",
        "example/deploy-frozen", "large/deploy-frozen", "example/deploy-anytime", "large/deploy-anytime")]
    public string Scenario { get; set; } = "example/deploy";

    [GlobalSetup]
    public void Setup()
    {
        _scenarios = Benchmarks.Scenario.All();
        _current = _scenarios.Single(s => s.Name == Scenario);
        var expected = Scenario.EndsWith("-night", StringComparison.Ordinal) || Scenario.EndsWith("-frozen", StringComparison.Ordinal) ? "deny"
            : Scenario.EndsWith("-anytime", StringComparison.Ordinal) ? "mixed" : "allow";
        if (_current.VerdictLabel != expected) throw new InvalidOperationException($"{Scenario} must be {expected}");
        // One second of decisions, then a pause, before BenchmarkDotNet's own warm-up: its first scenario used to be
        // measured while the JIT was still recompiling (example/deploy 4.3-4.8 µs ± 1.9-2.3 µs, against 0.8 µs in the
        // per-decision run), because the tiering delay restarts while new methods are still being compiled.
        var until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency;
        while (System.Diagnostics.Stopwatch.GetTimestamp() < until) _current.Decide();
        Thread.Sleep(200);
    }

    [Benchmark]
    public Decision Decide() => _current.Decide();
}

/// <summary>In process (no generated project to build), 20 warm-up and 20 measured iterations of 25 ms each, with P50/P95/P100 columns
/// (BenchmarkDotNet's advice for percentiles); about 3 s per scenario, so <c>bench/run.sh</c> can always run it.</summary>
public sealed class PercentilesConfig : ManualConfig
{
    public PercentilesConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(20)
            .WithIterationCount(20)
            .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(25)));
        AddColumn(StatisticColumn.P50, StatisticColumn.P95, StatisticColumn.P100);
    }
}
