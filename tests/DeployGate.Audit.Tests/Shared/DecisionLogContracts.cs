namespace DeployGate.Audit.Tests.Shared;

/// <summary>The decision log contract on the embedded SQLite store.</summary>
public sealed class SqliteDecisionLogContract : DecisionLogContract
{
    protected override IStoreFixture CreateStore() => new SqliteStoreFixture();
}

/// <summary>The same on SQLite with every row copied into the query index file before each query, so the queries
/// read through its indexes (the class above reads rows not yet indexed).</summary>
public sealed class SqliteIndexedDecisionLogContract : DecisionLogContract
{
    protected override IStoreFixture CreateStore() => new SqliteStoreFixture(indexBeforeQuery: true);
}

/// <summary>The decision log contract on PostgreSQL (a fresh database per test); skipped by name without a server.</summary>
[RequiresPostgres]
public sealed class PostgresDecisionLogContract : DecisionLogContract
{
    protected override IStoreFixture CreateStore() => new PostgresStoreFixture();
}
