using System.Net;
using System.Net.Sockets;

namespace DeployGate.Benchmarks.Http;

/// <summary>One keep-alive HTTP/1.1 connection over a raw socket: sends a pre-built request and reads one
/// response (status line, <c>Content-Length</c> or chunked body). No pipelining: one request in flight per
/// connection. Raw sockets rather than HttpClient because the load generator shares the 2 cores with the server:
/// every microsecond it spends is taken from the server, so it must be as cheap as wrk is.</summary>
internal sealed class HttpConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private byte[] _chunked = [];       // a chunked response's body, joined
    private ReadOnlyMemory<byte> _body;

    /// <summary>The last response's body, valid until the next <see cref="ExchangeAsync"/> on this connection.</summary>
    public ReadOnlyMemory<byte> Body => _body;

    private HttpConnection(Socket socket) => _socket = socket;

    public static async Task<HttpConnection> OpenAsync(IPEndPoint endPoint, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, ct);
            return new HttpConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="request"/> and returns the response's status code once the whole body is in.</summary>
    public async ValueTask<int> ExchangeAsync(ReadOnlyMemory<byte> request, CancellationToken ct)
    {
        while (!request.IsEmpty)
        {
            var sent = await _socket.SendAsync(request, SocketFlags.None, ct);
            request = request[sent..];
        }

        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0) await FillAsync(ct);
        var head = _buffer.AsSpan(_start, headerEnd);
        var status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
        var contentLength = -1;
        var chunked = false;
        foreach (var range in head.Split("\r\n"u8))
        {
            var line = head[range];
            if (line.Length > 15 && System.Text.Ascii.EqualsIgnoreCase(line[..15], "content-length:"u8))
                contentLength = int.Parse(line[15..].Trim((byte)' '), provider: System.Globalization.CultureInfo.InvariantCulture);
            else if (line.Length > 18 && System.Text.Ascii.EqualsIgnoreCase(line[..18], "transfer-encoding:"u8))
                chunked = line[18..].IndexOf("chunked"u8) >= 0;
        }
        _start += headerEnd + 4;

        if (contentLength >= 0)
        {
            await EnsureAsync(contentLength, ct);
            _body = _buffer.AsMemory(_start, contentLength);   // stays put: the buffer moves only when the next exchange fills it
            _start += contentLength;
        }
        else if (chunked)
        {
            var joined = 0;
            while (true)
            {
                int lineEnd;
                while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0) await FillAsync(ct);
                var size = int.Parse(_buffer.AsSpan(_start, lineEnd), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                _start += lineEnd + 2;
                await EnsureAsync(size + 2, ct);   // data + CRLF (no trailers)
                if (joined + size > _chunked.Length) Array.Resize(ref _chunked, Math.Max(2 * _chunked.Length, joined + size));
                _buffer.AsSpan(_start, size).CopyTo(_chunked.AsSpan(joined));
                joined += size;
                _start += size + 2;
                if (size == 0) break;
            }
            _body = _chunked.AsMemory(0, joined);
        }
        else
        {
            _body = ReadOnlyMemory<byte>.Empty;
        }
        if (_start == _end) _start = _end = 0;
        return status;
    }

    private async ValueTask EnsureAsync(int count, CancellationToken ct)
    {
        while (_end - _start < count) await FillAsync(ct);
    }

    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_end == _buffer.Length)
        {
            if (_start == 0) throw new InvalidOperationException("response larger than the receive buffer");
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            (_start, _end) = (0, _end - _start);
        }
        var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct);
        if (read == 0) throw new IOException("the server closed the connection");
        _end += read;
    }

    public void Dispose() => _socket.Dispose();
}
