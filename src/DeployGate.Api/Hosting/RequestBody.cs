using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace DeployGate.Api;

/// <summary>A request body read into a pooled buffer (see <see cref="RequestBody.ReadAsync"/>). Dispose returns the
/// buffer to the pool; <see cref="Memory"/> must not be used after that.</summary>
internal readonly struct PooledBody(byte[] buffer, int length, bool tooLarge) : IDisposable
{
    /// <summary>The whole body; meaningless when <see cref="TooLarge"/>.</summary>
    public ReadOnlyMemory<byte> Memory => buffer.AsMemory(0, length);

    /// <summary>The body is longer than the limit: its declared length says so (nothing was read), or
    /// <c>max + 1</c> bytes of it were read.</summary>
    public bool TooLarge => tooLarge;

    public void Dispose() => ArrayPool<byte>.Shared.Return(buffer);
}

internal static class RequestBody
{
    private const int UndeclaredStart = 4096;

    /// <summary>Reads a request body of at most <paramref name="max"/> bytes into a pooled buffer sized by its
    /// <c>Content-Length</c> (or from 4 KiB, doubling, when chunked), reading no more than <c>max + 1</c> bytes: a
    /// larger body is <see cref="PooledBody.TooLarge"/> without the rest being read, and one whose declared
    /// <c>Content-Length</c> is over the limit without any of it being read. Sizing by the declared length
    /// matters: a buffer of the largest allowed body (64 KiB for authorize) comes from the large-object heap,
    /// and under load the pool could not hand out enough of them.</summary>
    public static async Task<PooledBody> ReadAsync(HttpRequest request, int max, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        var limit = max + 1;
        var declared = request.ContentLength;
        if (declared > max) return new PooledBody(ArrayPool<byte>.Shared.Rent(0), 0, tooLarge: true);
        var buffer = ArrayPool<byte>.Shared.Rent(declared is { } n && n < limit ? (int)n + 1 : Math.Min(limit, UndeclaredStart));
        var total = 0;
        try
        {
            while (total < limit)
            {
                if (total == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(limit, 2L * buffer.Length));
                    buffer.AsSpan(0, total).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                var read = await request.Body.ReadAsync(buffer.AsMemory(total, Math.Min(buffer.Length, limit) - total), ct);
                if (read == 0) break;
                total += read;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        return new PooledBody(buffer, total, tooLarge: total > max);
    }
}
