using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace DeployGate.Api;

/// <summary>A grant signing key problem (code <see cref="GrantCodes.SigningKeyUnavailable"/>).</summary>
public sealed class GrantKeyException(string message, Exception? innerException = null) : Exception(message, innerException)
{
    public string Code { get; } = GrantCodes.SigningKeyUnavailable;
}

/// <summary>One ES256 (ECDSA P-256) grant signing key. <see cref="Kid"/> is its RFC 7638 JWK thumbprint.</summary>
public sealed class GrantKey
{
    internal GrantKey(ECDsa key, DateTimeOffset? createdAt, DateTimeOffset? retiredAt)
    {
        Key = key;
        CreatedAt = createdAt;
        RetiredAt = retiredAt;
        var q = key.ExportParameters(includePrivateParameters: false).Q;
        X = Base64UrlEncoder.Encode(q.X);
        Y = Base64UrlEncoder.Encode(q.Y);
        // RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
        Kid = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes($$"""{"crv":"P-256","kty":"EC","x":"{{X}}","y":"{{Y}}"}""")));
        SecurityKey = new ECDsaSecurityKey(key) { KeyId = Kid };
        EncodedHeader = Base64UrlEncoder.Encode($$"""{"alg":"ES256","kid":"{{Kid}}","typ":"JWT"}""");
    }

    /// <summary>The JWS header of every grant this key signs, base64url (the same for each).</summary>
    internal string EncodedHeader { get; }

    public string Kid { get; }

    public DateTimeOffset? CreatedAt { get; }

    /// <summary>When it stopped signing (a newer key took over); null for the current key and PEM keys.</summary>
    public DateTimeOffset? RetiredAt { get; }

    internal ECDsa Key { get; }

    internal ECDsaSecurityKey SecurityKey { get; }

    internal string X { get; }

    internal string Y { get; }
}

/// <summary>The keys that sign and verify grants (SPEC §7). Two sources:
/// <list type="bullet">
/// <item>a <b>key ring file</b> managed by DeployGate (default <c>grant-keys.json</c> in the data folder, next to the
/// SQLite file; created on first use, mode 0600): the newest non-retired key signs; a retired key stays published
/// for <see cref="Retention"/> after its retirement, then it is ignored (and dropped by the next rotation);</item>
/// <item>a <b>PEM file</b> (<c>Grants:SigningKeyPath</c>) managed by the operator: one or more EC P-256 private keys;
/// the first signs, all are published. Rotation = put the new key first and keep the old one after it for
/// <see cref="Retention"/>.</item>
/// </list>
/// The file is re-read whenever its size or modification time changes, so <c>deploygate grants rotate-key</c> takes
/// effect in a running server without a restart.</summary>
public sealed class GrantKeyRing
{
    /// <summary>File name of the key ring in the data folder.</summary>
    public const string DefaultFileName = "grant-keys.json";

    /// <summary>How long a retired key stays published: the longest grant lifetime (1 h, <c>Grants:Ttl</c> max), so
    /// every grant it signed has expired, plus 5 min for in-flight requests and verifiers' clock leeway.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromHours(1) + TimeSpan.FromMinutes(5);

    private readonly Lock _gate = new();
    private volatile Loaded _loaded;

    private GrantKeyRing(string path, bool pem, Loaded loaded)
    {
        Path = path;
        IsPem = pem;
        _loaded = loaded;
    }

    /// <summary>The key file (full path).</summary>
    public string Path { get; }

    /// <summary>True for an operator-managed PEM file (<c>Grants:SigningKeyPath</c>).</summary>
    public bool IsPem { get; }

    /// <summary>Loads the operator's PEM file.</summary>
    /// <exception cref="GrantKeyException">Unreadable, no EC key, or a key not on P-256.</exception>
    public static GrantKeyRing LoadPem(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        return new GrantKeyRing(full, pem: true, Read(full, pem: true));
    }

