using System.Diagnostics;
using System.Net;

namespace DeployGate.Benchmarks.Http;

/// <summary>The outcome of one load phase: every request's latency (sorted), throughput and status counts.</summary>
internal sealed record PhaseResult(string Phase, int Connections, double Seconds, long[] Latencies, long Ok, long Forbidden, long Other, double TargetRate = 0)
{
    /// <summary>CPU seconds the server and the load generator used during the phase.</summary>
    public double ServerCpu { get; init; }
    public double GeneratorCpu { get; init; }
    public double ServerCpuPerRequestUs => ServerCpu * 1e6 / Math.Max(1, Count);
    public double GeneratorCpuPerRequestUs => GeneratorCpu * 1e6 / Math.Max(1, Count);

    public long Count => Latencies.Length;
    public double Rate => Count / Seconds;
    public double P(double q) => Latencies.Length == 0 ? double.NaN
        : Latencies[Math.Min(Latencies.Length - 1, (int)(Latencies.Length * q))] * 1_000_000.0 / Stopwatch.Frequency;
}

/// <summary>Closed-loop (each connection sends its next request when the previous answer is in: measures
/// saturation throughput) and open-loop (requests scheduled at a fixed rate, latency counted from the scheduled
/// instant when the connection was still busy, so coordinated omission cannot hide a stall). Every loop is
/// bounded in time and in count and stops by itself.</summary>
internal static class LoadPhases
{
    private const int MaxPerConnection = 2_000_000;

    public static async Task<PhaseResult> ClosedLoopAsync(string phase, IPEndPoint endPoint, byte[][] requests, int connections, TimeSpan duration,
        long maxRequests = long.MaxValue)
    {
        using var cts = new CancellationTokenSource(duration + TimeSpan.FromSeconds(30));   // hard stop, even if the server hangs
        var conns = await OpenAsync(endPoint, connections, cts.Token);
        var next = -1L;
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = conns.Select(c => Task.Run(async () =>
        {
            var samples = new List<long>(4096);
            long ok = 0, forbidden = 0, other = 0;
            while (samples.Count < MaxPerConnection)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (t0 >= end) break;
                var k = Interlocked.Increment(ref next);
                if (k >= maxRequests) break;
                var status = await c.ExchangeAsync(requests[k % requests.Length], cts.Token);
                samples.Add(Stopwatch.GetTimestamp() - t0);
                Count(status, ref ok, ref forbidden, ref other);
            }
            return (samples, ok, forbidden, other);
        })).ToArray();
        var results = await Task.WhenAll(workers);
        var seconds = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
        foreach (var c in conns) c.Dispose();
        return Merge(phase, connections, seconds, results, 0);
    }

    public static async Task<PhaseResult> OpenLoopAsync(string phase, IPEndPoint endPoint, byte[][] requests, int connections, double rate, TimeSpan duration)
    {
        using var cts = new CancellationTokenSource(duration + TimeSpan.FromSeconds(30));
        var conns = await OpenAsync(endPoint, connections, cts.Token);
        var total = (long)(rate * duration.TotalSeconds);
        var interval = Stopwatch.Frequency / rate;
        var next = -1L;
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 100;   // 10 ms to get every worker going
        var workers = conns.Select(c => Task.Run(async () =>
        {
            var samples = new List<long>(4096);
            long ok = 0, forbidden = 0, other = 0;
            var previousDone = 0L;
            while (true)
            {
                var k = Interlocked.Increment(ref next);
                if (k >= total) break;
                var intended = start + (long)(k * interval);
                var wait = intended - Stopwatch.GetTimestamp();
                if (wait > Stopwatch.Frequency / 1000)
                    await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency), cts.Token);
                var sent = Stopwatch.GetTimestamp();
                // Busy at the scheduled instant (previous answer late): the wait is the server's, count it.
                // Free but woken late by the timer: that is the generator's slack, start at the send.
                var from = previousDone > intended ? intended : sent;
                var status = await c.ExchangeAsync(requests[k % requests.Length], cts.Token);
                previousDone = Stopwatch.GetTimestamp();
                samples.Add(previousDone - from);
                Count(status, ref ok, ref forbidden, ref other);
            }
            return (samples, ok, forbidden, other);
        })).ToArray();
        var results = await Task.WhenAll(workers);
        var seconds = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
        foreach (var c in conns) c.Dispose();
        return Merge(phase, connections, seconds, results, rate);
    }

    private static async Task<HttpConnection[]> OpenAsync(IPEndPoint endPoint, int connections, CancellationToken ct)
    {
        var conns = new HttpConnection[connections];
        for (var i = 0; i < connections; i++) conns[i] = await HttpConnection.OpenAsync(endPoint, ct);
        return conns;
    }

    private static void Count(int status, ref long ok, ref long forbidden, ref long other)
    {
        if (status == 200) ok++;
        else if (status == 403) forbidden++;
        else other++;
    }

    private static PhaseResult Merge(string phase, int connections, double seconds, (List<long> Samples, long Ok, long Forbidden, long Other)[] results, double rate)
    {
        var all = new long[results.Sum(r => r.Samples.Count)];
        var at = 0;
        foreach (var r in results)
        {
            r.Samples.CopyTo(all, at);
            at += r.Samples.Count;
        }
        Array.Sort(all);
        return new PhaseResult(phase, connections, seconds, all, results.Sum(r => r.Ok), results.Sum(r => r.Forbidden), results.Sum(r => r.Other), rate);
    }
}
