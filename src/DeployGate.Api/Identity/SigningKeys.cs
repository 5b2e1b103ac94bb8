using System.Collections.Frozen;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api;

/// <summary>The outcome of looking up a token's <c>kid</c>: the key, or why there is none.</summary>
internal readonly record struct KeyLookup(SecurityKey? Key, bool SourceUnavailable);

/// <summary>Finds the issuer's public key for a <c>kid</c>.</summary>
internal interface ISigningKeyProvider
{
    ValueTask<KeyLookup> FindAsync(string kid, CancellationToken cancellationToken);
}

/// <summary>The dev issuer's one key, in memory.</summary>
internal sealed class DevSigningKeyProvider(DevIssuer issuer) : ISigningKeyProvider
{
    public ValueTask<KeyLookup> FindAsync(string kid, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new KeyLookup(kid == issuer.KeyId ? issuer.PublicKey : null, false));
}

/// <summary>The issuer's JWKS (via <c>{issuer}/.well-known/openid-configuration</c> → <c>jwks_uri</c>),
/// cached and refreshed in the background, so the request path normally never waits for the network.
/// An unknown <c>kid</c> triggers one refetch (single-flight, at most one per
/// <see cref="GateOptions.JwksMinRefetchInterval"/>), so key rotation is picked up at once while a
/// stream of bogus kids cannot hammer the issuer. A failed refresh keeps the last good keys.</summary>
internal sealed partial class JwksSigningKeyProvider(
    IHttpClientFactory httpClients, GateConfiguration config, TimeProvider time, ILogger<JwksSigningKeyProvider> logger)
    : BackgroundService, ISigningKeyProvider
{
    public const string HttpClientName = "oidc-issuer";

    private readonly Lock _gate = new();
    private volatile FrozenDictionary<string, SecurityKey>? _keys;
    private Task<bool>? _refreshing;
    private DateTimeOffset? _lastOnDemand;

    public async ValueTask<KeyLookup> FindAsync(string kid, CancellationToken cancellationToken)
    {
        var keys = _keys;
        if (keys is null)
        {
            await RefreshAsync().WaitAsync(cancellationToken);
            keys = _keys;
            if (keys is null) return new KeyLookup(null, SourceUnavailable: true);
        }
        if (keys.TryGetValue(kid, out var key)) return new KeyLookup(key, false);

        Task<bool> refresh;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_refreshing is { IsCompleted: false } running)
            {
                refresh = running; // a fetch is under way: its keys may well have the kid
            }
            else if (_lastOnDemand is { } last && now - last < config.Gate.JwksMinRefetchInterval)
            {
                return new KeyLookup(null, false); // rate limit: unknown kids cannot hammer the issuer
            }
            else
            {
                _lastOnDemand = now;
                refresh = RefreshCoreLocked();
            }
        }
        await refresh.WaitAsync(cancellationToken);
        keys = _keys;
        return keys is not null && keys.TryGetValue(kid, out key) ? new KeyLookup(key, false) : new KeyLookup(null, keys is null);
    }

    private Task<bool> RefreshAsync()
    {
        lock (_gate) return RefreshCoreLocked();
    }

    private Task<bool> RefreshCoreLocked()
    {
        // Single flight: everyone waiting for keys shares one fetch.
        if (_refreshing is { IsCompleted: false } running) return running;
        var task = FetchAsync();
        _refreshing = task;
        return task;
    }

    private async Task<bool> FetchAsync()
    {
        await Task.Yield();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var client = httpClients.CreateClient(HttpClientName);
            var issuer = config.Gate.Issuer.TrimEnd('/');
            var discoveryJson = await client.GetStringAsync(new Uri(issuer + "/.well-known/openid-configuration"), cts.Token);
            var discovery = Microsoft.IdentityModel.Protocols.OpenIdConnect.OpenIdConnectConfiguration.Create(discoveryJson);
            if (!GateConfiguration.IsSecureOrLoopback(discovery.JwksUri))
            {
                Log.JwksFailed(logger, issuer, "jwks_uri is missing or not https");
                return false;
            }
            var jwksJson = await client.GetStringAsync(new Uri(discovery.JwksUri), cts.Token);
            var set = new JsonWebKeySet(jwksJson);
            var keys = new Dictionary<string, SecurityKey>(StringComparer.Ordinal);
            foreach (var key in set.Keys)
            {
                if (key.Kty == "RSA" && key.Kid is { Length: > 0 } && (key.Use is null or "sig")) keys[key.Kid] = key;
            }
            _keys = keys.ToFrozenDictionary(StringComparer.Ordinal);
            Log.JwksRefreshed(logger, issuer, keys.Count);
            return true;
        }
        catch (Exception ex)
        {
            Log.JwksFailed(logger, config.Gate.Issuer, ex.Message);
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var ok = await RefreshAsync();
            var wait = ok ? config.Gate.JwksRefreshInterval : TimeSpan.FromSeconds(30);
            try
            {
                await Task.Delay(wait, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "refreshed JWKS of issuer {Issuer}: {Count} keys")]
        public static partial void JwksRefreshed(ILogger logger, string issuer, int count);

        [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "DG3012: cannot fetch the JWKS of issuer {Issuer}: {Reason}")]
        public static partial void JwksFailed(ILogger logger, string issuer, string reason);
    }
}
