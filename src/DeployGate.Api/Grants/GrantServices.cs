using DeployGate.Audit;
using DeployGate.Audit.Grants;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace DeployGate.Api;

/// <summary>Wiring of grants into the service: the key ring, the store, the issuer and the four routes.</summary>
public static class GrantServices
{
    public const string JwksRoute = "/api/.well-known/jwks.json";
    public const string RedeemRoute = "/api/v1/grants/redeem";
    public const string IntrospectRoute = "/api/v1/grants/introspect";
    public const string RevokeRoute = "/api/v1/grants/revoke";

    /// <summary>Where the key ring lives when <c>Grants:SigningKeyPath</c> is not set: <c>grant-keys.json</c> in the
    /// data folder — the SQLite file's folder, or <c>./.deploygate/</c> for other stores.</summary>
    public static string DefaultKeyRingPath(GateConfiguration config, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(config);
        var folder = config.Store.Provider == "sqlite"
            ? Path.GetDirectoryName(Path.GetFullPath(config.Store.ConnectionString, workingDirectory))!
            : Path.Combine(workingDirectory, ".deploygate");
        return Path.Combine(folder, GrantKeyRing.DefaultFileName);
    }

    /// <summary>Opens the signing keys named by the configuration (PEM file, or the key ring, created when absent).</summary>
    /// <exception cref="GrantKeyException">The keys cannot be loaded or created.</exception>
    public static GrantKeyRing OpenKeys(GateConfiguration config, string workingDirectory, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Grants.SigningKeyPath is { } pem
            ? GrantKeyRing.LoadPem(Path.GetFullPath(pem, workingDirectory))
            : GrantKeyRing.LoadOrCreate(DefaultKeyRingPath(config, workingDirectory), now);
    }

    /// <summary>Registers grants; returns the configuration problems that stop start-up (none on success).</summary>
    internal static IReadOnlyList<ConfigProblem> Register(IServiceCollection services, GateConfiguration config, string workingDirectory,
        TimeProvider time, Func<GateConfiguration, IGrantStore>? openStore)
    {
        var problems = new List<ConfigProblem>();
        try
        {
            services.AddSingleton(OpenKeys(config, workingDirectory, time.GetUtcNow()));
        }
        catch (GrantKeyException ex)
        {
            problems.Add(new(ex.Code, "Grants:SigningKeyPath", ex.Message));
        }
        try
        {
            var store = openStore is not null ? openStore(config) : new SqliteGrantStore(config.Store.ConnectionString);
            services.AddSingleton(_ => store);   // factory-registered, so the container disposes it (if disposable) at shutdown
        }
        catch (AuditStoreException ex)
        {
            problems.Add(new(ex.Code, "Store:ConnectionString", ex.Message));
        }
        services.AddSingleton<GrantAuthority>();
        services.AddSingleton<GrantEndpoints>();
        return problems;
    }

    internal static void Map(IEndpointRouteBuilder app)
    {
        static GrantEndpoints Endpoints(HttpContext ctx) => ctx.RequestServices.GetRequiredService<GrantEndpoints>();
        app.MapGet(JwksRoute, (RequestDelegate)(ctx => Endpoints(ctx).JwksAsync(ctx)));
        app.MapPost(RedeemRoute, (RequestDelegate)(ctx => Endpoints(ctx).RedeemAsync(ctx)));
        app.MapPost(IntrospectRoute, (RequestDelegate)(ctx => Endpoints(ctx).IntrospectAsync(ctx)));
        app.MapPost(RevokeRoute, (RequestDelegate)(ctx => Endpoints(ctx).RevokeAsync(ctx)));
    }
}
