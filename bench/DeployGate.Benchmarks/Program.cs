using BenchmarkDotNet.Running;
using DeployGate.Benchmarks;

// `latency [N]`: per-decision p50/p99/p99.9 and bytes per decision (fast, a few seconds).
// anything else: BenchmarkDotNet (mean, error, allocations), e.g. `--filter '*'`.
if (args.Length > 0 && args[0] == "latency")
{
    return LatencyRun.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000);
}
BenchmarkSwitcher.FromAssembly(typeof(DecisionBenchmarks).Assembly).Run(args);
return 0;
