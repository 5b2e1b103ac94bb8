using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DeployGate.Api;
using DeployGate.Benchmarks.Http;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Benchmarks;

/// <summary><c>token [N]</c>: the gate's OIDC token check in process, each call timed on its own: a token never seen
/// before (the validated-token cache off, as for every job's first request), a replayed one (a cache hit), and the
/// RSA-2048 signature verification alone, which is the floor of the first. N distinct GitHub-shaped RS256 tokens.</summary>
internal static class TokenRun
{
    private const string BaseUrl = "http://127.0.0.1:8080";

    public static int Run(int count)
    {
        var ci = CultureInfo.InvariantCulture;
        using var key = RSA.Create(2048);
        var p = key.ExportParameters(false);
        var jwk = new JsonWebKey { Kty = "RSA", Kid = "k1", N = Base64UrlEncoder.Encode(p.Modulus), E = Base64UrlEncoder.Encode(p.Exponent) };
        var now = DateTimeOffset.UtcNow;
        var headers = new string[count];
        for (var i = 0; i < count; i++)
        {
            var claims = Workload.Claims(BaseUrl, now, i, "acme/web", "acme/web/.github/workflows/release.yml", "refs/heads/main", "github-hosted", "production");
            var input = B64("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}") + "." + B64(claims.ToJsonString());
            headers[i] = "Bearer " + input + "." + Base64UrlEncoder.Encode(key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        }
        var trust = new IssuerTrust(BaseUrl + "/api/dev", BaseUrl, null);
        var keys = new OneKey(jwk);

        Console.WriteLine($"# OIDC token check in process: {count:N0} distinct RS256 tokens (~{headers[0].Length - 7:N0} characters), each call timed, .NET {Environment.Version}");
        Console.WriteLine($"{"case",-34} {"p50 µs",8} {"p99 µs",8} {"p99.9 µs",9} {"mean µs",8} {"bytes/op",9}");
        var fresh = new OidcTokenValidator(keys, trust, tokenCacheSize: 0);
        Measure("first sight (cache off)", i => Valid(fresh.ValidateAsync(headers[i], now, default)));
        var cached = new OidcTokenValidator(keys, trust, tokenCacheSize: count);
        foreach (var h in headers) Valid(cached.ValidateAsync(h, now, default));
        Measure("replayed (cache hit)", i => Valid(cached.ValidateAsync(headers[i], now, default)));
        var data = headers.Select(h => Encoding.ASCII.GetBytes(h[7..h.LastIndexOf('.')])).ToArray();
        var sigs = headers.Select(h => Base64UrlEncoder.DecodeBytes(h[(h.LastIndexOf('.') + 1)..])).ToArray();
        using var verifier = RSA.Create(p);
        Measure("RSA-2048 verify alone (the floor)", i => { if (!verifier.VerifyData(data[i], sigs[i], HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)) throw new InvalidOperationException("verify"); });
        return 0;

        void Measure(string name, Action<int> call)
        {
            for (var i = 0; i < Math.Min(count, 2000); i++) call(i);   // warm-up (JIT tiers)
            var samples = new long[count];
            GC.Collect();
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < count; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                call(i);
                samples[i] = Stopwatch.GetTimestamp() - t0;
            }
            var bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)count;
            Array.Sort(samples);
            double Us(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
            Console.WriteLine(string.Create(ci,
                $"{name,-34} {Us(samples[count / 2]),8:F1} {Us(samples[(int)(count * 0.99)]),8:F1} {Us(samples[(int)(count * 0.999)]),9:F1} {samples.Average(x => Us(x)),8:F1} {bytes,9:F0}"));
        }
    }

    private static void Valid(ValueTask<TokenCheck> pending)
    {
        var check = pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
        if (!check.IsValid) throw new InvalidOperationException($"token refused: {check.Code} {check.Message}");
    }

    private static string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

    private sealed class OneKey(SecurityKey key) : ISigningKeyProvider
    {
        public ValueTask<KeyLookup> FindAsync(string kid, CancellationToken cancellationToken) => ValueTask.FromResult(new KeyLookup(key, false));
    }
}
