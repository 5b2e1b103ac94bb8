using System.Security.Cryptography;

namespace DeployGate.Api;

/// <summary>Cryptographically secure random bytes for ids, drawn from <see cref="RandomNumberGenerator"/> a
/// kilobyte at a time per thread: each call into it costs ~2 µs on the benchmark machine whatever its size
/// (OpenSSL's per-call work), and every authorize request wanted one for its decision id and one more for a
/// grant's <c>jti</c>. The bytes are that generator's; none is handed out twice, and each is wiped from the
/// pool as it is handed out.</summary>
internal static class RandomPool
{
    private const int Size = 1024;
    private const int MaxDraw = 64;   // bigger draws go to the generator directly

    [ThreadStatic] private static byte[]? t_pool;
    [ThreadStatic] private static int t_next;

    public static void Fill(Span<byte> destination)
    {
        if (destination.Length > MaxDraw)
        {
            RandomNumberGenerator.Fill(destination);
            return;
        }
        var pool = t_pool;
        if (pool is null || t_next + destination.Length > Size)
        {
            pool = t_pool ??= new byte[Size];
            RandomNumberGenerator.Fill(pool);
            t_next = 0;
        }
        var drawn = pool.AsSpan(t_next, destination.Length);
        drawn.CopyTo(destination);
        drawn.Clear();
        t_next += destination.Length;
    }
}
