using Xunit.Abstractions;
using Xunit.Sdk;

namespace DeployGate.Audit.Tests.Shared;

/// <summary>The PostgreSQL server tests run against: <c>DEPLOYGATE_TEST_POSTGRES</c>, an Npgsql connection string
/// to a database the tests may create databases from (<c>tests/postgres.sh start</c> prints one; <c>.ci/run</c>
/// exports it). Unset: every test that needs it is reported skipped, by name, with <see cref="SkipReason"/>.</summary>
public static class PostgresServer
{
    public const string Variable = "DEPLOYGATE_TEST_POSTGRES";

    public const string SkipReason = "DEPLOYGATE_TEST_POSTGRES not set: run tests/postgres.sh start";

    public static string? ConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;
}

/// <summary>A <c>[Fact]</c> that is skipped (with <see cref="PostgresServer.SkipReason"/>) when no PostgreSQL server is configured.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PostgresServer.ConnectionString is null) Skip = PostgresServer.SkipReason;
    }
}

/// <summary>Marks a concrete contract class whose store is PostgreSQL: its <see cref="StoreFactAttribute"/> tests are
/// skipped by name when no server is configured, while the SQLite class runs the very same methods.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

/// <summary>A <c>[Fact]</c> of the shared store contract (declared once, in an abstract class, run by one concrete
/// class per provider). Skipped for classes marked <see cref="RequiresPostgresAttribute"/> without a server.</summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("DeployGate.Audit.Tests.Shared.StoreFactDiscoverer", "DeployGate.Audit.Tests")]
public sealed class StoreFactAttribute : FactAttribute;

public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        ArgumentNullException.ThrowIfNull(testMethod);
        var needsPostgres = testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute).AssemblyQualifiedName).Any();
        if (needsPostgres && PostgresServer.ConnectionString is null)
        {
            return [new XunitSkippedDataRowTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, PostgresServer.SkipReason)];
        }
        return base.Discover(discoveryOptions, testMethod, factAttribute);
    }
}
