using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DeployGate.Benchmarks.Http;

/// <summary>A server under test, run as its own process (<c>dotnet some.dll …</c>) on 127.0.0.1 with its output
/// in a file, so reading the server's log costs the load generator nothing.</summary>
internal sealed class ServerProcess : IDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, int port, string logFile) => (_process, Port, LogFile) = (process, port, logFile);

    public int Port { get; }
    public string LogFile { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port}";
    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);
    public int Id => _process.Id;

    /// <summary>CPU time (user + system) the server has used so far, from <c>/proc/&lt;pid&gt;/stat</c> (10 ms ticks):
    /// CPU per request is far steadier than wall-clock rates on a shared machine.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');   // fields from 3 (state) on
                var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
                return TimeSpan.FromSeconds(ticks / 100.0);
            }
            catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
            {
                return TimeSpan.Zero;
            }
        }
    }

    /// <summary>Starts the server on a port free a moment before; when another process took that port first (the server
    /// exits, or another process answers on it), starts it again on another, up to three times.</summary>
    /// <param name="pickPort">Test hook: where the port comes from (default: one the kernel hands out as free).</param>
    public static async Task<ServerProcess> StartAsync(string dll, IEnumerable<string> args, string workingDirectory, string readyPath,
        IDictionary<string, string>? environment = null, Func<int>? pickPort = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var server = Start(dll, args, workingDirectory, environment, (pickPort ?? FreePort)());
            try
            {
                if (await server.WaitReadyAsync(readyPath)) return server;
            }
            catch
            {
                server.Dispose();
                throw;
            }
            server.Dispose();
            if (attempt == 3) throw new InvalidOperationException($"three ports in a row were taken by another process; last log:\n{await File.ReadAllTextAsync(server.LogFile)}");
            Console.Error.WriteLine($"# port {server.Port} was taken by another process; starting again on another");
        }
    }

    private static ServerProcess Start(string dll, IEnumerable<string> args, string workingDirectory, IDictionary<string, string>? environment, int port)
    {
        var logFile = Path.Combine(workingDirectory, "server.log");
        // `exec` so the process we hold is the server itself; its output goes straight to a file.
        var info = new ProcessStartInfo("/bin/sh") { WorkingDirectory = workingDirectory, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec \"$@\" >server.log 2>&1");
        info.ArgumentList.Add("sh");
        info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a.Replace("{port}", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        info.Environment["DOTNET_NOLOGO"] = "1";
        // The generator's own setting (see bench/run.sh); servers run with the runtime's defaults.
        info.Environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS");
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        return new ServerProcess(Process.Start(info)!, port, logFile);
    }

    /// <summary>True once the server answers <paramref name="path"/> on its port and is the process listening there; false
    /// when another process holds the port (this one then cannot bind it).</summary>
    private async Task<bool> WaitReadyAsync(string path)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (_process.HasExited)
            {
                if (ListeningSocket.AnyListens(Port) is true) return false;   // it could not bind: another process holds the port
                throw new InvalidOperationException($"server exited early:\n{await File.ReadAllTextAsync(LogFile)}");
            }
            try
            {
                using var response = await client.GetAsync(new Uri(BaseUrl + path));
                return ListeningSocket.IsOwnedBy(_process.Id, Port) is not false;   // false: another process answered, so this one cannot bind
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"server on {BaseUrl} never answered {path}");
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();   // this one process, by its id
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}
