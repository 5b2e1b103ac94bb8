namespace DeployGate.Api;

internal static class RequestBody
{
    /// <summary>Reads at most <c>buffer.Length</c> bytes of a request body. Callers size the buffer one byte over
    /// their limit, so a return equal to the buffer's length means "too large" without reading the rest.</summary>
    public static async Task<int> ReadBoundedAsync(Stream body, byte[] buffer, CancellationToken ct)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await body.ReadAsync(buffer.AsMemory(total), ct);
            if (read == 0) break;
            total += read;
        }
        return total;
    }
}
