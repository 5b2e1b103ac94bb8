using System.Net;
using System.Text.Json;
using DeployGate.Audit.Jobs;
using DeployGate.Audit.Jobs.Sqlite;
using DeployGate.GitHub;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Webhooks;

/// <summary>Wiring of the deployment protection rule: services (only when <c>GitHub:WebhookSecret</c> is set) and
/// routes (always mapped; they answer "disabled" without a secret).</summary>
internal static partial class DeploymentProtection
{
    public const string WebhookRoute = "/api/github/webhook";

    /// <summary>The Azure Functions timer function's name (folder <c>functions/review-jobs/</c>): the custom handler
    /// receives each timer invocation as <c>POST /review-jobs</c>.</summary>
    public const string TimerFunction = "review-jobs";

    public static void AddDeploymentProtection(this IServiceCollection services, GateConfiguration config, Func<GateConfiguration, IReviewJobStore>? store)
    {
        services.AddSingleton<ReviewSignal>();
        services.AddSingleton<WebhookEndpoint>();
        if (config.GitHub.WebhookSecret is null) return;

        services.AddHttpClient(GitHubAppOptions.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        services.TryAddSingleton(sp => new GitHubAppClient(
            sp.GetRequiredService<IHttpClientFactory>(),
            new GitHubAppOptions(new Uri(config.GitHub.ApiUrl.TrimEnd('/') + "/"), config.GitHub.AppId!, File.ReadAllText(config.GitHub.PrivateKeyPath!)),
            sp.GetRequiredService<TimeProvider>()));
        // The job table lives in the audit log's SQLite file (Store:ConnectionString, resolved to a path).
        services.AddSingleton(_ => store?.Invoke(config) ?? new SqliteReviewJobStore(config.Store.ConnectionString));
        services.TryAddSingleton(new ReviewWorkerOptions { LeaseFor = config.GitHub.ReviewLease });
        services.AddSingleton<ReviewWorker>();
        services.AddHostedService<ReviewWorkerService>();
    }

    public static void MapDeploymentProtection(this IEndpointRouteBuilder app)
    {
        app.MapPost(WebhookRoute, (RequestDelegate)(ctx => ctx.RequestServices.GetRequiredService<WebhookEndpoint>().HandleAsync(ctx)));
        app.MapPost("/" + TimerFunction, (RequestDelegate)RunTimerAsync);
    }

    /// <summary>The Functions host's timer invocation: body <c>{"Data":{"timer":{…}},"Metadata":{…}}</c> (read
    /// leniently, only for logging), answered with the custom-handler response
    /// <c>{"Outputs":{},"Logs":[…],"ReturnValue":null}</c>. Runs due jobs once and returns. Only loopback callers
    /// (the Functions host runs beside the handler) are served: elsewhere the route is a 404.</summary>
    private static async Task RunTimerAsync(HttpContext context)
    {
        if (context.Connection.RemoteIpAddress is not { } remote || !IPAddress.IsLoopback(remote))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        var ct = context.RequestAborted;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DeploymentProtection));
        var pastDue = false;
        try
        {
            using var invocation = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: ct);
            pastDue = invocation.RootElement.ValueKind == JsonValueKind.Object &&
                invocation.RootElement.TryGetProperty("Data", out var data) && data.ValueKind == JsonValueKind.Object &&
                data.TryGetProperty("timer", out var timer) && timer.ValueKind == JsonValueKind.Object &&
                timer.TryGetProperty("IsPastDue", out var due) && due.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            // An empty or foreign body is fine: the invocation carries nothing the run needs.
        }

        string line;
        var worker = context.RequestServices.GetService<ReviewWorker>();
        if (worker is null) line = "review-jobs: the github webhook is disabled (no `GitHub:WebhookSecret`); nothing to do";
        else
        {
            var processed = await worker.RunDueAsync(ct);
            line = $"review-jobs: processed {processed} due job(s){(pastDue ? " (timer past due)" : "")}";
        }
        Log.TimerRan(logger, line);
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteStartObject("Outputs");
        writer.WriteEndObject();
        writer.WriteStartArray("Logs");
        writer.WriteStringValue(line);
        writer.WriteEndArray();
        writer.WriteNull("ReturnValue");
        writer.WriteEndObject();
        await writer.FlushAsync(ct);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4104, Level = LogLevel.Information, Message = "{Line}")]
        public static partial void TimerRan(ILogger logger, string line);
    }
}
