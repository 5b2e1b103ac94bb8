using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using DeployGate.Benchmarks.Http;

namespace DeployGate.Api.Tests;

/// <summary>The real <c>deploygate</c> executable (the Cli project's build output) run as a child process.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The built <c>deploygate.dll</c> of the same configuration as this test assembly.</summary>
    public static string DeploygateDll
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            var configuration = dir.Parent!.Name;   // …/bin/<Configuration>/net10.0/
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DeployGate.sln"))) dir = dir.Parent;
            Assert.NotNull(dir);
            var dll = Path.Combine(dir.FullName, "src", "DeployGate.Cli", "bin", configuration, "net10.0", "deploygate.dll");
            Assert.True(File.Exists(dll), $"build the CLI first: {dll}");
            return dll;
        }
    }

    public static string RepositoryRoot => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(DeploygateDll)!, "..", "..", "..", "..", ".."));

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static ServerProcess Start(string workingDirectory, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(DeploygateDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        return new ServerProcess(Process.Start(info)!);
    }

    /// <summary>Runs a CLI command to completion; returns exit code and combined output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string workingDirectory, params string[] args)
    {
        await using var process = Start(workingDirectory, args);
        await process._process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
        process._process.WaitForExit();   // drains the output events
        return (process._process.ExitCode, process.Output);
    }

    /// <summary>Waits until <c>GET {url}/api/healthz</c> answers at all (any status), and fails when the answer came from
    /// another process: a port picked free a moment before can be taken by another test's server in between.</summary>
    public async Task WaitReadyAsync(string url)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var attempt = 0; attempt < 600; attempt++)
        {
            Assert.False(_process.HasExited, "server exited early:\n" + Output);
            try
            {
                using var response = await client.GetAsync(url + "/api/healthz");
                Assert.False(ListeningSocket.IsOwnedBy(_process.Id, new Uri(url).Port) is false,
                    $"another process answers on {url}, so this server cannot bind it:\n{Output}");
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100);
            }
            catch (TaskCanceledException)
            {
            }
        }
        Assert.Fail("server never answered:\n" + Output);
    }

    /// <summary>The URL a <c>serve … --urls http://127.0.0.1:0</c> bound: from the <c>--dev</c> banner's <c>listening</c> line,
    /// or else ASP.NET Core's <c>Now listening on:</c> (logged at Information by <c>Microsoft.Hosting.Lifetime</c>). A port
    /// the server picked itself, which no other process can take first.</summary>
    public async Task<string> WaitListeningUrlAsync()
    {
        for (var attempt = 0; attempt < 1_200; attempt++)
        {
            Assert.False(_process.HasExited, "server exited early:\n" + Output);
            if (Regex.Match(Output, @"^\s*listening\s+(http://\S+)|Now listening on: (http://[^\s""]+)", RegexOptions.Multiline) is { Success: true } match)
                return match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value;
            await Task.Delay(50);
        }
        Assert.Fail("server never printed its listening URL:\n" + Output);
        return "";
    }

    /// <summary>The server's process id (the review worker's lease owner names it).</summary>
    public int ProcessId => _process.Id;

    /// <summary>SIGKILL: no shutdown hooks, no flushing.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
