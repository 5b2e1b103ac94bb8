using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace DeployGate.Benchmarks.Http;

/// <summary>The outcome of one load phase: every request's latency (sorted), throughput and status counts.</summary>
internal sealed record PhaseResult(string Phase, int Connections, double Seconds, long[] Latencies, long Ok, long Forbidden, long Other, double TargetRate = 0)
{
    /// <summary>CPU seconds the server and the load generator used during the phase.</summary>
    public double ServerCpu { get; init; }
    public double GeneratorCpu { get; init; }
    public double ServerCpuPerRequestUs => ServerCpu * 1e6 / Math.Max(1, Count + WarmUpAnswered);   // the CPU covers the warm-up too
    public double GeneratorCpuPerRequestUs => GeneratorCpu * 1e6 / Math.Max(1, Count + WarmUpAnswered);

    /// <summary>Open loop only: decisions answered during its unmeasured warm-up.</summary>
    public long WarmUpAnswered { get; init; }

    public long Count => Latencies.Length;
    public double Rate => Count / Seconds;
    public double P(double q) => Latencies.Length == 0 ? double.NaN
        : Latencies[Math.Min(Latencies.Length - 1, (int)(Latencies.Length * q))] * 1_000_000.0 / Stopwatch.Frequency;
}

/// <summary>One operation of a load phase on <paramref name="connection"/>: the <paramref name="k"/>-th (cycling over
/// what the target sends), returning the status it counts as (200, 403, or anything else: a failure).</summary>
internal delegate ValueTask<int> Operation(HttpConnection connection, long k, CancellationToken ct);

/// <summary>Closed-loop (each connection sends its next request when the previous answer is in: measures
/// saturation throughput) and open-loop (requests scheduled at a fixed rate, latency counted from the scheduled
/// instant when the connection was still busy, so coordinated omission cannot hide a stall). Every loop is
/// bounded in time and in count and stops by itself.</summary>
internal static class LoadPhases
{
    private const int MaxPerConnection = 2_000_000;

    /// <summary>The usual operation: one pre-built request, <paramref name="requests"/> cycled in order.</summary>
    public static Operation Send(byte[][] requests) => (c, k, ct) => c.ExchangeAsync(requests[k % requests.Length], ct);

    public static async Task<PhaseResult> ClosedLoopAsync(string phase, IPEndPoint endPoint, Operation operation, int connections, TimeSpan duration,
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
                var status = await operation(c, k, cts.Token);
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

    /// <summary>Open loop: request <c>k</c> is due at <c>start + k / rate</c>. One dispatcher thread sleeps until
    /// each instant (<c>usleep</c>, so to within tens of microseconds, not the ~1 ms of a .NET timer) and sends the
    /// request on a free connection; when every connection is busy it waits in a backlog, and its latency counts
    /// from its instant (the wait is the server's). A request sent on a free connection counts from its send, so
    /// the dispatcher waking late is not blamed on the server. The first <paramref name="warmUp"/> runs at the
    /// same rate on the same connections but is not measured (wrk2's calibration period does the same): fresh
    /// connections and the thread pool settling after the closed loops cost the first ~200 ms a tail of their own.
    /// An earlier version let each connection sleep with <c>Task.Delay</c> and send anything due within 1 ms at
    /// once, and measured from the first request: arrivals came in clumps of a millisecond's worth, and the tail it
    /// measured was partly the generator's (plaintext at 13,000/s: p99 1.2–1.5 ms then, 0.2–0.8 ms now).</summary>
    public static async Task<PhaseResult> OpenLoopAsync(string phase, IPEndPoint endPoint, Operation operation, int connections, double rate,
        TimeSpan duration, TimeSpan warmUp)
    {
        using var cts = new CancellationTokenSource(warmUp + duration + TimeSpan.FromSeconds(30));
        var conns = await OpenAsync(endPoint, connections, cts.Token);
        var total = (long)(rate * (warmUp + duration).TotalSeconds);
        var interval = Stopwatch.Frequency / rate;
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 100;   // 10 ms to get the dispatcher going
        var measureFrom = start + (long)(warmUp.TotalSeconds * Stopwatch.Frequency);
        var loop = new OpenLoop(conns, operation, total, measureFrom, cts.Token);
        var dispatcher = new Thread(() =>
        {
            var slack = Stopwatch.Frequency / 20_000;   // due within 50 µs: send now rather than sleep
            for (var k = 0L; k < total && !cts.IsCancellationRequested; k++)
            {
                var intended = start + (long)(k * interval);
                long wait;
                while ((wait = intended - Stopwatch.GetTimestamp()) > slack)
                    _ = Usleep((uint)Math.Max(1, wait * 1_000_000 / Stopwatch.Frequency - 50));
                loop.Due(k, intended);
            }
        }) { IsBackground = true, Name = "open-loop dispatcher", Priority = ThreadPriority.AboveNormal };
        dispatcher.Start();
        await loop.Completion.WaitAsync(cts.Token);
        dispatcher.Join();
        var seconds = (Stopwatch.GetTimestamp() - measureFrom) / (double)Stopwatch.Frequency;
        foreach (var c in conns) c.Dispose();
        loop.WriteTrace(phase, rate, measureFrom);
        return Merge(phase, connections, seconds, loop.Results, rate) with { WarmUpAnswered = loop.WarmUpAnswered };
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "usleep")]
    private static extern int Usleep(uint microseconds);

