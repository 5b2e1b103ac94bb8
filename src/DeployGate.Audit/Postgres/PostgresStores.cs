using Npgsql;

namespace DeployGate.Audit.Postgres;

/// <summary>What the grant and review-job stores share: one pooled data source per store, migrations at
/// construction, and every driver failure turned into <see cref="AuditStoreException"/> <c>DG5001</c> (fail closed).</summary>
internal sealed class PostgresStore : IAsyncDisposable, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _what;

    public PostgresStore(string connectionString, string what, string component, IReadOnlyList<string> steps)
    {
        var builder = PostgresConnection.Parse(connectionString);
        Location = PostgresConnection.Describe(builder);
        _what = what;
        _dataSource = NpgsqlDataSource.Create(builder);
        try
        {
            PostgresMigrations.Apply(_dataSource, component, steps, Location);
        }
        catch (Exception ex) when (ex is not AuditStoreException)
        {
            _dataSource.Dispose();
            throw new AuditStoreException(StoreCodes.Unavailable, $"cannot open {what} `{Location}`: {PostgresConnection.OneLine(ex.Message)}", ex);
        }
        catch
        {
            _dataSource.Dispose();
            throw;
        }
    }

    public string Location { get; }

    /// <summary>Runs <paramref name="body"/> on a pooled connection (autocommit unless the body opens a transaction).</summary>
    public async Task<T> RunAsync<T>(string operation, Func<NpgsqlConnection, Task<T>> body, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            return await body(connection);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new AuditStoreException(StoreCodes.Unavailable,
                $"{_what} `{Location}` cannot {operation}: {PostgresConnection.OneLine(ex.Message)}", ex);
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    public void Dispose() => _dataSource.Dispose();
}
