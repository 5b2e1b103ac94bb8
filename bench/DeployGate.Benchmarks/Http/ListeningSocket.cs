using System.Globalization;

namespace DeployGate.Benchmarks.Http;

/// <summary>Whether a given process is the one listening on a loopback port (Linux: <c>/proc/net/tcp</c> and
/// <c>/proc/&lt;pid&gt;/fd</c>). A server started on a port picked free a moment before can lose it to another
/// process in between, and then whatever answers on that port is not the server under test: the benchmarks and the
/// tests that start servers check this before they trust an answer. Also compiled into the test projects.</summary>
internal static class ListeningSocket
{
    /// <summary>True when process <paramref name="pid"/> holds a socket listening on IPv4 port <paramref name="port"/>;
    /// false when another process does, or nobody; null where <c>/proc</c> cannot tell (not Linux).</summary>
    public static bool? IsOwnedBy(int pid, int port)
    {
        if (Listeners(port) is not { } inodes) return null;
        if (inodes.Count == 0) return false;
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                string? target;
                try
                {
                    target = new FileInfo(fd).LinkTarget;   // "socket:[12345]"
                }
                catch (IOException)
                {
                    continue;   // closed while we looked
                }
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && target.EndsWith(']')
                    && inodes.Contains(target[8..^1])) return true;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;   // the process is gone
        }
        return false;
    }

    /// <summary>Whether any process listens on IPv4 port <paramref name="port"/>; null where <c>/proc</c> cannot tell.</summary>
    public static bool? AnyListens(int port) => Listeners(port) is { } inodes ? inodes.Count > 0 : null;

    /// <summary>The socket inodes listening on IPv4 port <paramref name="port"/>, from <c>/proc/net/tcp</c>.</summary>
    private static HashSet<string>? Listeners(int port)
    {
        if (!File.Exists("/proc/net/tcp")) return null;
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode"
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 10 || fields[3] != "0A") continue;   // 0A: LISTEN
            var local = fields[1];
            if (int.Parse(local.AsSpan(local.IndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
                inodes.Add(fields[9]);
        }
        return inodes;
    }
}