    /// <summary>The open loop's connections: free ones on a stack, due requests that found none in a backlog.</summary>
    private sealed class OpenLoop(HttpConnection[] conns, Operation operation, long total, long measureFrom, CancellationToken ct)
    {
        /// <summary><c>DEPLOYGATE_BENCH_TRACE=prefix</c>: write every measured request's (start µs, latency µs) to
        /// <c>prefix.&lt;phase&gt;.&lt;rate&gt;.&lt;n&gt;</c>, to see whether a tail is spread out or comes in stalls.</summary>
        private static readonly string? TracePrefix = Environment.GetEnvironmentVariable("DEPLOYGATE_BENCH_TRACE");
        private static int s_traces;

        private readonly Lock _gate = new();
        private readonly Stack<int> _free = new(Enumerable.Range(0, conns.Length).Reverse());
        private readonly Queue<(long K, long From)> _backlog = new();
        private readonly (List<long> Samples, long Ok, long Forbidden, long Other)[] _results =
            [.. conns.Select(_ => (new List<long>(4096), 0L, 0L, 0L))];
        private readonly List<(long From, long Latency)>[] _trace = [.. conns.Select(_ => new List<(long, long)>(TracePrefix is null ? 0 : 4096))];
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _finished;
        private long _warmUpAnswered;

        public Task Completion => total == 0 ? Task.CompletedTask : _done.Task;
        public (List<long> Samples, long Ok, long Forbidden, long Other)[] Results => _results;

        /// <summary>Decisions answered (200 or 403) during the warm-up, which the results leave out.</summary>
        public long WarmUpAnswered => Interlocked.Read(ref _warmUpAnswered);

        /// <summary>Request <paramref name="k"/> is due now (its instant was <paramref name="intended"/>).</summary>
        public void Due(long k, long intended)
        {
            int c;
            lock (_gate)
            {
                if (!_free.TryPop(out c))
                {
                    _backlog.Enqueue((k, intended));
                    return;
                }
            }
            _ = RunAsync(c, k, Stopwatch.GetTimestamp());
        }

        private async Task RunAsync(int c, long k, long from)
        {
            try
            {
                while (true)
                {
                    var status = await operation(conns[c], k, ct);
                    var latency = Stopwatch.GetTimestamp() - from;
                    if (from >= measureFrom)
                    {
                        ref var r = ref _results[c];
                        r.Samples.Add(latency);
                        Count(status, ref r.Ok, ref r.Forbidden, ref r.Other);
                        if (TracePrefix is not null) _trace[c].Add((from, latency));
                    }
                    else if (status is 200 or 403)
                    {
                        Interlocked.Increment(ref _warmUpAnswered);
                    }
                    else
                    {
                        throw new InvalidOperationException($"open-loop warm-up: answer {status}");
                    }
                    if (Interlocked.Increment(ref _finished) == total) _done.TrySetResult();
                    lock (_gate)
                    {
                        if (!_backlog.TryDequeue(out var next))
                        {
                            _free.Push(c);
                            return;
                        }
                        (k, from) = next;
                    }
                }
            }
            catch (Exception ex)
            {
                _done.TrySetException(ex);
            }
        }

        public void WriteTrace(string phase, double rate, long origin)
        {
            if (TracePrefix is null) return;
            var us = 1_000_000.0 / Stopwatch.Frequency;
            var lines = _trace.SelectMany(t => t).OrderBy(x => x.From)
                .Select(x => string.Create(CultureInfo.InvariantCulture, $"{(x.From - origin) * us:F0} {x.Latency * us:F0}"));
            File.WriteAllLines(string.Create(CultureInfo.InvariantCulture, $"{TracePrefix}.{phase}.{rate:F0}.{Interlocked.Increment(ref s_traces)}"), lines);
        }
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
