using DeployGate.Api.Webhooks;
using DeployGate.Audit;
using DeployGate.Audit.Jobs;
using DeployGate.Audit.Postgres;
using DeployGate.Audit.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api;

/// <summary>How to build the service. The composition root (the CLI) supplies the clock and the store.</summary>
public sealed class GateServerOptions
{
    /// <summary><c>serve --dev</c>.</summary>
    public bool Dev { get; init; }

    /// <summary><c>--urls</c>; <c>FUNCTIONS_CUSTOMHANDLER_PORT</c> wins when set. Default <c>http://127.0.0.1:8080</c>.</summary>
    public string? Urls { get; init; }

    /// <summary>Command-line arguments handed to ASP.NET Core configuration (<c>--Key=value</c>).</summary>
    public string[] Args { get; init; } = [];

    /// <summary>The clock. Only the composition root names <c>TimeProvider.System</c>.</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>Opens the audit log for the validated configuration (for SQLite <c>Store:ConnectionString</c> is then an
    /// absolute file path). Default: <see cref="GateServer.OpenDecisionLog"/> with <see cref="Time"/>.</summary>
    public Func<GateConfiguration, IDecisionLog>? DecisionLog { get; init; }

    /// <summary>Opens the review job store (SPEC §6). Default: <see cref="DeployGate.Audit.Jobs.Sqlite.SqliteReviewJobStore"/>
    /// in the audit log's SQLite file.</summary>
    public Func<GateConfiguration, IReviewJobStore>? ReviewJobs { get; init; }

    /// <summary>Opens the grant store (redemptions, revocations). Default: <see cref="Audit.Grants.SqliteGrantStore"/>
    /// in the audit log's SQLite file.</summary>
    public Func<GateConfiguration, Audit.Grants.IGrantStore>? GrantStore { get; init; }

    /// <summary>Extra settings layered over every other source (tests).</summary>
    public IEnumerable<KeyValuePair<string, string?>>? Settings { get; init; }

    /// <summary>Last-word service registrations (tests: log capture, fakes).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    /// <summary>Folder that relative paths (<c>./policies</c>, <c>./.deploygate/</c>, appsettings.json) are
    /// resolved against. Default: the current directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Where the <c>--dev</c> banner goes. Default: standard output.</summary>
    public TextWriter? Out { get; init; }
}

/// <summary>A built (not yet started) service, or the configuration problems that stop it.</summary>
public sealed record GateServerBuild(WebApplication? App, GateConfiguration Configuration)
{
    public IReadOnlyList<ConfigProblem> Problems => Configuration.Problems;
}

/// <summary>Hosting wiring for <c>deploygate serve</c>, also used as the Azure Functions custom handler.</summary>
public static class GateServer
{
    /// <summary>Routes of the API, as <c>(method, pattern)</c> (see <c>functions/*/function.json</c>).</summary>
    public const string AuthorizeRoute = "/api/v1/authorize";
    public const string DecisionsRoute = "/api/v1/decisions";
    public const string HealthRoute = "/api/healthz";
    public const string WebhookRoute = DeploymentProtection.WebhookRoute;
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>The settings <c>--dev</c> imposes: policies from <c>./policies</c>, SQLite under
    /// <c>./.deploygate/</c>, any owner.</summary>
    public static readonly IReadOnlyDictionary<string, string?> DevSettings = new Dictionary<string, string?>
    {
        ["Policy:Source"] = "directory",
        ["Policy:Directory"] = "policies",
        ["Store:Provider"] = "sqlite",
        ["Store:ConnectionString"] = StoreOptions.DefaultSqlitePath,
        ["DeployGate:AllowedOwners"] = "*",
    };

