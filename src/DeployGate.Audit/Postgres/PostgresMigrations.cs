using Npgsql;

namespace DeployGate.Audit.Postgres;

/// <summary>Versioned, idempotent schema migrations, applied at start-up by every instance. Each component
/// (<c>decision_log</c>, and later grants and review jobs) has an ordered list of steps; its version in
/// <c>schema_versions</c> is the number of steps applied. All of it runs in one transaction under a
/// transaction-scoped advisory lock, so instances starting at once apply each step exactly once (the others
/// wait, then find nothing to do), and a step that fails leaves nothing half-applied (DDL is transactional).</summary>
internal static class PostgresMigrations
{
    /// <summary>Advisory lock key held while migrating (ASCII <c>DGschema</c>).</summary>
    public const long LockKey = 0x4447_7363_6865_6d61;

    /// <summary>Applies the missing steps of <paramref name="component"/>.</summary>
    /// <exception cref="AuditStoreException"><c>DG5005</c> when the database is at a newer version than
    /// <paramref name="steps"/> knows.</exception>
    /// <exception cref="NpgsqlException">The database cannot be reached or a step fails.</exception>
    public static void Apply(NpgsqlDataSource dataSource, string component, IReadOnlyList<string> steps, string location)
    {
        using var connection = dataSource.OpenConnection();
        using var transaction = connection.BeginTransaction();
        Execute(connection, transaction, "SELECT pg_advisory_xact_lock(@key)", ("key", LockKey));
        // Checked first, so that a role without CREATE (a reader such as `audit verify`, or a writer after the
        // first start) passes once the schema exists: CREATE … IF NOT EXISTS would still need the privilege.
        using (var exists = new NpgsqlCommand("SELECT to_regclass('schema_versions') IS NOT NULL", connection, transaction))
        {
            if (exists.ExecuteScalar() is not true)
            {
                Execute(connection, transaction, """
                    CREATE TABLE schema_versions (
                        component text PRIMARY KEY,
                        version   integer NOT NULL
                    )
                    """);
            }
        }
        using var read = new NpgsqlCommand("SELECT version FROM schema_versions WHERE component = @component", connection, transaction);
        read.Parameters.AddWithValue("component", component);
        var current = read.ExecuteScalar() is int found ? found : 0;
        if (current > steps.Count)
        {
            throw new AuditStoreException(StoreCodes.UnsupportedSchema,
                $"store `{location}` has `{component}` schema version `{current}`; this build reads up to `{steps.Count}`");
        }
        for (var i = current; i < steps.Count; i++) Execute(connection, transaction, steps[i]);
        if (current < steps.Count)
        {
            Execute(connection, transaction, """
                INSERT INTO schema_versions (component, version) VALUES (@component, @version)
                ON CONFLICT (component) DO UPDATE SET version = excluded.version
                """, ("component", component), ("version", steps.Count));
        }
        transaction.Commit();
    }

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        command.ExecuteNonQuery();
    }
}
