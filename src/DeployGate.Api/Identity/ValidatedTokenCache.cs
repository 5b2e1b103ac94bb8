using System.Collections.Concurrent;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api;

/// <summary>Tokens that passed every check, keyed by their exact compact form (signature included), so a token
/// replayed within its lifetime skips RSA verification and claim parsing. It caches an input (the verified
/// claims, SPEC §1.3), never a decision: every request is still decided, audited and answered on its own.
/// A hit is used only while, at the request's own clock reading, the token is inside its <c>nbf</c>/<c>exp</c>
/// (with the same skew as a full check), the issuer still publishes the very key object that verified it (a
/// JWKS refresh or a removed key sends the token back through full validation) and the issuer and audience
/// are unchanged. Bounded: at most <see cref="Capacity"/> entries; expired ones are swept when it is full,
/// and a token that finds it full of live ones is simply not cached.</summary>
internal sealed class ValidatedTokenCache(int capacity)
{
    internal sealed record Entry(TokenCheck Check, string Kid, SecurityKey Key, string Issuer, string? Audience,
        DateTimeOffset ValidFrom, DateTimeOffset ValidUntil);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _nextSweepUtcTicks;

    /// <summary>Most entries kept (<c>DeployGate:TokenCacheSize</c>).</summary>
    public int Capacity { get; } = capacity;

    public int Count => _entries.Count;

    /// <summary>The entry for <paramref name="token"/> when it is still inside its lifetime at <paramref name="now"/>.
    /// Looked up by span, so a hit allocates no copy of the token (a ~1 KB token is ~2 KB as a string).</summary>
    public bool TryGet(ReadOnlySpan<char> token, DateTimeOffset now, out Entry entry)
    {
        var bySpan = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
        if (bySpan.TryGetValue(token, out entry!))
        {
            if (now >= entry.ValidFrom && now <= entry.ValidUntil) return true;
            bySpan.TryRemove(token, out _, out _);
        }
        return false;
    }

    public void Remove(ReadOnlySpan<char> token) => _entries.GetAlternateLookup<ReadOnlySpan<char>>().TryRemove(token, out _, out _);

    public void Add(string token, Entry entry, DateTimeOffset now)
    {
        if (_entries.Count >= Capacity && !Sweep(now)) return;
        _entries[token] = entry;
    }

    /// <summary>Drops expired entries, at most once a second (a full cache of live tokens must not make every
    /// request walk it). True when there is room afterwards.</summary>
    private bool Sweep(DateTimeOffset now)
    {
        var due = Interlocked.Read(ref _nextSweepUtcTicks);
        if (now.UtcTicks >= due && Interlocked.CompareExchange(ref _nextSweepUtcTicks, now.UtcTicks + TimeSpan.TicksPerSecond, due) == due)
        {
            foreach (var (key, value) in _entries)
            {
                if (now > value.ValidUntil) _entries.TryRemove(key, out _);
            }
        }
        return _entries.Count < Capacity;
    }
}
