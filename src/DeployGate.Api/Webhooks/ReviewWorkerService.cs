using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DeployGate.Api.Webhooks;

/// <summary>Standalone driver of review jobs: runs due jobs at start (jobs survive restarts), then every
/// <see cref="ReviewWorkerOptions.PollInterval"/> or as soon as a delivery is queued.</summary>
internal sealed partial class ReviewWorkerService(ReviewWorker worker, ReviewSignal signal, ReviewWorkerOptions options, ILogger<ReviewWorkerService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Background) return;
        await Task.Yield();   // let start-up finish; the first run happens right after
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await worker.RunDueAsync(stoppingToken);
                await signal.WaitAsync(options.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.RunFailed(logger, ex);
                try
                {
                    await signal.WaitAsync(options.PollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "review worker: run failed; retrying at the next poll")]
        public static partial void RunFailed(ILogger logger, Exception exception);
    }
}
