using System.Net;
using System.Net.Sockets;
using DeployGate.Benchmarks.Http;

namespace DeployGate.Benchmarks.Tests;

/// <summary>Who listens on a port, as the servers' start-up checks it before trusting an answer there.</summary>
public sealed class ListeningSocketTests
{
    [Fact]
    public void TheListeningProcessOwnsItsPort_OthersDoNot_AndAClosedPortHasNoListener()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        try
        {
            Assert.True(ListeningSocket.AnyListens(port));
            Assert.True(ListeningSocket.IsOwnedBy(Environment.ProcessId, port));
            using var other = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "5"))!;
            Assert.False(ListeningSocket.IsOwnedBy(other.Id, port));   // a live process that listens on nothing
            other.Kill();
        }
        finally
        {
            listener.Stop();
        }
        Assert.False(ListeningSocket.AnyListens(port));
        Assert.False(ListeningSocket.IsOwnedBy(Environment.ProcessId, port));
    }

    [Fact]
    public void AConnectedSocketIsNotAListener()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        client.Connect((IPEndPoint)listener.LocalEndpoint);
        var clientPort = ((IPEndPoint)client.Client.LocalEndPoint!).Port;   // an ephemeral port held by a connection
        Assert.False(ListeningSocket.AnyListens(clientPort));
        listener.Stop();
    }
}

/// <summary>The benchmark's servers start on a port picked free a moment before: one taken by another process in between
/// must not be measured.</summary>
public sealed class ServerStartTests
{
    private static string PlaintextDll()
    {
        var root = DeployGate.Api.Tests.ServerProcess.RepositoryRoot;
        var cli = Path.GetDirectoryName(DeployGate.Api.Tests.ServerProcess.DeploygateDll)!;
        var path = Path.Combine(root, "bench", "DeployGate.Bench.Plaintext", Path.GetRelativePath(Path.Combine(root, "src", "DeployGate.Cli"), cli), "DeployGate.Bench.Plaintext.dll");
        Assert.True(File.Exists(path), $"build the plaintext server first: {path}");
        return path;
    }

    [Fact]
    public async Task APortAnotherServerAnswersOn_IsLeft_AndTheServerStartsOnAnother()
    {
        var dir = Directory.CreateTempSubdirectory("dg-serverstart-");
        try
        {
            string[] args = ["--urls", "http://127.0.0.1:{port}"];
            using var first = await Http.ServerProcess.StartAsync(PlaintextDll(), args, Directory.CreateDirectory(Path.Combine(dir.FullName, "a")).FullName, "/");
            var picks = new List<int>();
            using var second = await Http.ServerProcess.StartAsync(PlaintextDll(), args, Directory.CreateDirectory(Path.Combine(dir.FullName, "b")).FullName, "/",
                pickPort: () =>
                {
                    picks.Add(picks.Count == 0 ? first.Port : Http.ServerProcess.FreePort());   // the first pick is taken
                    return picks[^1];
                });
            Assert.Equal(2, picks.Count);
            Assert.Equal(picks[1], second.Port);
            Assert.True(ListeningSocket.IsOwnedBy(second.Id, second.Port));
            Assert.True(ListeningSocket.IsOwnedBy(first.Id, first.Port));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
