namespace DeployGate.Audit.Tests.Shared;

/// <summary>The decision log contract on the embedded SQLite store.</summary>
public sealed class SqliteDecisionLogContract : DecisionLogContract
{
    protected override IStoreFixture CreateStore() => new SqliteStoreFixture();
}

/// <summary>The decision log contract on PostgreSQL (a fresh database per test); skipped by name without a server.</summary>
[RequiresPostgres]
public sealed class PostgresDecisionLogContract : DecisionLogContract
{
    protected override IStoreFixture CreateStore() => new PostgresStoreFixture();
}
