using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace DeployGate.Api;

/// <summary>Every setting of the service, read from configuration once, with every problem found (SPEC §10).</summary>
public sealed partial class GateConfiguration
{
    public required GateOptions Gate { get; init; }
    public required PolicyOptions Policy { get; init; }
    public required GitHubOptions GitHub { get; init; }
    public required StoreOptions Store { get; init; }
    public required GrantsOptions Grants { get; init; }
    public required AdminOptions Admin { get; init; }

    /// <summary><c>serve --dev</c>: loopback, dev issuer, any owner.</summary>
    public bool Dev { get; init; }

    /// <summary>Problems found; start-up refuses to continue when there is any (outside <c>--dev</c>;
    /// <c>--dev</c> also stops on problems it cannot work around).</summary>
    public IReadOnlyList<ConfigProblem> Problems { get; init; } = [];

    /// <summary>The audience tokens must carry: <c>DeployGate:Audience</c>, else the public URL.</summary>
    public string? EffectiveAudience => string.IsNullOrWhiteSpace(Gate.Audience) ? Gate.PublicUrl : Gate.Audience;

    /// <summary>Reads and validates. <paramref name="dev"/> relaxes what <c>--dev</c> supplies itself
    /// (public URL, issuer, allowed owners).</summary>
    public static GateConfiguration Read(IConfiguration configuration, bool dev)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var problems = new List<ConfigProblem>();
        string? Get(string key) => configuration[key] is { } v && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

        var gate = new GateOptions
        {
            PublicUrl = Get("DeployGate:PublicUrl")?.TrimEnd('/'),
            Audience = configuration["DeployGate:Audience"],
            Issuer = (Get("DeployGate:Issuer") ?? GateOptions.DefaultIssuer),
            AllowedOwners = ReadList(configuration, "DeployGate:AllowedOwners"),
        };
        ReadDuration(configuration, "DeployGate:JwksRefreshInterval", TimeSpan.FromMinutes(1), TimeSpan.FromHours(24), v => gate.JwksRefreshInterval = v, problems, ServerCodes.IssuerInvalid);
        if (configuration["DeployGate:TokenCacheSize"] is { } cacheText && !string.IsNullOrWhiteSpace(cacheText))
        {
            if (int.TryParse(cacheText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size) && size <= GateOptions.MaxTokenCacheSize)
                gate.TokenCacheSize = size;
            else
                problems.Add(new(ServerCodes.IssuerInvalid, "DeployGate:TokenCacheSize", $"`{cacheText}` is not a whole number between 0 and {GateOptions.MaxTokenCacheSize}"));
        }
        ReadDuration(configuration, "DeployGate:JwksMinRefetchInterval", TimeSpan.Zero, TimeSpan.FromHours(1), v => gate.JwksMinRefetchInterval = v, problems, ServerCodes.IssuerInvalid);

