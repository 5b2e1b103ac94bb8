using DeployGate.Engine;
using Microsoft.Extensions.DependencyInjection;

namespace DeployGate.Api;

internal sealed class GitHubPolicySource : IPolicySource
{
    public static void Register(IServiceCollection services, GateConfiguration config) =>
        services.AddSingleton<IPolicySource, GitHubPolicySource>();

    public ValueTask<PolicyLookup> GetAsync(string repository, DateTimeOffset now, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new PolicyLookup(null, new PolicyRef($"github:{repository}/.github/deploygate.yml", null), ServerCodes.PolicySourceUnavailable, "not implemented", true));

    public ValueTask<(bool Ok, string Detail)> CheckAsync(CancellationToken cancellationToken) => ValueTask.FromResult((false, "not implemented"));
}
