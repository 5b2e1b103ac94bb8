using Microsoft.AspNetCore.Http;

namespace DeployGate.Api.Tests.Endpoints;

/// <summary><see cref="RequestBody.ReadAsync"/>: the whole body up to the limit, sized by Content-Length or grown
/// from 4 KiB when chunked, and never more than limit + 1 bytes read.</summary>
public sealed class PooledBodyReaderTests
{
    private static (HttpRequest Request, CountingStream Body) Request(int length, bool declared)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++) bytes[i] = (byte)((i * 31 + 7) & 0xFF);
        var body = new CountingStream(bytes);
        var context = new DefaultHttpContext();
        context.Request.Body = body;
        if (declared) context.Request.ContentLength = length;
        return (context.Request, body);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(95, true)]
    [InlineData(95, false)]
    [InlineData(4096, false)]        // exactly the first undeclared buffer
    [InlineData(10_000, false)]      // grows twice
    [InlineData(65_536, true)]       // exactly the limit
    [InlineData(65_536, false)]
    public async Task BodyWithinTheLimit_IsReadWhole(int length, bool declared)
    {
        var (request, body) = Request(length, declared);
        using var read = await RequestBody.ReadAsync(request, 65_536, CancellationToken.None);

        Assert.False(read.TooLarge);
        Assert.Equal(body.Source, read.Memory.ToArray());
    }

    [Theory]
    [InlineData(65_537, false)]
    [InlineData(1_000_000, false)]
    public async Task BodyOverTheLimit_IsTooLarge_AfterReadingOneByteMore(int length, bool declared)
    {
        var (request, body) = Request(length, declared);
        using var read = await RequestBody.ReadAsync(request, 65_536, CancellationToken.None);

        Assert.True(read.TooLarge);
        Assert.Equal(65_537, body.Consumed);   // the rest of a huge body is never read
    }

    [Fact]
    public async Task DeclaredLengthOverTheLimit_IsTooLarge_WithoutReadingAnything()
    {
        var (request, body) = Request(70_000, declared: true);
        using var read = await RequestBody.ReadAsync(request, 65_536, CancellationToken.None);

        Assert.True(read.TooLarge);
        Assert.Equal(0, body.Consumed);
    }

    [Fact]
    public async Task BodyLongerThanDeclared_IsStillBoundedByTheLimit()
    {
        var (request, body) = Request(70_000, declared: false);
        request.ContentLength = 10;   // a lying header must not make the buffer, or the read, unbounded
        using var read = await RequestBody.ReadAsync(request, 65_536, CancellationToken.None);

        Assert.True(read.TooLarge);
        Assert.Equal(65_537, body.Consumed);
    }

    /// <summary>A body that hands out at most 1,000 bytes per read, as a network stream might, and counts them.</summary>
    private sealed class CountingStream(byte[] source) : MemoryStream(source, writable: false)
    {
        public byte[] Source { get; } = source;

        public long Consumed => Position;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => base.ReadAsync(buffer[..Math.Min(buffer.Length, 1000)], cancellationToken);
    }
}