        var policy = new PolicyOptions
        {
            Source = (Get("Policy:Source") ?? "directory").ToLowerInvariant(),
            Directory = Get("Policy:Directory") ?? "policies",
        };
        ReadDuration(configuration, "Policy:MaxAge", TimeSpan.Zero, TimeSpan.FromHours(1), v => policy.MaxAge = v, problems, ServerCodes.PolicyMaxAgeInvalid);
        var github = new GitHubOptions
        {
            ApiUrl = (Get("GitHub:ApiUrl") ?? "https://api.github.com").TrimEnd('/'),
            AppId = Get("GitHub:AppId"),
            PrivateKeyPath = Get("GitHub:PrivateKeyPath"),
            WebhookSecret = Get("GitHub:WebhookSecret"),
        };
        var store = new StoreOptions
        {
            Provider = (Get("Store:Provider") ?? "sqlite").ToLowerInvariant(),
            ConnectionString = Get("Store:ConnectionString") ?? StoreOptions.DefaultSqlitePath,
        };
        ReadDuration(configuration, "GitHub:ReviewLease", TimeSpan.FromSeconds(5), TimeSpan.FromHours(1), v => github.ReviewLease = v, problems, ServerCodes.ReviewLeaseInvalid);
        var grants = new GrantsOptions { SigningKeyPath = Get("Grants:SigningKeyPath") };
        ReadDuration(configuration, "Grants:Ttl", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), v => grants.Ttl = v, problems, ServerCodes.GrantTtlInvalid);
        var admin = new AdminOptions { Token = Get("Admin:Token") };

        if (!dev)
        {
            if (gate.AllowedOwners.Length == 0)
                problems.Add(new(ServerCodes.AllowedOwnersMissing, "DeployGate:AllowedOwners", "required: list the repository owners this gate serves"));
            if (gate.PublicUrl is null || !Uri.TryCreate(gate.PublicUrl, UriKind.Absolute, out var publicUri) || (publicUri.Scheme != Uri.UriSchemeHttps && publicUri.Scheme != Uri.UriSchemeHttp))
                problems.Add(new(ServerCodes.PublicUrlInvalid, "DeployGate:PublicUrl", gate.PublicUrl is null ? "required: the absolute URL callers use, e.g. `https://gate.example.com`" : $"`{gate.PublicUrl}` is not an absolute http(s) URL"));
            if (!IsSecureOrLoopback(gate.Issuer))
                problems.Add(new(ServerCodes.IssuerInvalid, "DeployGate:Issuer", $"`{gate.Issuer}` must be an absolute https:// URL (http only on a loopback address)"));
        }
        if (gate.Audience is not null && (string.IsNullOrWhiteSpace(gate.Audience) || gate.Audience.Any(char.IsWhiteSpace)))
            problems.Add(new(ServerCodes.AudienceInvalid, "DeployGate:Audience", "must be a non-empty value without whitespace"));
        foreach (var owner in gate.AllowedOwners)
        {
            if (owner != "*" && !OwnerName().IsMatch(owner))
                problems.Add(new(ServerCodes.AllowedOwnerInvalid, "DeployGate:AllowedOwners", $"`{owner}` is not a GitHub owner name"));
        }

        if (policy.Source is not ("directory" or "github"))
            problems.Add(new(ServerCodes.PolicySourceInvalid, "Policy:Source", $"`{policy.Source}` is not `directory` or `github`"));
        if (policy.Source == "directory" && !dev && !Directory.Exists(policy.Directory))
            problems.Add(new(ServerCodes.PolicyDirectoryInvalid, "Policy:Directory", $"folder `{policy.Directory}` does not exist"));
        // The webhook (SPEC §6) acts as the GitHub App whatever the policy source: it needs the App's credentials too.
        var asApp = policy.Source == "github" || github.WebhookSecret is not null;
        var needed = policy.Source == "github" ? "required for `Policy:Source` github" : "required by `GitHub:WebhookSecret` (the webhook acts as the App)";
        if (asApp || configuration["GitHub:ApiUrl"] is not null)
        {
            if (!IsSecureOrLoopback(github.ApiUrl))
                problems.Add(new(ServerCodes.GitHubApiUrlInvalid, "GitHub:ApiUrl", $"`{github.ApiUrl}` must be an absolute https:// URL (http only on a loopback address)"));
        }
        if (asApp)
        {
            if (github.AppId is null || !long.TryParse(github.AppId, out var appId) || appId <= 0)
            {
                // Client ids (Iv23…) are accepted as the JWT issuer too.
                if (github.AppId is null || !github.AppId.StartsWith("Iv", StringComparison.Ordinal))
                    problems.Add(new(ServerCodes.GitHubAppIdInvalid, "GitHub:AppId", github.AppId is null ? needed : $"`{github.AppId}` is not an App id"));
            }
            if (github.PrivateKeyPath is null)
                problems.Add(new(ServerCodes.GitHubPrivateKeyInvalid, "GitHub:PrivateKeyPath", needed));
            else if (!IsRsaPem(github.PrivateKeyPath, out var why))
                problems.Add(new(ServerCodes.GitHubPrivateKeyInvalid, "GitHub:PrivateKeyPath", why));
        }

        if (store.Provider is not ("sqlite" or "postgres"))
            problems.Add(new(ServerCodes.StoreProviderInvalid, "Store:Provider", $"`{store.Provider}` is not `sqlite` or `postgres`"));
        if (store.Provider == "postgres")
        {
            if (Get("Store:ConnectionString") is null)
                problems.Add(new(ServerCodes.StoreConnectionInvalid, "Store:ConnectionString", "required for `Store:Provider` postgres: an Npgsql connection string, e.g. `Host=db;Username=deploygate;Password=…;Database=deploygate`"));
            else
            {
                try
                {
                    Audit.Postgres.PostgresConnection.Parse(store.ConnectionString);
                }
                catch (Audit.AuditStoreException ex)
                {
                    problems.Add(new(ServerCodes.StoreConnectionInvalid, "Store:ConnectionString", ex.Message));
                }
            }
        }
        if (grants.SigningKeyPath is not null && !File.Exists(grants.SigningKeyPath))
            problems.Add(new(ServerCodes.GrantKeyMissing, "Grants:SigningKeyPath", $"file `{grants.SigningKeyPath}` does not exist"));
        if (admin.Token is not null && admin.Token.Length < 32)
            problems.Add(new(ServerCodes.AdminTokenWeak, "Admin:Token", "must be at least 32 characters"));

        return new GateConfiguration
        {
            Gate = gate, Policy = policy, GitHub = github, Store = store, Grants = grants, Admin = admin,
            Dev = dev, Problems = problems,
        };
    }

    /// <summary>A copy with more problems.</summary>
    public GateConfiguration WithProblems(IReadOnlyList<ConfigProblem> problems) => new()
    {
        Gate = Gate, Policy = Policy, GitHub = GitHub, Store = Store, Grants = Grants, Admin = Admin, Dev = Dev, Problems = problems,
    };

    public GateConfiguration WithProblem(ConfigProblem problem) => WithProblems([.. Problems, problem]);

    /// <summary>http(s) absolute URL; plain http only when the host is a loopback address or <c>localhost</c>.</summary>
    public static bool IsSecureOrLoopback(string? url)
    {
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri)) return false;
        if (uri.Scheme == Uri.UriSchemeHttps) return true;
        return uri.Scheme == Uri.UriSchemeHttp && IsLoopbackHost(uri.Host);
    }

    public static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
        (System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip));

    private static string[] ReadList(IConfiguration configuration, string key)
    {
        var section = configuration.GetSection(key);
        var items = section.GetChildren().Select(c => c.Value).Where(v => v is not null).Cast<string>().ToList();
        if (section.Value is { } single) items.AddRange(single.Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries));
        return [.. items.Select(s => s.Trim()).Where(s => s.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase)];
    }

    private static void ReadDuration(IConfiguration configuration, string key, TimeSpan min, TimeSpan max, Action<TimeSpan> set,
        List<ConfigProblem> problems, string code)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return;
        if (Durations.TryParse(text, out var value) && value >= min && value <= max) set(value);
        else problems.Add(new(code, key, $"`{text}` is not a duration between {min} and {max} (e.g. `10m`)"));
    }

    private static bool IsRsaPem(string path, out string why)
    {
        why = "";
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(File.ReadAllText(path));
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            why = $"cannot read `{path}`: {ex.Message}";
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            why = $"`{path}` is not an RSA private key in PEM form";
        }
        return false;
    }

    [GeneratedRegex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")]
    internal static partial Regex OwnerName();
}