    /// <summary>The configuration <c>serve</c> reads — <c>appsettings.json</c> in the working directory,
    /// environment variables (<c>DeployGate__PublicUrl</c>), <c>--Key=value</c> arguments, then the
    /// <c>--dev</c> settings — for commands that touch the store (<c>audit …</c>).</summary>
    public static GateConfiguration ReadConfiguration(string[] args, bool dev, string? workingDirectory = null)
    {
        var dir = Path.GetFullPath(workingDirectory ?? Directory.GetCurrentDirectory());
        var builder = new ConfigurationBuilder()
            .SetBasePath(dir)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args);
        if (dev) builder.AddInMemoryCollection(DevSettings);
        return Resolve(GateConfiguration.Read(builder.Build(), dev), dir);
    }

    public static GateServerBuild Build(GateServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dir = Path.GetFullPath(options.WorkingDirectory ?? Directory.GetCurrentDirectory());
        // No appsettings reload: configuration is validated once at start (a reloaded value would not apply), and the
        // reload watcher covers the whole content root, so every audit write in ./.deploygate woke its thread.
        // Later arguments win, so `--hostBuilder:reloadConfigOnChange=true` still turns it back on.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false", .. options.Args],
            ContentRootPath = dir,
        });
        if (options.Settings is not null) builder.Configuration.AddInMemoryCollection(options.Settings);
        if (options.Dev) builder.Configuration.AddInMemoryCollection(DevSettings);

        var config = Resolve(GateConfiguration.Read(builder.Configuration, options.Dev), dir);
        var urls = ResolveUrls(builder.Configuration, options);
        var problems = config.Problems.ToList();
        if (options.Dev)
        {
            foreach (var url in urls)
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !GateConfiguration.IsLoopbackHost(uri.Host))
                    problems.Add(new(ServerCodes.DevNotLoopback, "--urls", $"`{url}`: --dev listens on loopback only (127.0.0.1, [::1] or localhost)"));
            }
        }
        config = config.WithProblems(problems);
        if (problems.Count > 0) return new GateServerBuild(null, config);

        builder.WebHost.UseUrls([.. urls]);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 1024 * 1024;
        });

        // Request-level framework logs are noise at Information; decisions are logged by DeployGate itself.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Off altogether: while this category logs at any level, hosting starts an Activity and a logging scope for every
        // request (~5 % of the bytes an authorize request allocated, and a non-default ExecutionContext that every await
        // then carries). It only logs request start and end, and a startup failure, which the host also throws.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        if (options.Dev) Directory.CreateDirectory(config.Policy.Directory);

        var services = builder.Services;
        services.AddSingleton(options.Time);
        services.AddSingleton(config);
        if (GrantServices.Register(services, config, dir, options.Time, options.GrantStore ?? (c => OpenGrantStore(c.Store))) is { Count: > 0 } grantProblems)
            return new GateServerBuild(null, config.WithProblems([.. problems, .. grantProblems]));
        IDecisionLog log;
        try
        {
            log = options.DecisionLog is { } open ? open(config) : OpenDecisionLog(config.Store, options.Time);
        }
        catch (AuditStoreException ex)
        {
            return new GateServerBuild(null, config.WithProblem(new(ex.Code, "Store:ConnectionString", ex.Message)));
        }
        services.AddSingleton(_ => log); // factory-registered, so the container disposes it at shutdown
        services.AddHttpClient(JwksSigningKeyProvider.HttpClientName, c =>
        {
            c.Timeout = TimeSpan.FromSeconds(10);
            c.DefaultRequestHeaders.UserAgent.ParseAdd("DeployGate/1.0");
        });

        DevIssuer? devIssuer = null;
        IssuerTrust trust;
        if (options.Dev)
        {
            devIssuer = DevIssuer.LoadOrCreate(Path.Combine(dir, DevIssuer.DefaultPath));
            services.AddSingleton(devIssuer);
            services.AddSingleton<ISigningKeyProvider>(new DevSigningKeyProvider(devIssuer));
            var first = urls[0].TrimEnd('/');
            trust = new IssuerTrust(DevIssuer.IssuerFor(first), first, allowedOwners: null);
        }
        else
        {
            services.AddSingleton<JwksSigningKeyProvider>();
            services.AddSingleton<ISigningKeyProvider>(sp => sp.GetRequiredService<JwksSigningKeyProvider>());
            services.AddHostedService(sp => sp.GetRequiredService<JwksSigningKeyProvider>());
            trust = new IssuerTrust(config.Gate.Issuer.TrimEnd('/'), config.EffectiveAudience, config.Gate.AllowedOwners);
        }
        services.AddSingleton(trust);
        services.AddSingleton(sp => new OidcTokenValidator(sp.GetRequiredService<ISigningKeyProvider>(), trust, config.Gate.TokenCacheSize));
        services.AddSingleton<AuthorizeHandler>();
        if (config.Policy.Source == "github")
            GitHubPolicySource.Register(services, config);
        else
            services.AddSingleton<IPolicySource>(sp => new DirectoryPolicySource(config.Policy.Directory, sp.GetRequiredService<ILogger<DirectoryPolicySource>>()));
        services.AddDeploymentProtection(config, options.ReviewJobs ?? (c => OpenReviewJobStore(c.Store)));
        options.ConfigureServices?.Invoke(services);

        var app = builder.Build();
        MapEndpoints(app, devIssuer, trust);

        if (options.Dev)
        {
            var output = options.Out ?? Console.Out;
            app.Lifetime.ApplicationStarted.Register(() =>
            {
                var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
                var publicUrl = (bound ?? urls[0]).TrimEnd('/');
                trust.BindDev(publicUrl);
                WriteBanner(output, publicUrl, config, dir);
            });
        }
        return new GateServerBuild(app, config);
    }

    /// <summary>The audit log <c>Store:*</c> names: <see cref="SqliteDecisionLog"/> or <see cref="PostgresDecisionLog"/>
    /// (which applies its migrations now). Both are <see cref="IAsyncDisposable"/>.</summary>
    /// <exception cref="AuditStoreException">The store cannot be opened (its code says why).</exception>
    public static IDecisionLog OpenDecisionLog(StoreOptions store, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Provider == "postgres"
            ? new PostgresDecisionLog(store.ConnectionString, time)
            : new SqliteDecisionLog(store.ConnectionString, time);
    }

    /// <summary>The grant store <c>Store:*</c> names: in the audit log's SQLite file, or the PostgreSQL database.</summary>
    /// <exception cref="AuditStoreException">The store cannot be opened.</exception>
    public static Audit.Grants.IGrantStore OpenGrantStore(StoreOptions store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Provider == "postgres"
            ? new PostgresGrantStore(store.ConnectionString)
            : new Audit.Grants.SqliteGrantStore(store.ConnectionString);
    }

    /// <summary>The review job store <c>Store:*</c> names: in the audit log's SQLite file, or the PostgreSQL database.</summary>
    /// <exception cref="AuditStoreException">The store cannot be opened.</exception>
    public static IReviewJobStore OpenReviewJobStore(StoreOptions store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Provider == "postgres"
            ? new PostgresReviewJobStore(store.ConnectionString)
            : new Audit.Jobs.Sqlite.SqliteReviewJobStore(store.ConnectionString);
    }

    /// <summary>Where the store is, for humans: the SQLite file path or <c>postgres://host:port/database</c> (no credentials).</summary>
    public static string DescribeStore(StoreOptions store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Provider == "postgres"
            ? PostgresConnection.Describe(PostgresConnection.Parse(store.ConnectionString))
            : store.ConnectionString;
    }

    internal static void MapEndpoints(IEndpointRouteBuilder app, DevIssuer? devIssuer, IssuerTrust trust)
    {
        app.MapPost(AuthorizeRoute, (RequestDelegate)(ctx => ctx.RequestServices.GetRequiredService<AuthorizeHandler>().HandleAsync(ctx)));
        app.MapGet(DecisionsRoute, (RequestDelegate)(ctx => AdminEndpoints.DecisionsAsync(ctx,
            ctx.RequestServices.GetRequiredService<IDecisionLog>(), ctx.RequestServices.GetRequiredService<GateConfiguration>())));
        GrantServices.Map(app);
        app.MapGet(HealthRoute, (RequestDelegate)(ctx => AdminEndpoints.HealthAsync(ctx,
            ctx.RequestServices.GetRequiredService<IDecisionLog>(), ctx.RequestServices.GetRequiredService<IPolicySource>())));
        app.MapDeploymentProtection();
        if (devIssuer is not null)
        {
            app.MapGet(DevIssuer.IssuerPath + "/.well-known/openid-configuration", (RequestDelegate)(ctx =>
            {
                ctx.Response.ContentType = "application/json";
                return ctx.Response.WriteAsync(DevIssuer.OpenIdConfigurationJson(trust.Issuer));
            }));
            app.MapGet(DevIssuer.IssuerPath + "/.well-known/jwks", (RequestDelegate)(ctx =>
            {
                ctx.Response.ContentType = "application/json";
                return ctx.Response.WriteAsync(devIssuer.JwksJson());
            }));
        }
    }

    /// <summary><c>FUNCTIONS_CUSTOMHANDLER_PORT</c> (Azure Functions: 127.0.0.1 on that port), else
    /// <c>--urls</c>, else <c>urls</c>/<c>ASPNETCORE_URLS</c>, else <see cref="DefaultUrl"/>.</summary>
    internal static List<string> ResolveUrls(IConfiguration configuration, GateServerOptions options)
    {
        var port = configuration["FUNCTIONS_CUSTOMHANDLER_PORT"] ?? Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT");
        if (!string.IsNullOrWhiteSpace(port)) return [$"http://127.0.0.1:{port.Trim()}"];
        var text = options.Urls ?? configuration["urls"] ?? DefaultUrl;
        return [.. text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }

    private static GateConfiguration Resolve(GateConfiguration config, string dir)
    {
        config.Policy.Directory = Path.GetFullPath(config.Policy.Directory, dir);
        if (config.GitHub.PrivateKeyPath is { } key) config.GitHub.PrivateKeyPath = Path.GetFullPath(key, dir);
        if (config.Store.Provider != "sqlite") return config;
        string dbPath;
        try
        {
            dbPath = Path.GetFullPath(SqliteDecisionLog.ResolvePath(config.Store.ConnectionString), dir);
        }
        catch (AuditStoreException ex)
        {
            return config.WithProblem(new(ServerCodes.StoreConnectionInvalid, "Store:ConnectionString", ex.Message));
        }
        config.Store.ConnectionString = dbPath;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(dbPath)!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return config.WithProblem(new(ServerCodes.StoreConnectionInvalid, "Store:ConnectionString", $"cannot create the folder of `{dbPath}`: {ex.Message}"));
        }
        return config;
    }

    private static void WriteBanner(TextWriter output, string publicUrl, GateConfiguration config, string dir)
    {
        var line = new string('=', 78);
        output.WriteLine(line);
        output.WriteLine("  DEPLOYGATE DEVELOPMENT MODE -- NOT FOR PRODUCTION");
        output.WriteLine("  Tokens are trusted ONLY from the local dev issuer; every repository owner is served.");
        output.WriteLine(line);
        output.WriteLine($"  listening   {publicUrl}   (loopback only)");
        output.WriteLine($"  issuer      {DevIssuer.IssuerFor(publicUrl)}");
        output.WriteLine($"  audience    {publicUrl}");
        output.WriteLine($"  policies    {Path.GetRelativePath(dir, config.Policy.Directory)}/<owner>/<repo>.yml");
        output.WriteLine($"  audit log   {Path.GetRelativePath(dir, config.Store.ConnectionString)}");
        output.WriteLine($"  mint token  deploygate token --dev --audience {publicUrl} --repository acme/web");
        output.WriteLine(line);
        output.Flush();
    }
}
