using System.Diagnostics;
using System.Globalization;
using DeployGate.Audit;
using DeployGate.Audit.Sqlite;
using DeployGate.Engine;

namespace DeployGate.Benchmarks;

/// <summary><c>audit [seconds]</c>: the durable SQLite audit log alone, as the gate uses it (WAL,
/// <c>synchronous=FULL</c>, group commit). For 1…256 concurrent appenders: records/s, commits, mean batch size,
/// append latency and CPU per record (user and system; fsync shows as system time and wall time).</summary>
internal static class AuditRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 2;
        var ci = CultureInfo.InvariantCulture;
        var scenario = Scenario.All()[0];
        var dir = Directory.CreateTempSubdirectory("deploygate-audit-bench-");
        try
        {
            Console.WriteLine($"# audit log group commit: {seconds:F0} s per row, file in {dir.FullName}");
            Console.WriteLine($"{"appenders",9} {"records/s",10} {"commits",8} {"batch",7} {"p50 µs",8} {"p99 µs",8} {"user µs/rec",12} {"sys µs/rec",11}");
            var log = new SqliteDecisionLog(Path.Combine(dir.FullName, "audit.db"), TimeProvider.System);
            await using (log)
            {
                var next = 0L;
                // Warm-up, not reported: 3 s at 16 appenders and 1 s alone, so the JIT's background recompilation (a
                // quarter of the CPU during the first seconds, seen with perf) is over before the 1-appender row.
                await RowAsync(16, 3);
                await RowAsync(1, 1);
                foreach (var clients in (int[])[1, 4, 16, 64, 256])
                {
                    var (all, elapsed, commits, cpu) = await RowAsync(clients, seconds);
                    double Us(long t) => t * 1e6 / Stopwatch.Frequency;
                    Console.WriteLine(string.Create(ci,
                        $"{clients,9} {all.Length / elapsed,10:F0} {commits,8} {all.Length / (double)Math.Max(1, commits),7:F1} {Us(all[all.Length / 2]),8:F0} {Us(all[(int)(all.Length * 0.99)]),8:F0} {cpu.UserTime.TotalMicroseconds / all.Length,12:F1} {cpu.PrivilegedTime.TotalMicroseconds / all.Length,11:F1}"));
                }

                async Task<(long[] Latencies, double Elapsed, long Commits, (TimeSpan UserTime, TimeSpan PrivilegedTime) Cpu)> RowAsync(int clients, double rowSeconds)
                {
                    var commits0 = log.CommitCount;
                    var cpu0 = Environment.CpuUsage;
                    var start = Stopwatch.GetTimestamp();
                    var end = start + (long)(rowSeconds * Stopwatch.Frequency);
                    var workers = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
                    {
                        var samples = new List<long>();
                        while (Stopwatch.GetTimestamp() < end && samples.Count < 1_000_000)
                        {
                            var id = "dec_" + Interlocked.Increment(ref next).ToString(ci);
                            var decision = Evaluator.Evaluate(scenario.Policy, scenario.Request, scenario.Claims, scenario.At, id);
                            var t0 = Stopwatch.GetTimestamp();
                            await log.AppendAsync(decision, new AuditContext("api"));
                            samples.Add(Stopwatch.GetTimestamp() - t0);
                        }
                        return samples;
                    })).ToArray();
                    var all = (await Task.WhenAll(workers)).SelectMany(s => s).Order().ToArray();
                    var elapsed = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
                    var cpu1 = Environment.CpuUsage;
                    return (all, elapsed, log.CommitCount - commits0, (cpu1.UserTime - cpu0.UserTime, cpu1.PrivilegedTime - cpu0.PrivilegedTime));
                }
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
        return 0;
    }
}