    /// <summary>Loads the key ring file, creating it with one fresh key when absent. Two processes racing to create
    /// it end up with the same ring (temp file, then a non-overwriting move).</summary>
    /// <exception cref="GrantKeyException">Unreadable or invalid file, or the folder cannot be written.</exception>
    public static GrantKeyRing LoadOrCreate(string path, DateTimeOffset now)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            using var fresh = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            Write(full, [(fresh.ExportECPrivateKeyPem(), now, null)], overwrite: false);
        }
        return new GrantKeyRing(full, pem: false, Read(full, pem: false));
    }

    /// <summary>The key that signs at <paramref name="now"/>.</summary>
    public GrantKey Signing(DateTimeOffset now) => Current().Signing;

    /// <summary>The keys published (and accepted when verifying) at <paramref name="now"/>: the signing key and the
    /// retired keys still within <see cref="Retention"/>.</summary>
    public IReadOnlyList<GrantKey> Published(DateTimeOffset now) =>
        [.. Current().Keys.Where(k => k.RetiredAt is not { } retired || now < retired + Retention)];

    /// <summary>A published key by <c>kid</c>, or null.</summary>
    public GrantKey? Find(string kid, DateTimeOffset now) =>
        Current().Keys.FirstOrDefault(k => k.Kid == kid && (k.RetiredAt is not { } retired || now < retired + Retention));

    /// <summary>The JWKS document: public keys only.</summary>
    public string JwksJson(DateTimeOffset now)
    {
        var keys = new JsonArray();
        foreach (var key in Published(now))
        {
            keys.Add(new JsonObject
            {
                ["kty"] = "EC", ["crv"] = "P-256", ["x"] = key.X, ["y"] = key.Y,
                ["kid"] = key.Kid, ["alg"] = SecurityAlgorithms.EcdsaSha256, ["use"] = "sig",
            });
        }
        return new JsonObject { ["keys"] = keys }.ToJsonString();
    }

    /// <summary>The result of <see cref="Rotate"/>.</summary>
    public sealed record Rotation(string NewKid, string? RetiredKid, IReadOnlyList<string> DroppedKids, IReadOnlyList<string> PublishedKids);

    /// <summary><c>deploygate grants rotate-key</c>: adds a new signing key, retires the current one (it stays
    /// published for <see cref="Retention"/>), and drops keys retired longer ago than that. Creates the ring when
    /// absent. Replaces the file atomically (temp file + rename).</summary>
    /// <exception cref="GrantKeyException">The ring cannot be read or written.</exception>
    public static Rotation Rotate(string path, DateTimeOffset now)
    {
        var full = System.IO.Path.GetFullPath(path);
        var entries = new List<(string Pem, DateTimeOffset? Created, DateTimeOffset? Retired)>();
        var dropped = new List<string>();
        string? retired = null;
        if (File.Exists(full))
        {
            foreach (var (pem, created, retiredAt) in ReadEntries(full))
            {
                using var key = ImportP256(pem, full);
                var kid = new GrantKey(key, created, retiredAt).Kid;
                if (retiredAt is { } r && now >= r + Retention)
                {
                    dropped.Add(kid);
                    continue;
                }
                if (retiredAt is null) retired = kid;
                entries.Add((pem, created, retiredAt ?? now));
            }
        }
        using var fresh = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        entries.Add((fresh.ExportECPrivateKeyPem(), now, null));
        Write(full, entries, overwrite: true);
        var newKid = new GrantKey(fresh, now, null).Kid;
        var published = Read(full, pem: false).Keys.Select(k => k.Kid).ToList();
        return new Rotation(newKid, retired, dropped, published);
    }

    private Loaded Current()
    {
        var loaded = _loaded;
        var stamp = Stamp(Path);
        if (stamp == loaded.Stamp) return loaded;
        lock (_gate)
        {
            loaded = _loaded;
            if (Stamp(Path) == loaded.Stamp) return loaded;
            try
            {
                _loaded = loaded = Read(Path, IsPem);
            }
            catch (GrantKeyException)
            {
                // A half-written or removed file must not stop signing: keep the last good keys until it is fixed.
                // (Our own writers replace the file atomically, so this is an operator's mistake.)
            }
            return loaded;
        }
    }

    private sealed record Loaded((long Length, DateTime Modified) Stamp, IReadOnlyList<GrantKey> Keys, GrantKey Signing);

    private static (long Length, DateTime Modified) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc) : (-1, default);
    }

    private static Loaded Read(string path, bool pem)
    {
        var stamp = Stamp(path);
        var keys = new List<GrantKey>();
        if (pem)
        {
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new GrantKeyException($"cannot read grant signing key `{path}`: {ex.Message}", ex);
            }
            var rest = text.AsSpan();
            while (PemEncoding.TryFind(rest, out var fields))
            {
                var block = rest[fields.Location].ToString();
                var label = rest[fields.Label].ToString();
                rest = rest[fields.Location.End..];
                if (label is not ("EC PRIVATE KEY" or "PRIVATE KEY")) continue;
                keys.Add(new GrantKey(ImportP256(block, path), null, null));
            }
            if (keys.Count == 0)
                throw new GrantKeyException($"`{path}` holds no EC private key in PEM form (`BEGIN EC PRIVATE KEY` or `BEGIN PRIVATE KEY`)");
            return new Loaded(stamp, keys, keys[0]);
        }

        foreach (var (p, created, retired) in ReadEntries(path)) keys.Add(new GrantKey(ImportP256(p, path), created, retired));
        var signing = keys.LastOrDefault(k => k.RetiredAt is null)
            ?? throw new GrantKeyException($"grant key ring `{path}` has no current (non-retired) key; run `deploygate grants rotate-key`");
        return new Loaded(stamp, keys, signing);
    }

    private static List<(string Pem, DateTimeOffset? Created, DateTimeOffset? Retired)> ReadEntries(string path)
    {
        try
        {
            var doc = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new GrantKeyException($"grant key ring `{path}` is not a JSON object");
            var list = new List<(string, DateTimeOffset?, DateTimeOffset?)>();
            foreach (var node in doc["keys"] as JsonArray ?? throw new GrantKeyException($"grant key ring `{path}` has no `keys` array"))
            {
                var pem = (string?)node?["private_key_pem"] ?? throw new GrantKeyException($"grant key ring `{path}`: a key has no `private_key_pem`");
                list.Add((pem, Instant((string?)node!["created_at"]), Instant((string?)node["retired_at"])));
            }
            return list;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException or FormatException)
        {
            throw new GrantKeyException($"cannot read grant key ring `{path}`: {ex.Message}", ex);
        }
    }

    private static DateTimeOffset? Instant(string? text) =>
        text is null ? null : DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private static ECDsa ImportP256(string pem, string path)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            var curve = key.ExportParameters(false).Curve;
            if (key.KeySize != 256 || !(curve.Oid.Value == ECCurve.NamedCurves.nistP256.Oid.Value || curve.Oid.FriendlyName is "nistP256" or "ECDSA_P256"))
                throw new GrantKeyException($"a key in `{path}` is not on curve P-256 (ES256 needs P-256)");
            return key;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new GrantKeyException($"a key in `{path}` is not an EC private key in PEM form", ex);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    private static void Write(string path, List<(string Pem, DateTimeOffset? Created, DateTimeOffset? Retired)> entries, bool overwrite)
    {
        try
        {
            var dir = System.IO.Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(dir);
            var keys = new JsonArray();
            foreach (var (pem, created, retired) in entries)
            {
                keys.Add(new JsonObject
                {
                    ["created_at"] = created is { } c ? Engine.DecisionJson.Instant(c) : null,
                    ["retired_at"] = retired is { } r ? Engine.DecisionJson.Instant(r) : null,
                    ["private_key_pem"] = pem,
                });
            }
            var json = new JsonObject
            {
                ["note"] = "DeployGate grant signing keys (ES256). Secret: keep mode 0600. Rotate with `deploygate grants rotate-key`.",
                ["keys"] = keys,
            };
            var temp = System.IO.Path.Combine(dir, $".grant-keys.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            if (OperatingSystem.IsWindows())
            {
                File.WriteAllText(temp, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                // Created 0600 from the start, so the private keys are never readable by others, not even briefly.
                using var stream = new FileStream(temp, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
                stream.Write(Encoding.UTF8.GetBytes(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temp, path, overwrite);
            }
            catch (IOException) when (!overwrite)
            {
                File.Delete(temp); // another process created it first: use theirs
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new GrantKeyException($"cannot write grant key ring `{path}`: {ex.Message}", ex);
        }
    }
}
