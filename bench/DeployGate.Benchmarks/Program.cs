using BenchmarkDotNet.Running;
using DeployGate.Benchmarks;
using DeployGate.Benchmarks.Http;

// `latency [N] [name]`: per-decision p50/p99/p99.9 and bytes per decision (fast, a few seconds); only the scenarios
//   whose name contains `name` when given.
// `http --cli deploygate.dll --plaintext plaintext.dll [--out file.md]`: the HTTP load run (bench/run.sh).
// `outcomes [rounds] [name]`: the `*-anytime` scenarios' decisions by outcome (share, p50/p99, bytes of each kind).
// `mix [instant]`: the HTTP run's example request mix decided in process (engine share of a request).
// `audit [seconds]`: group commit of the SQLite audit log alone (records/s, batch sizes, append latency).
// `token [N]`: the OIDC token check in process: a token never seen before, a cache hit, RSA verification alone.
// anything else: BenchmarkDotNet (mean, error, allocations), e.g. `--filter '*'`.
if (args.Length > 0 && args[0] == "latency")
{
    return LatencyRun.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000, args.Length > 2 ? args[2] : null);
}
if (args.Length > 0 && args[0] == "outcomes")
{
    return OutcomesRun.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 50, args.Length > 2 ? args[2] : null);
}
if (args.Length > 0 && args[0] == "http")
{
    return await HttpRun.RunAsync(args[1..]);
}
if (args.Length > 0 && args[0] == "mix")
{
    return MixRun.Run(args[1..]);
}
if (args.Length > 0 && args[0] == "token")
{
    return TokenRun.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20_000);
}
if (args.Length > 0 && args[0] == "audit")
{
    return await AuditRun.RunAsync(args[1..]);
}
BenchmarkSwitcher.FromAssembly(typeof(DecisionBenchmarks).Assembly).Run(args);
return 0;
