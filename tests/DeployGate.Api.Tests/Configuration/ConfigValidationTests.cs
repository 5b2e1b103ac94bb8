using Microsoft.Extensions.Configuration;

namespace DeployGate.Api.Tests.Configuration;

/// <summary>Outside --dev, every configuration problem is listed at once, each with its code.</summary>
public sealed class ConfigValidationTests
{
    private static GateConfiguration Read(Dictionary<string, string?> values, bool dev = false) =>
        GateConfiguration.Read(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), dev);

    [Fact]
    public void Empty_ListsEveryRequiredKey()
    {
        var config = Read([]);
        var codes = config.Problems.Select(p => p.Code).ToHashSet();
        Assert.Contains(ServerCodes.AllowedOwnersMissing, codes);
        Assert.Contains(ServerCodes.PublicUrlInvalid, codes);
        Assert.Contains(ServerCodes.PolicyDirectoryInvalid, codes);   // ./policies does not exist here
    }

    [Fact]
    public void ManyProblems_AreAllReportedTogether()
    {
        var config = Read(new()
        {
            ["DeployGate:PublicUrl"] = "gate.example.com",
            ["DeployGate:Issuer"] = "http://token.example.com",
            ["DeployGate:AllowedOwners"] = "acme,not/an/owner",
            ["Policy:Source"] = "github",
            ["GitHub:ApiUrl"] = "http://api.github.example.com",
            ["Store:Provider"] = "mongodb",
            ["Grants:Ttl"] = "3h",
            ["Admin:Token"] = "short",
        });
        var codes = config.Problems.Select(p => p.Code).ToList();
        Assert.Equal(
            new[]
            {
                ServerCodes.PublicUrlInvalid, ServerCodes.IssuerInvalid, ServerCodes.AllowedOwnerInvalid, ServerCodes.GitHubApiUrlInvalid,
                ServerCodes.GitHubAppIdInvalid, ServerCodes.GitHubPrivateKeyInvalid, ServerCodes.StoreProviderInvalid,
                ServerCodes.GrantTtlInvalid, ServerCodes.AdminTokenWeak,
            }.Order(),
            codes.Order());
        Assert.All(config.Problems, p => Assert.Matches("^DG6\\d{3}: [A-Za-z]+:[A-Za-z]+: ", p.ToString()));
    }

    [Fact]
    public void Loopback_MayUsePlainHttp()
    {
        var config = Read(new()
        {
            ["DeployGate:PublicUrl"] = "https://gate.example.com",
            ["DeployGate:Issuer"] = "http://127.0.0.1:9000",
            ["DeployGate:AllowedOwners:0"] = "acme",
            ["Policy:Directory"] = Path.GetTempPath(),
            ["GitHub:ApiUrl"] = "http://localhost:9001",
        });
        Assert.Empty(config.Problems);
        Assert.Equal("https://gate.example.com", config.EffectiveAudience);
    }

    [Fact]
    public void GitHubSource_WithAReadableKey_IsValid()
    {
        var key = Path.GetTempFileName();
        using (var rsa = System.Security.Cryptography.RSA.Create(2048)) File.WriteAllText(key, rsa.ExportRSAPrivateKeyPem());
        var config = Read(new()
        {
            ["DeployGate:PublicUrl"] = "https://gate.example.com",
            ["DeployGate:AllowedOwners"] = "acme",
            ["Policy:Source"] = "github",
            ["GitHub:AppId"] = "12345",
            ["GitHub:PrivateKeyPath"] = key,
        });
        Assert.Empty(config.Problems);
        File.Delete(key);
    }

    [Fact]
    public void Dev_NeedsNoOwnersOrUrls()
    {
        Assert.Empty(Read([], dev: true).Problems);
    }

    [Fact]
    public void Build_RefusesToStart_WithTheProblems()
    {
        var build = GateServer.Build(new GateServerOptions
        {
            Time = new ManualClock(GateHost.Start),
            Settings = new Dictionary<string, string?> { ["Store:Provider"] = "mysql" },
            WorkingDirectory = Path.GetTempPath(),
        });
        Assert.Null(build.App);
        Assert.Contains(build.Problems, p => p.Code == ServerCodes.StoreProviderInvalid);
        Assert.Contains(build.Problems, p => p.Code == ServerCodes.AllowedOwnersMissing);
    }

    [Theory]
    [InlineData(null, "required for `Store:Provider` postgres")]
    [InlineData("Username=deploygate;Database=deploygate", "needs `Host=<server>`")]
    [InlineData("Host=db;Nonsense Keyword=1", "postgres connection string is invalid")]
    [InlineData("Host=db;Port=notaport;Password=hunter2", "postgres connection string is invalid")]
    public void Postgres_ConnectionStringProblems_AreListedWithoutSecrets(string? connectionString, string expected)
    {
        var settings = new Dictionary<string, string?> { ["Store:Provider"] = "postgres", ["Store:ConnectionString"] = connectionString };
        var problem = Assert.Single(Read(settings, dev: true).Problems);
        Assert.Equal(ServerCodes.StoreConnectionInvalid, problem.Code);
        Assert.Equal("Store:ConnectionString", problem.Key);
        Assert.Contains(expected, problem.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Postgres_WithHost_IsAccepted()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Store:Provider"] = "postgres",
            ["Store:ConnectionString"] = "Host=127.0.0.1;Port=5432;Username=deploygate;Password=x;Database=deploygate",
        };
        Assert.Empty(Read(settings, dev: true).Problems);
    }

    [Fact]
    public void Dev_RefusesNonLoopbackUrls()
    {
        var build = GateServer.Build(new GateServerOptions
        {
            Dev = true,
            Urls = "http://0.0.0.0:8080",
            Time = new ManualClock(GateHost.Start),
            WorkingDirectory = Path.GetTempPath(),
        });
        Assert.Null(build.App);
        Assert.Contains(build.Problems, p => p.Code == ServerCodes.DevNotLoopback);
    }

    [Theory]
    [InlineData(null, 60)]
    [InlineData("0s", 0)]
    [InlineData("15s", 15)]
    [InlineData("1h", 3600)]
    public void PolicyMaxAge_DefaultsToAMinute_AndTakesZeroToAnHour(string? text, int seconds)
    {
        var config = Read(new() { ["Policy:MaxAge"] = text }, dev: true);
        Assert.DoesNotContain(config.Problems, p => p.Code == ServerCodes.PolicyMaxAgeInvalid);
        Assert.Equal(TimeSpan.FromSeconds(seconds), config.Policy.MaxAge);
    }

    [Theory]
    [InlineData("61m")]
    [InlineData("-5s")]
    [InlineData("soon")]
    public void PolicyMaxAge_OutOfRange_IsDG6018(string text)
    {
        var config = Read(new() { ["Policy:MaxAge"] = text }, dev: true);
        var problem = Assert.Single(config.Problems, p => p.Code == ServerCodes.PolicyMaxAgeInvalid);
        Assert.Contains("Policy:MaxAge", problem.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5m", 300)]
    [InlineData("90s", 90)]
    [InlineData("1h", 3600)]
    [InlineData("00:10:00", 600)]
    public void Durations_Parse(string text, int seconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
    }
}
